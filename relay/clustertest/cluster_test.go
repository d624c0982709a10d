package clustertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"veil/relay/wire"
)

// TestDeliveryAcrossNodes: a subscriber on relay node A receives, in
// order, what is sent through relay node B.
func TestDeliveryAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: skipped with -short")
	}
	c := startCluster(t, 2)
	recv, send := dial(t, c.nodes[0]), dial(t, c.nodes[1])
	m := newMailbox(t, recv, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := recv.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatalf("SUB: %v", err)
	}
	var worst time.Duration
	for i := range 50 {
		start := time.Now()
		if err := send.Send(ctx, m.sid, &m.cap, body(fmt.Sprint(i))); err != nil {
			t.Fatalf("SEND %d through node B: %v", i, err)
		}
		p := nextPush(t, recv, wire.TypeMSG, 10*time.Second)
		worst = max(worst, time.Since(start))
		if got := label(p.Body); got != fmt.Sprint(i) {
			t.Fatalf("message %d arrived as %q", i, got)
		}
		if err := recv.Ack(ctx, m.rid, p.Seq); err != nil {
			t.Fatalf("ACK: %v", err)
		}
	}
	t.Logf("slowest SEND on B to MSG on A: %v (informational; the machine is shared)", worst)
}

// TestSubscribeOnSecondNodeEndsFirst: one live subscriber per mailbox
// across the cluster (spec/relay.md §8.1).
func TestSubscribeOnSecondNodeEndsFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: skipped with -short")
	}
	c := startCluster(t, 3)
	first, second, sender := dial(t, c.nodes[0]), dial(t, c.nodes[1]), dial(t, c.nodes[2])
	m := newMailbox(t, first, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := first.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatalf("SUB on node 1: %v", err)
	}
	if err := second.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatalf("SUB on node 2: %v", err)
	}
	if p := nextPush(t, first, wire.TypeEND, 10*time.Second); p.Recipient != m.rid {
		t.Fatal("END for another mailbox")
	}
	if err := sender.Send(ctx, m.sid, &m.cap, body("after takeover")); err != nil {
		t.Fatalf("SEND: %v", err)
	}
	if p := nextPush(t, second, wire.TypeMSG, 10*time.Second); label(p.Body) != "after takeover" {
		t.Fatalf("second subscriber got %q", label(p.Body))
	}
	select {
	case p := <-first.Pushes():
		t.Fatalf("ended subscriber still got a %v", p.Type)
	case <-time.After(300 * time.Millisecond):
	}
	// The old connection may not ACK for the mailbox any more (§7.4).
	if err := first.Ack(ctx, m.rid, 1); err == nil {
		t.Fatal("ACK accepted on the ended subscription")
	}
}
