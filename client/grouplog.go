package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
	"veil/relay/conn"
	"veil/relay/wire"
)

// The group protocol over a relay's logs (spec/groups.md §6, §7): one
// member's live state of one group, and the operations that move it. This
// layer talks to one relay connection and keeps its state in memory; the
// engine persists it in the vault's group record and drives it from its
// command and receive paths.

// Group event types (spec/groups.md §7, §8).
const (
	EventGroupJoined  EventType = "group_joined"  // a member joined (From is the nickname)
	EventGroupLeft    EventType = "group_left"    // a member left
	EventGroupRemoved EventType = "group_removed" // a member was removed by By; From empty: we were
	EventGroupEpoch   EventType = "group_epoch"   // a new epoch started (Text is its number)
	EventGroupBurned  EventType = "group_burned"  // an admin burned the group; it is erased
	EventGroupPromote EventType = "group_promoted"
)

// Group tuning (not protocol).
const (
	defaultGroupLogTTL = 14 * 24 * time.Hour // spec/groups.md §6.1
	groupReadBatch     = 1000                // LREAD limit, spec/relay.md §7.2
	// groupPollReads bounds the LREADs of one poll: a relay that makes up
	// entries without end is read in bounded steps, each stored, rather
	// than for ever; the next sync goes on from the cursor.
	groupPollReads = 64
)

// groupLog is one epoch's log as a member follows it.
type groupLog struct {
	epoch  *ratchet.GroupEpoch
	roster *format.Roster
	id     crypto.ID
	cursor uint64                // the last seq processed
	conf   [crypto.HashSize]byte // the epoch's confirmation value (§6.4)
}

// groupState is one member's state of one group.
type groupState struct {
	rcfg ratchet.Config
	sign crypto.SignPrivate   // our per-group signing key
	seal crypto.DHPrivate     // our per-group X25519 sealing key
	kem  crypto.KEM768Private // our per-group ML-KEM-768 sealing key
	ttl  time.Duration

	cur  groupLog
	prev *groupLog // the previous epoch's log, drained after a commit (§7.2)
	asm  format.CommitAssembler

	// out holds sealed entries not yet appended, oldest first. With
	// deferUploads set (the engine), appends only queue here, so the
	// state that produced them is stored before anything is uploaded and
	// a crash re-sends instead of losing (a re-sent entry is a duplicate
	// its readers drop).
	out          []pendingAppend
	deferUploads bool

	// holds is the engine's log read back-off; nil holds nothing.
	holds *readHolds

	gone   bool                // removed, burned or left: erase the group
	leaves []crypto.SignPublic // admin: members who sent LEAVE
	secret *crypto.SymKey      // admin: the last committed epoch's secret, for a welcome
}

// newGroupKeys draws a member's per-group keys.
func newGroupKeys(rcfg ratchet.Config) (crypto.SignPrivate, crypto.DHPrivate, crypto.KEM768Private, error) {
	s, err := crypto.GenerateSign(rcfg.Rand)
	if err != nil {
		return s, crypto.DHPrivate{}, crypto.KEM768Private{}, err
	}
	d, err := crypto.GenerateDH(rcfg.Rand)
	if err != nil {
		return s, d, crypto.KEM768Private{}, err
	}
	q, err := crypto.GenerateKEM768(rcfg.Rand)
	return s, d, q, err
}

