package relay_test

import (
	"sync"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/wire"
)

// testLog is a log with its capabilities.
type testLog struct {
	id          crypto.ID
	write, read [32]byte
}

func newLog(t testing.TB, c *conn.Conn) *testLog {
	t.Helper()
	l := &testLog{}
	if err := crypto.RandomBytes(nil, l.write[:]); err != nil {
		t.Fatal(err)
	}
	if err := crypto.RandomBytes(nil, l.read[:]); err != nil {
		t.Fatal(err)
	}
	id, err := c.NewLog(tctx(t), &l.write, &l.read, time.Hour, nil)
	if err != nil {
		t.Fatalf("LNEW: %v", err)
	}
	l.id = id
	return l
}

func (l *testLog) append(t testing.TB, c *conn.Conn) uint64 {
	t.Helper()
	seq, err := c.Append(tctx(t), l.id, &l.write, body(1024, 1))
	if err != nil {
		t.Fatalf("LAPPEND: %v", err)
	}
	return seq
}

// notes collects a subscription's notices.
type notes chan uint64

func (n notes) fn(seq uint64) {
	select {
	case n <- seq:
	default:
		panic("test: notices not read")
	}
}

func (n notes) next(t testing.TB) uint64 {
	t.Helper()
	select {
	case s := <-n:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no log notice within 10s")
	}
	return 0
}

func (n notes) none(t testing.TB) {
	t.Helper()
	select {
	case s := <-n:
		t.Fatalf("unexpected notice of entry %d", s)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestLogNotices (spec/relay.md §8.7): a notice at once for entries
// above the cursor, then one per append through another connection, none
// after LUNSUB; LSUB is authorised by the read capability.
func TestLogNotices(t *testing.T) {
	tr := startRelay(t)
	w, r := tr.dial(t), tr.dial(t)
	ctx := tctx(t)
	l := newLog(t, w)
	l.append(t, w)
	l.append(t, w)

	// Wrong capability, unknown log: AUTH.
	if err := r.SubscribeLog(ctx, l.id, &l.write, 0, func(uint64) {}); err == nil {
		t.Fatal("LSUB with the write capability accepted")
	} else {
		wantCode(t, err, wire.CodeAuth)
	}
	other := crypto.ID{1}
	wantCode(t, r.SubscribeLog(ctx, other, &l.read, 0, func(uint64) {}), wire.CodeAuth)

	// Nothing above the cursor: no notice until an append.
	n := make(notes, 16)
	if err := r.SubscribeLog(ctx, l.id, &l.read, 2, n.fn); err != nil {
		t.Fatalf("LSUB: %v", err)
	}
	n.none(t)
	if seq := l.append(t, w); n.next(t) != seq {
		t.Fatalf("notice is not of the appended entry %d", seq)
	}
	// Subscribing again changes nothing.
	if err := r.SubscribeLog(ctx, l.id, &l.read, 0, n.fn); err != nil {
		t.Fatalf("LSUB again: %v", err)
	}
	n.none(t)
	if err := r.UnsubscribeLog(ctx, l.id); err != nil {
		t.Fatalf("LUNSUB: %v", err)
	}
	l.append(t, w)
	n.none(t)
	if err := r.UnsubscribeLog(ctx, l.id); err != nil {
		t.Fatalf("LUNSUB without a subscription: %v", err)
	}

	// Entries above the cursor: one notice at once, of an entry above it.
	n2 := make(notes, 16)
	if err := r.SubscribeLog(ctx, l.id, &l.read, 1, n2.fn); err != nil {
		t.Fatalf("LSUB: %v", err)
	}
	if s := n2.next(t); s != 2 {
		t.Fatalf("first notice of entry %d, want 2 (the first above the cursor)", s)
	}
	n2.none(t)
	// The writer's own connection is notified too.
	n3 := make(notes, 16)
	if err := w.SubscribeLog(ctx, l.id, &l.read, 4, n3.fn); err != nil {
		t.Fatalf("LSUB: %v", err)
	}
	seq := l.append(t, w)
	if n2.next(t) != seq || n3.next(t) != seq {
		t.Fatal("an append not notified to both subscribers")
	}
	healthy(t, r)
	healthy(t, w)
}

// TestLogNoticesIncreaseUnderConcurrentAppends: appends racing through
// several connections give each subscriber strictly increasing numbers
// (conn ends the connection otherwise), ending with the last entry.
func TestLogNoticesIncreaseUnderConcurrentAppends(t *testing.T) {
	tr := startRelay(t)
	r := tr.dial(t)
	l := newLog(t, r)
	var mu sync.Mutex
	var got []uint64
	if err := r.SubscribeLog(tctx(t), l.id, &l.read, 0, func(s uint64) {
		mu.Lock()
		got = append(got, s)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		w := tr.dial(t)
		wg.Go(func() {
			for range 50 {
				l.append(t, w)
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		last := uint64(0)
		if len(got) > 0 {
			last = got[len(got)-1]
		}
		mu.Unlock()
		if last == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("last notice of entry %d, want 200", last)
		}
		time.Sleep(10 * time.Millisecond)
	}
	healthy(t, r)
}

// TestLogSubQuota: a connection holds at most MaxLogSubs log
// subscriptions; LUNSUB frees one (spec/relay.md §7.2, §11).
func TestLogSubQuota(t *testing.T) {
	tr := startRelay(t, func(c *relay.Config) { c.Limits.MaxLogSubs = 2 })
	c := tr.dial(t)
	ctx := tctx(t)
	var logs []*testLog
	for range 3 {
		logs = append(logs, newLog(t, c))
	}
	for _, l := range logs[:2] {
		if err := c.SubscribeLog(ctx, l.id, &l.read, 0, func(uint64) {}); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, c.SubscribeLog(ctx, logs[2].id, &logs[2].read, 0, func(uint64) {}), wire.CodeQuota)
	if err := c.UnsubscribeLog(ctx, logs[0].id); err != nil {
		t.Fatal(err)
	}
	if err := c.SubscribeLog(ctx, logs[2].id, &logs[2].read, 0, func(uint64) {}); err != nil {
		t.Fatalf("LSUB after LUNSUB: %v", err)
	}
	// Another connection has its own allowance.
	c2 := tr.dial(t)
	if err := c2.SubscribeLog(ctx, logs[0].id, &logs[0].read, 0, func(uint64) {}); err != nil {
		t.Fatal(err)
	}
}
