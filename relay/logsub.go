package relay

import (
	"context"
	"sync"

	"veil/crypto"
	"veil/relay/store"
	"veil/relay/wire"
)

// logSub is one connection's subscription to the appends of a log
// (spec/relay.md §8.7). It owns no goroutine with a store of one node:
// an LAPPEND on this node notes it (Server.noteAppended). With a store
// shared by several nodes (store.LogNotifier) a watcher goroutine, owned
// by the session and counted in its wg, also waits for the store's
// notifications; it stops when done is closed (LUNSUB, the session's end)
// or the session's ctx ends.
type logSub struct {
	id   crypto.ID
	c    *session
	done chan struct{}
	once sync.Once

	mu     sync.Mutex // guards pushed and ended; held while an LNOTE is queued
	pushed uint64     // the highest number pushed, at first the LSUB's after
	ended  bool
}

// note queues LNOTE n unless the subscription ended or n is not above
// what it pushed: numbers strictly increase per subscription (§8.7). The
// reply is queued under mu, so two notes cannot be queued out of order.
func (ls *logSub) note(n uint64) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.ended || n <= ls.pushed {
		return
	}
	ls.pushed = n
	ls.c.reply(wire.Frame{Type: wire.TypeLNOTE, ID: ls.id, Seq: n})
	ls.c.s.metrics.logNotes.Inc()
}

// probe looks at the log itself and notes the first entry above what was
// pushed: after LSUB, and when the store could not say which entries were
// appended.
func (ls *logSub) probe(ctx context.Context) {
	ls.mu.Lock()
	after, ended := ls.pushed, ls.ended
	ls.mu.Unlock()
	if ended {
		return
	}
	es, err := ls.c.s.store.ReadLog(ctx, ls.id, after, 1)
	if err != nil || len(es) == 0 {
		return // a deleted log, or a store error: the client's slow poll covers it
	}
	ls.note(es[0].Seq)
}

// end stops the subscription: no LNOTE is queued after it returns.
func (ls *logSub) end() {
	ls.once.Do(func() {
		ls.mu.Lock()
		ls.ended = true
		ls.mu.Unlock()
		close(ls.done)
	})
}

// watch is the watcher goroutine of a subscription on a shared store.
func (ls *logSub) watch(notes <-chan uint64) {
	for {
		select {
		case n := <-notes:
			if n == 0 {
				ls.probe(ls.c.ctx)
			} else {
				ls.note(n)
			}
		case <-ls.done:
			return
		case <-ls.c.ctx.Done():
			return
		}
	}
}

// cmdLogSub: §7.2 LSUB, §8.7.
func (c *session) cmdLogSub(ctx context.Context, f *wire.Frame) wire.Code {
	if code := c.logAuth(ctx, f, false); code != 0 {
		return code
	}
	c.subMu.Lock()
	if _, ok := c.logSubs[f.ID]; ok { // changes nothing (§7.2)
		c.subMu.Unlock()
		return 0
	}
	if len(c.logSubs) >= c.s.limits.MaxLogSubs {
		c.subMu.Unlock()
		return wire.CodeQuota
	}
	if c.logSubs == nil {
		c.logSubs = map[crypto.ID]*logSub{}
	}
	ls := &logSub{id: f.ID, c: c, done: make(chan struct{}), pushed: f.Seq}
	c.logSubs[f.ID] = ls
	c.subMu.Unlock()
	c.s.addLogSub(ls)
	// The store's interest is in place before the probe, so an append
	// after the probe is not missed.
	var notes <-chan uint64
	stopNotes := func() {}
	if ln, ok := c.s.store.(store.LogNotifier); ok {
		notes, stopNotes = ln.NotifyLog(f.ID)
	}
	// OK goes before the first LNOTE.
	c.reply(wire.Frame{Type: wire.TypeOK, CID: f.CID})
	ls.probe(ctx)
	if notes != nil {
		c.wg.Add(1)
		go func() { // owned by the session: counted in wg, stops with done or c.ctx
			defer c.wg.Done()
			defer stopNotes()
			ls.watch(notes)
		}()
	}
	return okAlreadySent
}

// cmdLogUnsub: §7.2 LUNSUB; OK also without a subscription.
func (c *session) cmdLogUnsub(f *wire.Frame) wire.Code {
	c.subMu.Lock()
	ls := c.logSubs[f.ID]
	delete(c.logSubs, f.ID)
	c.subMu.Unlock()
	if ls != nil {
		c.s.removeLogSub(ls)
		ls.end()
	}
	return 0
}

// endLogSubs ends every log subscription of the session (it is ending).
func (c *session) endLogSubs() {
	c.subMu.Lock()
	subs := c.logSubs
	c.logSubs = nil
	c.subMu.Unlock()
	for _, ls := range subs {
		c.s.removeLogSub(ls)
		ls.end()
	}
}

func (s *Server) addLogSub(ls *logSub) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	set := s.logSubs[ls.id]
	if set == nil {
		set = map[*logSub]struct{}{}
		s.logSubs[ls.id] = set
	}
	set[ls] = struct{}{}
}

func (s *Server) removeLogSub(ls *logSub) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if set := s.logSubs[ls.id]; set != nil {
		delete(set, ls)
		if len(set) == 0 {
			delete(s.logSubs, ls.id)
		}
	}
}

// noteAppended notes entry n of log id to the log's subscribers on this
// node; other nodes learn of it through the store (store.LogNotifier).
func (s *Server) noteAppended(id crypto.ID, n uint64) {
	s.logMu.Lock()
	subs := make([]*logSub, 0, len(s.logSubs[id]))
	for ls := range s.logSubs[id] {
		subs = append(subs, ls)
	}
	s.logMu.Unlock()
	for _, ls := range subs {
		ls.note(n)
	}
}