// createGroup makes a group with us as its only member and admin, and its
// first log on c's relay (spec/groups.md §3, §3.5, §6.1).
func createGroup(ctx context.Context, c *conn.Conn, rcfg ratchet.Config, nick string, settings format.Settings, ttl time.Duration) (*groupState, error) {
	if err := format.CheckGroupNick(nick); err != nil {
		return nil, err
	}
	sign, seal, kem, err := newGroupKeys(rcfg)
	if err != nil {
		return nil, err
	}
	g := &groupState{rcfg: rcfg, sign: sign, seal: seal, kem: kem, ttl: ttl}
	if g.ttl <= 0 {
		g.ttl = defaultGroupLogTTL
	}
	r := &format.Roster{Epoch: 1, Settings: settings,
		Members: []format.Member{{Sign: sign.Public(), Seal: seal.Public(), Kem: kem.Public(), Role: format.RoleAdmin, Nick: nick}}}
	if err := crypto.RandomBytes(rcfg.Rand, r.GroupID[:]); err != nil {
		return nil, err
	}
	if _, err := r.Marshal(); err != nil {
		return nil, err
	}
	secret, err := crypto.NewSymKey(rcfg.Rand)
	if err != nil {
		return nil, err
	}
	defer secret.Wipe()
	if err := g.enter(ctx, c, r, &secret, nil); err != nil {
		return nil, err
	}
	return g, nil
}

// enter makes epoch r.Epoch, derived from secret, the current one. With
// logID nil it creates the epoch's log on c's relay (we are the admin who
// commits it); otherwise it follows that log.
func (g *groupState) enter(ctx context.Context, c *conn.Conn, r *format.Roster, secret *crypto.SymKey, logID *crypto.ID) error {
	pubs := make([]crypto.SignPublic, len(r.Members))
	for i, m := range r.Members {
		pubs[i] = m.Sign
	}
	ep, err := ratchet.NewGroupEpoch(g.rcfg, secret, r.GroupID, r.Epoch, g.sign, pubs)
	if err != nil {
		return err
	}
	next := groupLog{epoch: ep, roster: r}
	if logID != nil {
		next.id = *logID
	} else {
		w, rc := ep.Caps()
		cctx, cancel := context.WithTimeout(ctx, commandTimeout)
		defer cancel()
		if next.id, err = c.NewLog(cctx, (*[wire.CapSize]byte)(&w), (*[wire.CapSize]byte)(&rc), g.ttl, nil); err != nil {
			return fmt.Errorf("client: creating the group log: %w", err)
		}
	}
	if g.cur.epoch != nil {
		old := g.cur
		g.prev = &old
	}
	g.cur = next
	return nil
}

// joinGroup enters a group from an admin's welcome.
func joinGroup(rcfg ratchet.Config, sign crypto.SignPrivate, seal crypto.DHPrivate, kem crypto.KEM768Private, w *format.GroupWelcome, ttl time.Duration) (*groupState, error) {
	r, err := format.ParseRoster(w.Roster)
	if err != nil {
		return nil, err
	}
	i := r.Index(sign.Public())
	if i < 0 || r.Members[i].Seal != seal.Public() || r.Members[i].Kem.Raw() != kem.Public().Raw() {
		return nil, errors.New("client: the group welcome does not list us")
	}
	g := &groupState{rcfg: rcfg, sign: sign, seal: seal, kem: kem, ttl: ttl}
	if g.ttl <= 0 {
		g.ttl = defaultGroupLogTTL
	}
	if err := g.enter(context.Background(), nil, r, &w.Secret, &w.LogID); err != nil {
		return nil, err
	}
	return g, nil
}

// self returns our roster entry in the current epoch.
func (g *groupState) self() *format.Member {
	i := g.cur.roster.Index(g.sign.Public())
	if i < 0 {
		return nil
	}
	return &g.cur.roster.Members[i]
}

func (g *groupState) isAdmin() bool {
	m := g.self()
	return m != nil && m.Role == format.RoleAdmin
}

// append encrypts env in the current epoch and appends it to the epoch's
// log: one upload whatever the group's size (spec/groups.md §6.2).
func (g *groupState) append(ctx context.Context, c *conn.Conn, env *format.GroupEnvelope) error {
	if g.gone {
		return errors.New("client: we are no longer in this group")
	}
	if g.cur.epoch == nil {
		return errors.New("client: not in the group yet: an admin's client has to let us in first")
	}
	pt, err := env.Marshal()
	if err != nil {
		return err
	}
	return g.appendTo(ctx, c, &g.cur, pt)
}

