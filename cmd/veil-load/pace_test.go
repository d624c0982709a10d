package main

import (
	"context"
	"testing"
	"time"
)

// TestPacerInterleaves checks that connections take turns: with 4
// connections at 1,000 messages/s, message k of connection i is due at
// (4k+i) ms, so no two messages are due together.
func TestPacerInterleaves(t *testing.T) {
	start := time.Unix(1000, 0)
	p := newPacer(start, 1000, 4)
	seen := map[time.Duration]bool{}
	for i := range 4 {
		for k := range int64(10) {
			d := p.due(i, k).Sub(start)
			if want := time.Duration(4*k+int64(i)) * time.Millisecond; d != want {
				t.Fatalf("due(%d, %d) = %v, want %v", i, k, d, want)
			}
			if seen[d] {
				t.Fatalf("two messages due at %v", d)
			}
			seen[d] = true
		}
	}
}

func TestPacerWait(t *testing.T) {
	ctx := context.Background()
	if !newPacer(time.Now(), 0, 3).wait(ctx, 2, 1<<40) {
		t.Fatal("an unpaced wait refused")
	}
	p := newPacer(time.Now().Add(-time.Hour), 10, 1)
	if !p.wait(ctx, 0, 5) { // long past due
		t.Fatal("a past-due wait refused")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if newPacer(time.Now(), 1, 1).wait(cctx, 0, 1000) {
		t.Fatal("wait outlived its context")
	}
}

// TestPacerRelease: release hands out every message in schedule order,
// connection after connection, and not before it is due.
func TestPacerRelease(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	p := newPacer(start, 2000, 3)
	var got []int
	var late []time.Duration
	if !p.release(ctx, 30, func(i int) {
		got = append(got, i)
		late = append(late, time.Since(p.due(i, int64((len(got)-1)/3))))
	}) {
		t.Fatal("release refused")
	}
	for j, i := range got {
		if i != j%3 {
			t.Fatalf("message %d went to connection %d, want %d", j, i, j%3)
		}
		if late[j] < 0 {
			t.Fatalf("message %d released %v before it was due", j, -late[j])
		}
	}
	if len(got) != 30 {
		t.Fatalf("released %d messages, want 30", len(got))
	}
	var n int
	if !newPacer(time.Now(), 0, 4).release(ctx, 10, func(int) { n++ }) || n != 10 {
		t.Fatalf("unpaced release handed out %d of 10", n)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if newPacer(time.Now(), 1, 1).release(cctx, 10, func(int) {}) {
		t.Fatal("release outlived its context")
	}
}
