package relay_test

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"veil/relay/conn"
)

// TestBusyThenIdleConnKeepsSmallStack: spec/relay.md §13 says an idle
// connection keeps Go's smallest stack (2 KiB). A connection whose last
// few commands came close together, and which then goes idle, must cost
// the same: its reader's wait is not known to be long in advance. The
// collector is held off for the measurement (a quiet relay collects only
// every two minutes), so a stack that only a collection would shrink
// shows. Each connection first makes the keyWaits waits that always move
// to a fresh goroutine, then more close together; what the relay holds
// afterwards, per connection, is compared with what it held before.
func TestBusyThenIdleConnKeepsSmallStack(t *testing.T) {
	if raceEnabled {
		t.Skip("stack sizes differ under the race detector")
	}
	const n = 200
	tr := startRelay(t)
	ctx := tctx(t)
	conns := make([]*conn.Conn, n)
	for i := range conns {
		c, err := conn.DialAddress(ctx, tr.addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
		for range 3 { // the first waits: the reader moves each time
			if err := c.Ping(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	stableGoroutines()
	runtime.GC()
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	for _, c := range conns {
		for range 8 { // waits shorter than keyIdle: the reader stays
			if err := c.Ping(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Every connection is idle again; a reader quiet for a second after
	// short waits moves to a fresh goroutine (spec/relay.md §13).
	var per float64
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		runtime.ReadMemStats(&ms1)
		if per = (float64(ms1.StackInuse) - float64(ms0.StackInuse)) / n; per <= 1024 {
			break
		}
	}
	t.Logf("%.0f B more stack per connection after a busy spell", per)
	if per > 1024 {
		t.Fatalf("an idle connection that was busy holds %.0f B more stack than one that was not (spec/relay.md §13: 2 KiB per idle connection)", per)
	}
}