// pendingAppend is one sealed entry waiting to be appended to a log.
type pendingAppend struct {
	Log  []byte `json:"log"`
	Cap  []byte `json:"cap"` // the log's write capability (secret)
	Body []byte `json:"body"`
}

func (g *groupState) appendTo(ctx context.Context, c *conn.Conn, l *groupLog, pt []byte) error {
	m, err := l.epoch.Encrypt(pt)
	if err != nil {
		return err
	}
	w, _ := l.epoch.Caps()
	g.out = append(g.out, pendingAppend{Log: l.id[:], Cap: w[:], Body: m})
	if g.deferUploads {
		return nil
	}
	return g.flushOut(ctx, c)
}

// flushOut appends the queued entries in order, dropping each once the
// relay has it.
func (g *groupState) flushOut(ctx context.Context, c *conn.Conn) error {
	for len(g.out) > 0 {
		p := g.out[0]
		id, err := crypto.ParseID(p.Log)
		if err != nil || len(p.Cap) != wire.CapSize {
			g.out = g.out[1:]
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, commandTimeout)
		_, err = c.Append(cctx, id, (*[wire.CapSize]byte)(p.Cap), p.Body)
		cancel()
		if err != nil {
			return fmt.Errorf("client: appending to the group log: %w", err)
		}
		g.out = g.out[1:]
	}
	g.out = nil
	return nil
}

// commit makes a roster change (spec/groups.md §6.3, §7): a new epoch
// secret sealed to the new roster, a new log, and the signed commit sent
// in parts through the current epoch's log. We must be an admin who stays
// in the group.
func (g *groupState) commit(ctx context.Context, c *conn.Conn, change byte, operand []byte) error {
	if g.gone || !g.isAdmin() {
		return errors.New("client: only an admin can change the group")
	}
	old := g.cur
	cm, next, err := format.MakeCommit(old.roster, change, operand)
	if err != nil {
		return err
	}
	if next.Index(g.sign.Public()) < 0 {
		return errors.New("client: an admin leaves with group leave, not by committing")
	}
	secret, err := crypto.NewSymKey(g.rcfg.Rand)
	if err != nil {
		return err
	}
	seals := make([]ratchet.SealRecipient, len(next.Members))
	for i, m := range next.Members {
		seals[i] = ratchet.SealRecipient{DH: m.Seal, KEM: m.Kem}
	}
	if cm.Sealed, err = ratchet.SealEpochSecret(&secret, ratchet.EpochContext(next.GroupID, next.Epoch), seals, g.rcfg.Rand); err != nil {
		return err
	}
	if err := g.enter(ctx, c, next, &secret, nil); err != nil {
		secret.Wipe()
		return err
	}
	if cm.LogID, err = g.cur.epoch.SealLogID(g.cur.id); err != nil {
		return err
	}
	cm.Sign(g.sign, old.epoch.Context())
	var id [format.CommitIDSize]byte
	if err := crypto.RandomBytes(g.rcfg.Rand, id[:]); err != nil {
		return err
	}
	parts, err := format.SplitCommit(id, cm.Marshal())
	if err != nil {
		return err
	}
	for _, p := range parts {
		pt, err := p.Marshal()
		if err != nil {
			return err
		}
		if err := g.appendTo(ctx, c, &old, pt); err != nil {
			return err
		}
	}
	if g.secret != nil {
		g.secret.Wipe()
	}
	g.secret = &secret
	return nil
}

// add commits a new member and returns its welcome.
func (g *groupState) add(ctx context.Context, c *conn.Conn, m format.Member) (*format.GroupWelcome, error) {
	m.Role = format.RoleMember // whatever the join request said, spec/groups.md §9.2
	op, err := m.AppendTo(nil)
	if err != nil {
		return nil, err
	}
	if err := g.commit(ctx, c, format.ChangeAdd, op); err != nil {
		return nil, err
	}
	rb, err := g.cur.roster.Marshal()
	if err != nil {
		return nil, err
	}
	return &format.GroupWelcome{Roster: rb, Secret: *g.secret, LogID: g.cur.id}, nil
}

