package clustertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"veil/crypto"
)

// TestLogNoticesAcrossNodes: a log subscriber on relay node A is notified
// of appends made through relay node B (spec/relay.md §8.7).
func TestLogNoticesAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: skipped with -short")
	}
	c := startCluster(t, 2)
	sub, w := dial(t, c.nodes[0]), dial(t, c.nodes[1])
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wc, rc [32]byte
	if err := crypto.RandomBytes(nil, wc[:]); err != nil {
		t.Fatal(err)
	}
	if err := crypto.RandomBytes(nil, rc[:]); err != nil {
		t.Fatal(err)
	}
	id, err := w.NewLog(ctx, &wc, &rc, time.Hour, nil)
	if err != nil {
		t.Fatalf("LNEW: %v", err)
	}
	notes := make(chan uint64, 64)
	if err := sub.SubscribeLog(ctx, id, &rc, 0, func(s uint64) { notes <- s }); err != nil {
		t.Fatalf("LSUB on node A: %v", err)
	}
	var worst time.Duration
	for i := range 10 {
		start := time.Now()
		seq, err := w.Append(ctx, id, &wc, body(fmt.Sprint(i)))
		if err != nil {
			t.Fatalf("LAPPEND through node B: %v", err)
		}
		select {
		case got := <-notes:
			if got != seq {
				t.Fatalf("notice of entry %d, want %d", got, seq)
			}
			worst = max(worst, time.Since(start))
		case <-time.After(10 * time.Second):
			t.Fatalf("append %d through node B not notified on node A within 10s", seq)
		}
	}
	t.Logf("slowest LAPPEND on B to LNOTE on A: %v (informational)", worst)
}
