package main

import (
	"context"
	"time"
)

// pacer spreads a run's messages evenly in time over all connections:
// message k of connection i (of n) is due at start + (k·n + i)/rate, so
// the connections take turns. Independent per-connection rate limiters
// started at the same instant (what veil-load used before) fire
// together: bursts of n messages every n/rate seconds, which queue
// behind each other in the relay and inflate the latency a steady load
// would see.
type pacer struct {
	start    time.Time
	interval float64 // nanoseconds between messages over all connections; 0: no pacing
	n        int64
}

func newPacer(start time.Time, rate float64, n int) pacer {
	p := pacer{start: start, n: int64(n)}
	if rate > 0 {
		p.interval = float64(time.Second) / rate
	}
	return p
}

// due is when message k of connection i is due.
func (p pacer) due(i int, k int64) time.Time {
	return p.start.Add(time.Duration(float64(k*p.n+int64(i)) * p.interval))
}

// wait blocks until message k of connection i is due; false when ctx
// ends first.
func (p pacer) wait(ctx context.Context, i int, k int64) bool {
	if p.interval == 0 {
		return ctx.Err() == nil
	}
	d := time.Until(p.due(i, k))
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// release hands out messages as they fall due, in schedule order:
// message j of the run goes to connection j mod n as its message j div n,
// and each call of due(i) releases connection i's next one. One goroutine
// and one timer pace the whole run: each wake-up releases every message
// due by then, so a message costs no timer and no wake-up of its own. An
// unpaced run releases everything at once. False when ctx ends first.
func (p pacer) release(ctx context.Context, total int, due func(i int)) bool {
	if p.interval == 0 {
		for j := range total {
			due(j % int(p.n))
		}
		return ctx.Err() == nil
	}
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for j := 0; j < total; {
		now := time.Now()
		for ; j < total && !p.dueAt(j).After(now); j++ {
			due(j % int(p.n))
		}
		if j == total {
			break
		}
		t.Reset(p.dueAt(j).Sub(now))
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		}
	}
	return ctx.Err() == nil
}

// dueAt is when message j of the run (over all connections) is due.
func (p pacer) dueAt(j int) time.Time {
	return p.start.Add(time.Duration(float64(j) * p.interval))
}