// memberIndex finds the member a user named, "nick" or "nick#suffix",
// in the current roster (spec/groups.md §14.2).
func (g *groupState) memberIndex(nick string) (int, error) {
	return resolveMember(g.cur.roster, nick)
}

// poll reads every log we follow from its cursor and applies what it
// finds (spec/groups.md §6.2, §7.2). It returns the events, in order. A
// reply the relay connection refuses (conn.ErrBadReply: entries that do
// not move past the cursor, and the like) ends the poll with an error,
// none of its entries applied, and holds that log's reads back (§6.2); a
// held log ends it with an error wrapping errLogHeld. One poll makes at
// most groupPollReads reads.
func (g *groupState) poll(ctx context.Context, c *conn.Conn) ([]Event, error) {
	var evs []Event
	for reads := 0; !g.gone; reads++ {
		if reads == groupPollReads {
			return evs, nil // the rest at the next sync
		}
		l := &g.cur
		draining := g.prev != nil
		if draining {
			l = g.prev
		}
		if err := g.holds.check(l.id); err != nil {
			return evs, err
		}
		_, rc := l.epoch.Caps()
		cctx, cancel := context.WithTimeout(ctx, commandTimeout)
		entries, err := c.ReadLog(cctx, l.id, (*[wire.CapSize]byte)(&rc), l.cursor, groupReadBatch)
		cancel()
		if errors.Is(err, conn.ErrBadReply) {
			if d := g.holds.refused(l.id); d > 0 {
				return evs, fmt.Errorf("client: reading the group log: %w (not read again for %s)", err, FormatDuration(d))
			}
			return evs, fmt.Errorf("client: reading the group log: %w", err)
		}
		if err != nil {
			return evs, fmt.Errorf("client: reading the group log: %w", err)
		}
		g.holds.ok(l.id)
		if len(entries) == 0 {
			if draining {
				g.prev = nil // drained: forget the old epoch
				continue
			}
			return evs, nil
		}
		for _, en := range entries {
			// The cursor moves first: a commit in handle replaces g.cur,
			// and the old log (kept for draining) must resume after it.
			l.cursor = en.Seq
			evs = append(evs, g.handle(l, en.Body, draining)...)
			if g.gone || (!draining && g.prev != nil) {
				break // a commit moved us: drain the old log from here
			}
		}
	}
	return evs, nil
}

// handle applies one log entry of log l. Entries of a log being drained
// count only from senders who are still members (§7.2).
func (g *groupState) handle(l *groupLog, body []byte, draining bool) []Event {
	pt, sender, err := l.epoch.Decrypt(body)
	switch {
	case errors.Is(err, ratchet.ErrOwnMessage), errors.Is(err, ratchet.ErrDuplicate):
		return nil
	case err != nil:
		return []Event{{Type: EventWarning, Err: "dropped a group message that does not authenticate"}}
	}
	si := l.roster.Index(sender)
	if si < 0 || (draining && g.cur.roster.Index(sender) < 0) {
		return nil
	}
	from := l.roster.Members[si]
	env, err := format.ParseGroupEnvelope(pt)
	if err != nil {
		return []Event{{Type: EventWarning, Err: "dropped a malformed group message"}}
	}
	switch env.Type {
	case format.GenvText:
		return []Event{{Type: EventMessage, From: SanitizeLine(from.Nick), Text: Sanitize(env.Text)}}
	case format.GenvLeave:
		if !draining && g.isAdmin() {
			g.leaves = append(g.leaves, sender)
		}
		return []Event{{Type: EventGroupLeft, From: SanitizeLine(from.Nick)}}
	case format.GenvBurn:
		if from.Role != format.RoleAdmin {
			return []Event{{Type: EventWarning, Err: "ignored a burn from a member who is not an admin"}}
		}
		g.gone = true
		return []Event{{Type: EventGroupBurned, From: SanitizeLine(from.Nick)}}
	case format.GenvCommit:
		if draining {
			return nil // the old epoch's commit was the one we already applied
		}
		if whole := g.asm.Add(env); whole != nil {
			return g.applyCommit(whole)
		}
	}
	return nil
}

