package conn

import (
	"context"
	"fmt"

	"veil/crypto"
	"veil/relay/wire"
)

// logNotify is one log subscription as the client holds it.
type logNotify struct {
	last   uint64 // the LSUB's after, then the last LNOTE's number
	notify func(seq uint64)
}

// SubscribeLog subscribes this connection to the appends of log id
// (spec/relay.md §7.2 LSUB, §8.7): the relay then pushes a notice when
// the log holds an entry above after, and one for every later append.
// notify gets each notice's entry number on the connection's reader
// goroutine and must not block: a notice is a hint to read the log with
// ReadLog, which goes over this same connection, so hand it on (to a
// channel with a buffer of one, say) and read elsewhere. Notices of
// several appends may come as one.
//
// The subscription lasts until UnsubscribeLog or the end of the
// connection; it is not restored on a new one. Subscribing a log again
// replaces notify and keeps the first after. A notice that breaks §8.7
// (a cid other than 0, a number not above after and the previous
// notice's) ends the connection, as a malformed push does: the relay is
// broken or lying, and Err says so.
func (c *Conn) SubscribeLog(ctx context.Context, id crypto.ID, readCap *[wire.CapSize]byte, after uint64, notify func(seq uint64)) error {
	if notify == nil {
		panic("conn: SubscribeLog without a notify function")
	}
	c.logMu.Lock()
	old := c.logSubs[id]
	if old != nil {
		old.notify = notify
	} else {
		// Registered before LSUB goes out: the first notice may come
		// right behind the OK.
		c.logSubs[id] = &logNotify{last: after, notify: notify}
	}
	c.logMu.Unlock()
	err := c.ok(ctx, &wire.Frame{Type: wire.TypeLSUB, ID: id, Cap: *readCap, Seq: after})
	if err != nil && old == nil {
		c.logMu.Lock()
		delete(c.logSubs, id)
		c.logMu.Unlock()
	}
	return err
}

// UnsubscribeLog ends this connection's subscription to log id (§7.2
// LUNSUB). Notices for the log are ignored from now on.
func (c *Conn) UnsubscribeLog(ctx context.Context, id crypto.ID) error {
	c.logMu.Lock()
	delete(c.logSubs, id)
	c.logMu.Unlock()
	return c.ok(ctx, &wire.Frame{Type: wire.TypeLUNSUB, ID: id})
}

// logNote hands an LNOTE to its subscription's notify (reader goroutine);
// false when it broke §8.7 and the connection was ended.
func (c *Conn) logNote(f *wire.Frame) bool {
	if f.CID != 0 {
		c.fail(fmt.Errorf("conn: relay sent a log notice with correlation ID %d", f.CID))
		return false
	}
	c.logMu.Lock()
	s := c.logSubs[f.ID]
	if s == nil {
		c.logMu.Unlock()
		return true // unsubscribed meanwhile, or never: nothing to do
	}
	if f.Seq <= s.last {
		last := s.last
		c.logMu.Unlock()
		c.fail(fmt.Errorf("conn: relay sent a log notice of entry %d after %d", f.Seq, last))
		return false
	}
	s.last = f.Seq
	notify := s.notify
	c.logMu.Unlock()
	notify(f.Seq)
	return true
}
