package relay

import (
	"context"
	"errors"
	"time"

	"veil/crypto"
	"veil/relay/store"
	"veil/relay/wire"
)

// command is one parsed command; its slices are owned by the command.
type command struct {
	f   wire.Frame
	raw []byte // the raw item, kept for signed commands (§7.4)
}

// day is the granularity of the times the relay stores (§9).
const day = 24 * time.Hour

// execute runs one command and queues its reply (spec/relay.md §7.2);
// the caller then writes it (writeQueued).
func (c *session) execute(cmd *command) {
	f := &cmd.f
	ctx := c.ctx
	var r wire.Frame
	var code wire.Code
	switch f.Type {
	case wire.TypeNEW:
		r, code = c.cmdNew(ctx, cmd)
	case wire.TypeSKEY:
		code = c.cmdSKey(ctx, f)
	case wire.TypeSEND:
		code = c.cmdSend(ctx, f)
	case wire.TypeSUB:
		code = c.cmdSub(ctx, cmd)
	case wire.TypeACK:
		code = c.cmdAck(ctx, f)
	case wire.TypeDEL:
		code = c.cmdDel(ctx, cmd)
	case wire.TypeOFF:
		code = c.cmdOff(f)
	case wire.TypePUT:
		code = c.cmdPut(ctx, f)
	case wire.TypeTAKE:
		r, code = c.cmdTake(ctx, f)
	case wire.TypeLNEW:
		r, code = c.cmdLogNew(ctx, f)
	case wire.TypeLAPPEND:
		r, code = c.cmdAppend(ctx, f)
	case wire.TypeLREAD:
		r, code = c.cmdRead(ctx, f)
	case wire.TypeLDEL:
		code = c.cmdLogDel(ctx, f)
	case wire.TypeLSUB:
		code = c.cmdLogSub(ctx, f)
	case wire.TypeLUNSUB:
		code = c.cmdLogUnsub(f)
	case wire.TypeFKEY:
		r, code = c.cmdFKey(ctx, f)
	case wire.TypeFWD:
		r, code = c.cmdFwd(ctx, f)
	case wire.TypeRFWD:
		r, code = c.cmdRFwd(ctx, f)
	case wire.TypeCPUT, wire.TypeCGET, wire.TypeCDEL, wire.TypeCROOM:
		r, code = c.cmdChunk(ctx, f)
	case wire.TypePING:
	default:
		code = wire.CodeUnknown
	}
	c.observe(f.Type, len(f.Body), f.ID, r.ID, r.SenderID)
	if code == okAlreadySent {
		return
	}
	// The reply is written by the command's goroutine (writeQueued).
	c.queueReply(c.answer(f, r, code))
}

// answer is the reply to command f: ERR with code when code is not 0,
// else r, OK when r has no type.
func (c *session) answer(f *wire.Frame, r wire.Frame, code wire.Code) wire.Frame {
	if code != 0 {
		c.s.metrics.errors.WithLabelValues(code.String()).Inc()
		return wire.Frame{Type: wire.TypeERR, CID: f.CID, Code: code}
	}
	if r.Type == 0 {
		r.Type = wire.TypeOK
	}
	r.CID = f.CID
	return r
}

// startSend runs SEND (§7.2) on a store that writes asynchronously
// (store.AsyncWriter): the checks of cmdSend here, on the reader, and
// the rest when the store has the body durably, on its writer. The
// caller holds a sem token, which finishAsync gives back.
func (c *session) startSend(cmd *command) {
	f := &cmd.f
	start := time.Now()
	c.observe(f.Type, len(f.Body), f.ID)
	mb, code := c.checkSend(c.ctx, f)
	if code != 0 {
		c.finishAsync(cmd, start, code)
		return
	}
	c.s.async.SendAsync(f.ID, f.Body, c.s.limits.MessageTTL, c.s.limits.MaxPending, func(seq uint64, err error) {
		c.finishAsync(cmd, start, c.sent(mb.RecipientID, seq, f.Body, err))
	})
}

// startAck runs ACK (§7.2) as startSend runs SEND.
func (c *session) startAck(cmd *command) {
	f := &cmd.f
	start := time.Now()
	c.observe(f.Type, len(f.Body), f.ID)
	sub := c.subscription(f.ID)
	if sub == nil {
		c.finishAsync(cmd, start, wire.CodeAuth)
		return
	}
	c.s.async.AckAsync(f.ID, f.Seq, func(err error) {
		c.finishAsync(cmd, start, c.acked(sub, f, err))
	})
}

