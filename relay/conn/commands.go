package conn

import (
	"context"
	"fmt"
	"time"

	"veil/crypto"
	"veil/relay/wire"
)

// Typed helpers for every command of spec/relay.md §7.2. Each returns a
// *wire.Error for an ERR reply, so callers branch with
// errors.Is(err, &wire.Error{Code: wire.CodeAuth}).

// New creates a mailbox owned by key (§7.2 NEW) and returns its recipient
// and sender IDs. password is empty unless the relay requires one.
func (c *Conn) New(ctx context.Context, key crypto.SignPrivate, password []byte) (rid, sid crypto.ID, err error) {
	f := wire.Frame{Type: wire.TypeNEW, CID: c.nextCID(), Key: key.Public(), Password: password}
	r, err := c.doSigned(ctx, &f, key)
	if err != nil {
		return rid, sid, err
	}
	if r.Type != wire.TypeIDS {
		return rid, sid, unexpected(r)
	}
	return r.ID, r.SenderID, nil
}

// SecureSender secures a mailbox with the hash of the sender capability (§7.2 SKEY).
func (c *Conn) SecureSender(ctx context.Context, sid crypto.ID, capability *[wire.CapSize]byte) error {
	return c.ok(ctx, &wire.Frame{Type: wire.TypeSKEY, ID: sid, Cap: crypto.Hash(capability[:])})
}

// Send sends body, which must be one of crypto.Buckets in size, to the
// mailbox with sender ID sid (§7.2 SEND). It returns once the relay has
// stored it durably.
func (c *Conn) Send(ctx context.Context, sid crypto.ID, capability *[wire.CapSize]byte, body []byte) error {
	return c.ok(ctx, &wire.Frame{Type: wire.TypeSEND, ID: sid, Cap: *capability, Body: body})
}

// SendAsync is Send without waiting: done gets nil once the relay has
// stored the message durably, or why not (Go).
func (c *Conn) SendAsync(sid crypto.ID, capability *[wire.CapSize]byte, body []byte, done func(error)) error {
	return c.Go(&wire.Frame{Type: wire.TypeSEND, ID: sid, Cap: *capability, Body: body}, false, okFunc(done))
}

// AckAsync is Ack without waiting (lazily, §5.3): done gets nil once the
// relay has deleted the message, or why not (Go).
func (c *Conn) AckAsync(rid crypto.ID, seq uint64, done func(error)) error {
	return c.Go(&wire.Frame{Type: wire.TypeACK, ID: rid, Seq: seq}, true, okFunc(done))
}

// okFunc adapts done to a reply that must be OK.
func okFunc(done func(error)) func(wire.Frame, error) {
	return func(r wire.Frame, err error) {
		if err == nil {
			err = expectOK(r)
		}
		done(err)
	}
}

// Subscribe makes this connection the mailbox's live subscriber (§7.2
// SUB); its messages then arrive on Pushes.
func (c *Conn) Subscribe(ctx context.Context, rid crypto.ID, key crypto.SignPrivate) error {
	f := wire.Frame{Type: wire.TypeSUB, CID: c.nextCID(), ID: rid}
	r, err := c.doSigned(ctx, &f, key)
	if err != nil {
		return err
	}
	return expectOK(r)
}

// AckNoWait queues an ACK of message seq (lazily, §5.3) and returns at
// once; the relay's reply is dropped. It is for a receiver that has
// stored the message before acknowledging it: a lost ACK only means the
// message comes again (§8.3), which the receiver discards. Waiting for
// each reply would hold every ACK for AckDelay in turn.
func (c *Conn) AckNoWait(rid crypto.ID, seq uint64) error {
	f := wire.Frame{Type: wire.TypeACK, CID: c.nextCID(), ID: rid, Seq: seq}
	item, err := wire.AppendFrame(nil, &f)
	if err != nil {
		return fmt.Errorf("conn: %w", err)
	}
	c.mu.Lock()
	c.unwaited[f.CID] = struct{}{}
	c.mu.Unlock()
	if err := c.out.push(item, true, c.done); err != nil {
		c.mu.Lock()
		delete(c.unwaited, f.CID)
		c.mu.Unlock()
		return c.errOr(err)
	}
	return nil
}

// Ack deletes message seq (§7.2 ACK); the connection must hold the subscription.
func (c *Conn) Ack(ctx context.Context, rid crypto.ID, seq uint64) error {
	// Lazily: the ACK waits up to AckDelay to share a block (§5.3).
	f := wire.Frame{Type: wire.TypeACK, CID: c.nextCID(), ID: rid, Seq: seq}
	item, err := wire.AppendFrame(nil, &f)
	if err != nil {
		return fmt.Errorf("conn: %w", err)
	}
	r, err := c.do(ctx, item, f.CID, true)
	if err != nil {
		return err
	}
	return expectOK(r)
}

// Delete deletes the mailbox and its messages (§7.2 DEL).
func (c *Conn) Delete(ctx context.Context, rid crypto.ID, key crypto.SignPrivate) error {
	f := wire.Frame{Type: wire.TypeDEL, CID: c.nextCID(), ID: rid}
	r, err := c.doSigned(ctx, &f, key)
	if err != nil {
		return err
	}
	return expectOK(r)
}