// applyCommit verifies a whole commit read from the current log and moves
// to its epoch, or learns that we are no longer a member.
func (g *groupState) applyCommit(b []byte) []Event {
	cm, err := format.ParseCommit(b)
	if err != nil {
		return []Event{{Type: EventWarning, Err: "dropped a malformed group commit"}}
	}
	old := g.cur
	next, err := cm.Verify(old.roster, old.epoch.Context())
	if err != nil {
		// A losing concurrent commit or a stale one: ignored (§3.4).
		return nil
	}
	ev := commitEvent(cm, old.roster, next)
	i := next.Index(g.sign.Public())
	if i < 0 {
		g.gone = true
		return []Event{{Type: EventGroupRemoved}}
	}
	secret, err := ratchet.OpenEpochSecret(cm.Sealed, ratchet.EpochContext(next.GroupID, next.Epoch), i, g.seal, &g.kem)
	if err != nil {
		return []Event{{Type: EventWarning, Err: "a group commit holds no key for us"}}
	}
	defer secret.Wipe()
	pubs := make([]crypto.SignPublic, len(next.Members))
	for j, m := range next.Members {
		pubs[j] = m.Sign
	}
	ep, err := ratchet.NewGroupEpoch(g.rcfg, &secret, next.GroupID, next.Epoch, g.sign, pubs)
	if err != nil {
		return []Event{{Type: EventWarning, Err: err.Error()}}
	}
	logID, err := ep.OpenLogID(cm.LogID)
	if err != nil {
		return []Event{{Type: EventWarning, Err: "a group commit's log does not open"}}
	}
	prev := old
	g.prev = &prev
	g.cur = groupLog{epoch: ep, roster: next, id: logID}
	return append(ev, Event{Type: EventGroupEpoch, Text: fmt.Sprint(next.Epoch)})
}

// commitEvent describes a commit's change (spec/groups.md §14.3): a
// member left only by a leave change; a remove names the admin who signed
// it, as do an add and a promote. Names carry a key suffix where another
// member's nickname looks alike.
func commitEvent(cm *format.Commit, old, next *format.Roster) []Event {
	by := memberName(old, old.Index(cm.Signer))
	switch cm.Change {
	case format.ChangeAdd:
		return []Event{{Type: EventGroupJoined, From: memberName(next, len(next.Members)-1), By: by}}
	case format.ChangeRemove, format.ChangeLeave, format.ChangePromote:
		nick := memberName(old, format.OperandIndex(cm.Operand))
		switch cm.Change {
		case format.ChangeRemove:
			return []Event{{Type: EventGroupRemoved, From: nick, By: by}}
		case format.ChangeLeave:
			return []Event{{Type: EventGroupLeft, From: nick}}
		}
		return []Event{{Type: EventGroupPromote, From: nick, By: by}}
	}
	return nil
}

// processLeaves commits the LEAVEs an admin has read (spec/groups.md §7.3).
func (g *groupState) processLeaves(ctx context.Context, c *conn.Conn) error {
	for len(g.leaves) > 0 && !g.gone {
		i := g.cur.roster.Index(g.leaves[0])
		g.leaves = g.leaves[1:]
		if i < 0 {
			continue
		}
		if err := g.commit(ctx, c, format.ChangeLeave, format.IndexOperand(i)); err != nil {
			return err
		}
	}
	return nil
}