// finishAsync ends a command of startSend or startAck: it tells the
// metrics, queues the reply, starting a writer when none
// runs, and gives the command's sem token back. It runs on the store's
// writer goroutine, so it never waits: while more than maxQueuedReplies
// are queued the token is left to the writer, which gives it back once
// the client has read enough (§11, as a command on a goroutine of its own
// keeps its token in handleItem).
func (c *session) finishAsync(cmd *command, start time.Time, code wire.Code) {
	f := &cmd.f
	c.s.metrics.observe(f.Type, time.Since(start))
	r := c.answer(f, wire.Frame{}, code)
	c.outMu.Lock()
	c.replyLocked(r)
	keep := c.writing && c.writeErr == nil && c.queued >= maxQueuedReplies
	if keep {
		c.held++
	}
	c.outMu.Unlock()
	if !keep {
		<-c.sem
	}
}

// storeCode maps a store error to an error code (§10); notFound is the
// code an unknown ID gets for this command.
func (c *session) storeCode(err error, notFound wire.Code) wire.Code {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, store.ErrNotFound):
		return notFound
	case errors.Is(err, store.ErrExists):
		return wire.CodeExists
	case errors.Is(err, store.ErrQuota):
		return wire.CodeQuota
	case errors.Is(err, store.ErrDiskQuota):
		return wire.CodeStorageFull
	case errors.Is(err, store.ErrAlreadySecured):
		return wire.CodeAlreadySecured
	case errors.Is(err, store.ErrClosed):
		return wire.CodeShutdown
	}
	// Store errors carry no IDs or bodies (store's contract); they are
	// the operator's business.
	c.s.log.Warn("relay: store error", "err", err)
	return wire.CodeInternal
}

func (c *session) passwordOK(pw []byte) bool {
	if len(c.s.password) == 0 {
		return true
	}
	return crypto.Equal(hashOf(pw), hashOf(c.s.password))
}

// putPasswordOK checks PUT's password (§7.2): without a relay password
// both forms pass and the field is ignored; with one, only the long form
// whose field holds the first wire.PutPasswordSize bytes of the chunk
// password, compared in constant time.
func (c *session) putPasswordOK(f *wire.Frame) bool {
	if len(c.s.password) == 0 {
		return true
	}
	want := c.s.chunkPW
	clear(want[wire.PutPasswordSize:])
	return f.PutHasPassword && crypto.Equal(f.Cap[:], want[:])
}

func hashOf(b []byte) []byte { h := crypto.Hash(b); return h[:] }

func (c *session) storageFull() bool { return c.s.store.Size() > c.s.limits.MaxStorage }

func (c *session) today() time.Time { return c.s.now().UTC().Truncate(day) }

// cmdNew: §7.2 NEW.
func (c *session) cmdNew(ctx context.Context, cmd *command) (wire.Frame, wire.Code) {
	f := &cmd.f
	if !c.passwordOK(f.Password) {
		return wire.Frame{}, wire.CodePassword
	}
	if !wire.VerifyItem(cmd.raw, &c.nonce, f.Key) {
		return wire.Frame{}, wire.CodeAuth
	}
	if code := c.admit(f.Type, 0); code != 0 {
		return wire.Frame{}, code
	}
	if c.storageFull() {
		return wire.Frame{}, wire.CodeStorageFull
	}
	now := c.today()
	for range 3 { // a collision of 192-bit random IDs means a broken RNG; do not loop forever
		rid, err := crypto.NewID(c.s.rand)
		if err != nil {
			return wire.Frame{}, wire.CodeInternal
		}
		sid, err := crypto.NewID(c.s.rand)
		if err != nil || sid == rid {
			return wire.Frame{}, wire.CodeInternal
		}
		err = c.s.store.CreateMailbox(ctx, store.Mailbox{RecipientID: rid, SenderID: sid, RecipientKey: f.Key, Created: now, LastActive: now})
		if errors.Is(err, store.ErrExists) {
			continue
		}
		if code := c.storeCode(err, wire.CodeInternal); code != 0 {
			return wire.Frame{}, code
		}
		return wire.Frame{Type: wire.TypeIDS, ID: rid, SenderID: sid}, 0
	}
	return wire.Frame{}, wire.CodeInternal
}