// Off stops delivery of the mailbox on this connection (§7.2 OFF).
func (c *Conn) Off(ctx context.Context, rid crypto.ID) error {
	return c.ok(ctx, &wire.Frame{Type: wire.TypeOFF, ID: rid})
}

// Take returns and deletes a one-time blob (§7.2 TAKE).
func (c *Conn) Take(ctx context.Context, id crypto.ID) ([]byte, error) {
	r, err := c.Do(ctx, &wire.Frame{Type: wire.TypeTAKE, ID: id})
	if err != nil {
		return nil, err
	}
	if r.Type != wire.TypeBLOB {
		return nil, unexpected(r)
	}
	return r.Body, nil
}

// NewLog creates a group log with the hashes of its write and read
// capabilities (§7.2 LNEW) and returns its ID.
func (c *Conn) NewLog(ctx context.Context, writeCap, readCap *[wire.CapSize]byte, ttl time.Duration, password []byte) (crypto.ID, error) {
	r, err := c.Do(ctx, &wire.Frame{Type: wire.TypeLNEW, Cap: crypto.Hash(writeCap[:]), ReadCap: crypto.Hash(readCap[:]),
		Seconds: seconds(ttl), Password: password})
	if err != nil {
		return crypto.ID{}, err
	}
	if r.Type != wire.TypeLID {
		return crypto.ID{}, unexpected(r)
	}
	return r.ID, nil
}

// Append adds an entry to a log (§7.2 LAPPEND) and returns its sequence number.
func (c *Conn) Append(ctx context.Context, id crypto.ID, writeCap *[wire.CapSize]byte, body []byte) (uint64, error) {
	r, err := c.Do(ctx, &wire.Frame{Type: wire.TypeLAPPEND, ID: id, Cap: *writeCap, Body: body})
	if err != nil {
		return 0, err
	}
	if r.Type != wire.TypeSEQ {
		return 0, unexpected(r)
	}
	return r.Seq, nil
}

// ReadLog returns up to limit entries after the cursor (§7.2 LREAD), in
// increasing seq. A reply that breaks §7.3 is an error wrapping
// ErrBadReply and no entry of it is returned: more than limit entries, an
// entry whose seq is not above after and above the entry before it (one
// that does not move the cursor, a repeat, one going backwards), or a body
// that is not one of the padding buckets (crypto.Buckets, §6). A relay that
// sends one is broken or lying.
func (c *Conn) ReadLog(ctx context.Context, id crypto.ID, readCap *[wire.CapSize]byte, after uint64, limit int) ([]wire.Entry, error) {
	if limit < 1 || limit > wire.MaxReadLimit {
		return nil, fmt.Errorf("conn: read limit must be 1-%d", wire.MaxReadLimit)
	}
	r, err := c.Do(ctx, &wire.Frame{Type: wire.TypeLREAD, ID: id, Cap: *readCap, Seq: after, Limit: uint16(limit)})
	if err != nil {
		return nil, err
	}
	if r.Type != wire.TypeENTRIES {
		return nil, unexpected(r)
	}
	if len(r.Entries) > limit {
		return nil, fmt.Errorf("%w: %d log entries for a read of at most %d", ErrBadReply, len(r.Entries), limit)
	}
	last := after
	for _, e := range r.Entries {
		if e.Seq <= last {
			return nil, fmt.Errorf("%w: log entry %d does not follow %d", ErrBadReply, e.Seq, last)
		}
		last = e.Seq
		if !wire.IsBucket(len(e.Body)) {
			return nil, fmt.Errorf("%w: log entry %d has a %d-byte body, not a padding bucket size", ErrBadReply, e.Seq, len(e.Body))
		}
	}
	return r.Entries, nil
}

// DeleteLog deletes a log (§7.2 LDEL).
func (c *Conn) DeleteLog(ctx context.Context, id crypto.ID, writeCap *[wire.CapSize]byte) error {
	return c.ok(ctx, &wire.Frame{Type: wire.TypeLDEL, ID: id, Cap: *writeCap})
}

// Ping round-trips one PING (§7.2).
func (c *Conn) Ping(ctx context.Context) error {
	return c.ok(ctx, &wire.Frame{Type: wire.TypePING})
}

func (c *Conn) ok(ctx context.Context, f *wire.Frame) error {
	r, err := c.Do(ctx, f)
	if err != nil {
		return err
	}
	return expectOK(r)
}

// doSigned signs f (whose CID is set) over the connection nonce and sends it.
func (c *Conn) doSigned(ctx context.Context, f *wire.Frame, key crypto.SignPrivate) (wire.Frame, error) {
	if err := wire.SignFrame(f, &c.nonce, key); err != nil {
		return wire.Frame{}, fmt.Errorf("conn: %w", err)
	}
	item, err := wire.AppendFrame(nil, f)
	if err != nil {
		return wire.Frame{}, fmt.Errorf("conn: %w", err)
	}
	return c.do(ctx, item, f.CID, false)
}

func expectOK(r wire.Frame) error {
	if r.Type != wire.TypeOK {
		return unexpected(r)
	}
	return nil
}

func unexpected(r wire.Frame) error {
	return fmt.Errorf("conn: unexpected reply %v", &r)
}

func seconds(d time.Duration) uint32 {
	s := d / time.Second
	if s < 0 {
		return 0
	}
	if s > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(s)
}
