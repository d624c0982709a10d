package relay_test

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"veil/relay"
	"veil/relay/conn"
)

// stableGoroutines returns the goroutine count once it has stayed the
// same for 50 ms (waiting at most 2 s).
func stableGoroutines() int {
	n := runtime.NumGoroutine()
	for range 40 {
		time.Sleep(50 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}

// settledGoroutines waits (boundedly) until the goroutine count is want
// and returns the last count seen.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 200 && n != want; i++ {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// TestIdleSubscriptionOwnsNoGoroutine checks what keeps idle connections
// cheap (spec/relay.md §13): a subscription with nothing to push owns no
// goroutine, before and after it has delivered, and delivery still works.
func TestIdleSubscriptionOwnsNoGoroutine(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	rc := tr.dial(t)
	sc := tr.dial(t)
	m := newMailbox(t, rc)
	healthy(t, rc)
	healthy(t, sc)
	base := stableGoroutines()

	if err := rc.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatal(err)
	}
	if n := settledGoroutines(base); n != base {
		t.Fatalf("an idle subscription left %d goroutines, want %d", n, base)
	}
	for i := range 3 {
		if err := sc.Send(ctx, m.sid, &m.cap, body(1024, byte(i))); err != nil {
			t.Fatal(err)
		}
		p := nextPush(t, rc)
		if p.Seq != uint64(i+1) || p.Body[0] != byte(i) {
			t.Fatalf("push %d: seq %d", i, p.Seq)
		}
		if err := rc.Ack(ctx, m.rid, p.Seq); err != nil {
			t.Fatal(err)
		}
	}
	if n := settledGoroutines(base); n != base {
		t.Fatalf("after delivery %d goroutines, want %d", n, base)
	}
}

// BenchmarkIdleSubscribedConn opens connections that each create and
// subscribe one mailbox, then reports what the relay holds for each
// while idle: goroutines (the client's two per connection, reader and
// writer, subtracted) and goroutine stack bytes (the client's included,
// so an upper bound). The relay's full resident cost per connection is
// measured by veil-load --idle against veil-relay (README).
func BenchmarkIdleSubscribedConn(b *testing.B) {
	const n = 200
	tr := startRelay(b, func(c *relay.Config) { c.Limits.MaxSubs = 1 })
	var goroutines, stack float64
	for b.Loop() {
		g0 := stableGoroutines()
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		ctx := tctx(b)
		conns := make([]*conn.Conn, n)
		for i := range conns {
			c, err := conn.DialAddress(ctx, tr.addr, &conn.Options{PushBuffer: 1})
			if err != nil {
				b.Fatal(err)
			}
			conns[i] = c
			m := newMailbox(b, c)
			if err := c.Subscribe(ctx, m.rid, m.key); err != nil {
				b.Fatal(err)
			}
		}
		g1 := stableGoroutines()
		runtime.ReadMemStats(&ms1)
		goroutines = float64(g1-g0)/n - 2
		stack = float64(ms1.StackInuse-ms0.StackInuse) / n
		for _, c := range conns {
			c.Close()
		}
	}
	b.ReportMetric(goroutines, "relay-goroutines/conn")
	b.ReportMetric(stack, "stack-B/conn")
}

// TestBusyReaderKeepsItsGoroutine: a connection whose commands come close
// together is read on one goroutine, which keeps the stack its commands
// grew; only a wait likely to be long (the first few, or after a long
// one) moves to a fresh goroutine (spec/relay.md §13). Each PING round
// trip may start the relay's writer for the reply, and nothing else.
func TestBusyReaderKeepsItsGoroutine(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	c := tr.dial(t)
	healthy(t, c)
	for range 10 { // past the first waits, which move on purpose
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	const trips = 300
	before := goroutinesCreated()
	for range trips {
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	per := float64(goroutinesCreated()-before) / trips
	// A reader that moved to a fresh goroutine for every wait would add
	// one more per trip: 2 or more.
	if per >= 1.5 {
		t.Fatalf("%.2f goroutines started per round trip, want at most about 1 (the reply's writer)", per)
	}
	t.Logf("%.2f goroutines started per round trip", per)
}

// goroutinesCreated is the number of goroutines the process has started.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