// cmdSKey: §7.2 SKEY.
func (c *session) cmdSKey(ctx context.Context, f *wire.Frame) wire.Code {
	return c.storeCode(c.s.store.Secure(ctx, f.ID, f.Cap[:]), wire.CodeAuth)
}

// cmdSend: §7.2 SEND, authorised by the capability hash (§7.5).
func (c *session) cmdSend(ctx context.Context, f *wire.Frame) wire.Code {
	mb, code := c.checkSend(ctx, f)
	if code != 0 {
		return code
	}
	seq, err := c.s.store.Send(ctx, f.ID, f.Body, c.s.limits.MessageTTL, c.s.limits.MaxPending)
	return c.sent(mb.RecipientID, seq, f.Body, err)
}

// checkSend makes SEND's checks before the store's write, and charges
// the body to the sender's budgets (§11); it returns the mailbox.
func (c *session) checkSend(ctx context.Context, f *wire.Frame) (store.Mailbox, wire.Code) {
	if !wire.IsBucket(len(f.Body)) { // §6
		return store.Mailbox{}, wire.CodeBadSize
	}
	mb, err := c.s.store.MailboxBySender(ctx, f.ID)
	if code := c.storeCode(err, wire.CodeAuth); code != 0 {
		return store.Mailbox{}, code
	}
	if len(mb.SenderKey) == 0 {
		return store.Mailbox{}, wire.CodeNotSecured
	}
	if !crypto.Equal(hashOf(f.Cap[:]), mb.SenderKey) {
		return store.Mailbox{}, wire.CodeAuth
	}
	if code := c.admit(f.Type, len(f.Body)); code != 0 {
		return store.Mailbox{}, code
	}
	if c.storageFull() {
		return store.Mailbox{}, wire.CodeStorageFull
	}
	return mb, 0
}

// sent finishes SEND once the store has answered: the message goes to
// the mailbox's subscriber on this node, if any (offerSent).
func (c *session) sent(rid crypto.ID, seq uint64, body []byte, err error) wire.Code {
	if code := c.storeCode(err, wire.CodeAuth); code != 0 {
		return code
	}
	c.s.metrics.sent.Inc()
	c.s.offerSent(rid, seq, body)
	return 0
}

// recipient checks a signed recipient command (§7.4).
func (c *session) recipient(ctx context.Context, cmd *command) wire.Code {
	mb, err := c.s.store.Mailbox(ctx, cmd.f.ID)
	if code := c.storeCode(err, wire.CodeAuth); code != 0 {
		return code
	}
	if !wire.VerifyItem(cmd.raw, &c.nonce, crypto.SignPublic(mb.RecipientKey)) {
		return wire.CodeAuth
	}
	return 0
}

// cmdDel: §7.2 DEL.
func (c *session) cmdDel(ctx context.Context, cmd *command) wire.Code {
	if code := c.recipient(ctx, cmd); code != 0 {
		return code
	}
	if code := c.storeCode(c.s.store.DeleteMailbox(ctx, cmd.f.ID), wire.CodeAuth); code != 0 {
		return code
	}
	c.s.endSubscriber(cmd.f.ID, nil)
	return 0
}

// cmdPut: §7.2 PUT.
func (c *session) cmdPut(ctx context.Context, f *wire.Frame) wire.Code {
	// A rest that is neither form (wire.ParseFrame) is BAD_SIZE whatever
	// the password: it cannot be told whether it carries one. A relay
	// older than the password field sees a long form's rest as a body
	// that is no bucket.
	if !wire.IsBucket(len(f.Body)) || (c.s.noPutPassword && f.PutHasPassword) {
		return wire.CodeBadSize
	}
	if !c.s.noPutPassword && !c.putPasswordOK(f) {
		return wire.CodePassword
	}
	life := time.Duration(f.Seconds) * time.Second
	if f.Seconds == 0 || life > c.s.limits.MaxBlobLife {
		return wire.CodeBadSize
	}
	if code := c.admit(f.Type, len(f.Body)); code != 0 {
		return code
	}
	if c.storageFull() {
		return wire.CodeStorageFull
	}
	return c.storeCode(c.s.store.PutBlob(ctx, f.ID, f.Body, c.s.now().Add(life)), wire.CodeInternal)
}

// cmdTake: §7.2 TAKE.
func (c *session) cmdTake(ctx context.Context, f *wire.Frame) (wire.Frame, wire.Code) {
	body, err := c.s.store.TakeBlob(ctx, f.ID)
	if code := c.storeCode(err, wire.CodeNotFound); code != 0 {
		return wire.Frame{}, code
	}
	return wire.Frame{Type: wire.TypeBLOB, Body: body}, 0
}

// cmdLogNew: §7.2 LNEW.
func (c *session) cmdLogNew(ctx context.Context, f *wire.Frame) (wire.Frame, wire.Code) {
	if !c.passwordOK(f.Password) {
		return wire.Frame{}, wire.CodePassword
	}
	ttl := time.Duration(f.Seconds) * time.Second
	if f.Seconds == 0 || ttl > c.s.limits.MaxLogTTL {
		return wire.Frame{}, wire.CodeBadSize
	}
	if code := c.admit(f.Type, 0); code != 0 {
		return wire.Frame{}, code
	}
	if c.storageFull() {
		return wire.Frame{}, wire.CodeStorageFull
	}
	for range 3 {
		id, err := crypto.NewID(c.s.rand)
		if err != nil {
			return wire.Frame{}, wire.CodeInternal
		}
		err = c.s.store.CreateLog(ctx, store.Log{ID: id, WriteCap: f.Cap, ReadCap: f.ReadCap, TTL: ttl, Created: c.today()})
		if errors.Is(err, store.ErrExists) {
			continue
		}
		if code := c.storeCode(err, wire.CodeInternal); code != 0 {
			return wire.Frame{}, code
		}
		return wire.Frame{Type: wire.TypeLID, ID: id}, 0
	}
	return wire.Frame{}, wire.CodeInternal
}

// logAuth checks a log capability (§7.5); write selects which.
func (c *session) logAuth(ctx context.Context, f *wire.Frame, write bool) wire.Code {
	l, err := c.s.store.LogInfo(ctx, f.ID)
	if code := c.storeCode(err, wire.CodeAuth); code != 0 {
		return code
	}
	want := l.ReadCap
	if write {
		want = l.WriteCap
	}
	if !crypto.Equal(hashOf(f.Cap[:]), want[:]) {
		return wire.CodeAuth
	}
	return 0
}

// cmdAppend: §7.2 LAPPEND.
func (c *session) cmdAppend(ctx context.Context, f *wire.Frame) (wire.Frame, wire.Code) {
	if !wire.IsBucket(len(f.Body)) {
		return wire.Frame{}, wire.CodeBadSize
	}
	if code := c.logAuth(ctx, f, true); code != 0 {
		return wire.Frame{}, code
	}
	if code := c.admit(f.Type, len(f.Body)); code != 0 {
		return wire.Frame{}, code
	}
	if c.storageFull() {
		return wire.Frame{}, wire.CodeStorageFull
	}
	seq, err := c.s.store.Append(ctx, f.ID, f.Body)
	if code := c.storeCode(err, wire.CodeAuth); code != 0 {
		return wire.Frame{}, code
	}
	c.s.noteAppended(f.ID, seq)
	return wire.Frame{Type: wire.TypeSEQ, Seq: seq}, 0
}

// cmdRead: §7.2 LREAD; the reply holds as many entries as fit one item.
func (c *session) cmdRead(ctx context.Context, f *wire.Frame) (wire.Frame, wire.Code) {
	if f.Limit == 0 || f.Limit > wire.MaxReadLimit {
		return wire.Frame{}, wire.CodeBadSize
	}
	if code := c.logAuth(ctx, f, false); code != 0 {
		return wire.Frame{}, code
	}
	es, err := c.s.store.ReadLog(ctx, f.ID, f.Seq, int(f.Limit))
	if code := c.storeCode(err, wire.CodeAuth); code != 0 {
		return wire.Frame{}, code
	}
	r := wire.Frame{Type: wire.TypeENTRIES}
	size := 5 + 2
	for _, e := range es {
		size += 8 + 2 + len(e.Body)
		if size > wire.MaxItemSize {
			break
		}
		r.Entries = append(r.Entries, wire.Entry{Seq: e.Seq, Body: e.Body})
	}
	return r, 0
}

// cmdLogDel: §7.2 LDEL.
func (c *session) cmdLogDel(ctx context.Context, f *wire.Frame) wire.Code {
	if code := c.logAuth(ctx, f, true); code != 0 {
		return code
	}
	return c.storeCode(c.s.store.DeleteLog(ctx, f.ID), wire.CodeAuth)
}
