package jetstream

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"veil/relay/store"
	"veil/relay/store/jetstream/jstest"
)

// nodeStore opens a store whose connection prefers NATS node i and fails
// over to the others, as a relay node configured with every URL does.
func nodeStore(t *testing.T, c *jstest.Cluster, i int, prefix string) *Store {
	t.Helper()
	urls := c.URLs()
	order := append([]string{urls[i]}, slices.Delete(slices.Clone(urls), i, i+1)...)
	nc, err := nats.Connect(order[0]+","+order[1]+","+order[2],
		nats.DontRandomize(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	s, err := Open(context.Background(), Config{Conn: nc, Prefix: prefix, Replicas: 3})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func randomID(t *testing.T) store.ID {
	t.Helper()
	var id store.ID
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatal(err)
	}
	return id
}

func createMailbox(t *testing.T, s store.Store) store.Mailbox {
	t.Helper()
	m := store.Mailbox{RecipientID: randomID(t), SenderID: randomID(t)}
	if err := s.CreateMailbox(context.Background(), m); err != nil {
		t.Fatalf("CreateMailbox: %v", err)
	}
	return m
}

// TestCluster groups the tests that share one three-node cluster.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("three-node cluster: skipped with -short")
	}
	c := jstest.Start(t, 3)
	t.Run("NotifyCrossesNodes", func(t *testing.T) { testNotifyCrossesNodes(t, c) })
	t.Run("NotifyLogCrossesNodes", func(t *testing.T) { testNotifyLogCrossesNodes(t, c) })
	t.Run("ClaimEndsOtherNode", func(t *testing.T) { testClaimEndsOtherNode(t, c) })
	t.Run("BlobOneWinnerAcrossNodes", func(t *testing.T) { testBlobAcrossNodes(t, c) })
	t.Run("LogAppendsAcrossNodes", func(t *testing.T) { testLogAcrossNodes(t, c) })
	t.Run("ShardLeadersSpread", func(t *testing.T) { testShardLeadersSpread(t, c) })
	// Last: it kills a node.
	t.Run("NodeLossUnderLoad", func(t *testing.T) { testNodeLossUnderLoad(t, c) })
}

func testNotifyCrossesNodes(t *testing.T, c *jstest.Cluster) {
	a, b := nodeStore(t, c, 0, "notify"), nodeStore(t, c, 1, "notify")
	m := createMailbox(t, a)
	ch, stop := a.Notify(m.RecipientID)
	defer stop()
	var worst time.Duration
	for i := range 20 {
		start := time.Now()
		if _, err := b.Send(context.Background(), m.SenderID, []byte(fmt.Sprint(i)), time.Hour, 100); err != nil {
			t.Fatalf("Send through node 2: %v", err)
		}
		select {
		case <-ch:
			worst = max(worst, time.Since(start))
		case <-time.After(10 * time.Second):
			t.Fatalf("send %d through node 2 not notified on node 1 within 10s", i)
		}
	}
	msgs, err := a.Pending(context.Background(), m.RecipientID, 0, 100)
	if err != nil || len(msgs) != 20 {
		t.Fatalf("Pending on node 1 = %d messages, %v; want 20", len(msgs), err)
	}
	t.Logf("slowest send-to-notification across nodes: %v (informational)", worst)
}

// testNotifyLogCrossesNodes: an append through node 2 reaches a log
// watcher on node 1 with the entry's number (spec §5.5).
func testNotifyLogCrossesNodes(t *testing.T, c *jstest.Cluster) {
	ctx := context.Background()
	a, b := nodeStore(t, c, 0, "lnotify"), nodeStore(t, c, 1, "lnotify")
	l := store.Log{ID: randomID(t), TTL: time.Hour}
	if err := a.CreateLog(ctx, l); err != nil {
		t.Fatal(err)
	}
	ch, stop := a.NotifyLog(l.ID)
	defer stop()
	for i := range 10 {
		n, err := b.Append(ctx, l.ID, []byte(fmt.Sprint(i)))
		if err != nil {
			t.Fatalf("Append through node 2: %v", err)
		}
		select {
		case got := <-ch:
			if got != n {
				t.Fatalf("node 1 notified of entry %d, want %d", got, n)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("append %d through node 2 not notified on node 1 within 10s", n)
		}
	}
}

func testClaimEndsOtherNode(t *testing.T, c *jstest.Cluster) {
	ctx := context.Background()
	a, b := nodeStore(t, c, 0, "claim"), nodeStore(t, c, 2, "claim")
	rid := randomID(t)
	lostA, releaseA, err := a.Claim(ctx, rid)
	if err != nil {
		t.Fatalf("Claim on node 1: %v", err)
	}
	defer releaseA()
	select {
	case <-lostA:
		t.Fatal("first claim lost with no rival")
	case <-time.After(200 * time.Millisecond):
	}
	lostB, releaseB, err := b.Claim(ctx, rid)
	if err != nil {
		t.Fatalf("Claim on node 3: %v", err)
	}
	select {
	case <-lostA:
	case <-time.After(10 * time.Second):
		t.Fatal("claim on node 3 did not end the claim on node 1 within 10s")
	}
	select {
	case <-lostB:
		t.Fatal("the newer claim was ended")
	case <-time.After(200 * time.Millisecond):
	}
	// Another mailbox is independent.
	lostO, releaseO, err := a.Claim(ctx, randomID(t))
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	defer releaseO()
	// And back: a new claim on node 1 ends node 3's.
	lostA2, releaseA2, err := a.Claim(ctx, rid)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	defer releaseA2()
	select {
	case <-lostB:
	case <-time.After(10 * time.Second):
		t.Fatal("claim back on node 1 did not end node 3's")
	}
	releaseB()
	releaseB() // idempotent
	select {
	case <-lostA2:
		t.Fatal("releasing an ended claim ended the live one")
	case <-lostO:
		t.Fatal("a claim of another mailbox was ended")
	case <-time.After(200 * time.Millisecond):
	}
}

func testBlobAcrossNodes(t *testing.T, c *jstest.Cluster) {
	ctx := context.Background()
	stores := []*Store{nodeStore(t, c, 0, "blob"), nodeStore(t, c, 1, "blob"), nodeStore(t, c, 2, "blob")}
	for round := range 5 {
		id := randomID(t)
		if err := stores[round%3].PutBlob(ctx, id, []byte("bundle"), time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("PutBlob: %v", err)
		}
		var wins atomic.Int64
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := stores[i%3].TakeBlob(ctx, id)
				switch {
				case err == nil && string(b) == "bundle":
					wins.Add(1)
				case errors.Is(err, store.ErrNotFound):
				default:
					t.Errorf("TakeBlob: %q, %v", b, err)
				}
			}()
		}
		wg.Wait()
		if w := wins.Load(); w != 1 {
			t.Fatalf("round %d: %d winners across three nodes, want 1", round, w)
		}
	}
}

// testNodeLossUnderLoad sends through stores on all three NATS nodes,
// receives and acks on a fourth, kills the NATS node leading the message
// stream mid-load, and proves that every acknowledged send is received,
// and that nothing is delivered again after its ACK succeeded.
func testNodeLossUnderLoad(t *testing.T, c *jstest.Cluster) {
	const (
		mailboxes = 8
		writers   = 6
		each      = 60 // sends per writer
	)
	ctx := context.Background()
	senders := []*Store{nodeStore(t, c, 0, "load"), nodeStore(t, c, 1, "load"), nodeStore(t, c, 2, "load")}
	victim := leaderOf(t, c, senders[0])
	reader := nodeStore(t, c, victim, "load") // the reader's own node dies too
	var boxes []store.Mailbox
	for range mailboxes {
		boxes = append(boxes, createMailbox(t, senders[0]))
	}

	var (
		mu       sync.Mutex
		accepted = map[string]bool{} // bodies whose Send succeeded
		failed   int
	)
	var sent atomic.Int64
	killAt := int64(writers * each / 3)
	killed := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := senders[w%3]
			for i := range each {
				m := boxes[(w*each+i)%mailboxes]
				body := []byte(fmt.Sprintf("w%d-%d", w, i))
				sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				_, err := s.Send(sctx, m.SenderID, body, time.Hour, 10000)
				cancel()
				mu.Lock()
				if err == nil {
					accepted[string(body)] = true
				} else {
					failed++
				}
				mu.Unlock()
				if sent.Add(1) == killAt {
					c.Kill(victim)
					close(killed)
				}
			}
		}()
	}

	// The reader drains concurrently: Pending, then Ack each message.
	received := map[string]int{}
	// Sequences are per shard, so only a mailbox and a sequence together
	// name a message (spec §3.1).
	type boxSeq struct {
		rid store.ID
		seq uint64
	}
	ackedSeq := map[boxSeq]bool{}
	var redelivered []string
	drain := func() (int, error) {
		n := 0
		for _, m := range boxes {
			msgs, err := reader.Pending(ctx, m.RecipientID, 0, 200)
			if err != nil {
				return n, err
			}
			for _, msg := range msgs {
				if ackedSeq[boxSeq{m.RecipientID, msg.Seq}] {
					redelivered = append(redelivered, string(msg.Body))
					continue
				}
				received[string(msg.Body)]++
				err := reader.Ack(ctx, m.RecipientID, msg.Seq)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return n, err
				}
				ackedSeq[boxSeq{m.RecipientID, msg.Seq}] = true
				n++
			}
		}
		return n, nil
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	deadline := time.Now().Add(90 * time.Second)
	for writing := true; writing; {
		select {
		case <-done:
			writing = false
		default:
		}
		if _, err := drain(); err != nil {
			t.Logf("drain during failover: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("load did not finish within 90s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	<-killed
	// Final drains until nothing more arrives.
	for range 50 {
		n, err := drain()
		if err == nil && n == 0 {
			break
		}
	}

	mu.Lock()
	defer mu.Unlock()
	var lost []string
	for b := range accepted {
		if received[b] == 0 {
			lost = append(lost, b)
		}
	}
	var dup []string
	for b, n := range received {
		if n > 1 {
			dup = append(dup, b)
		}
	}
	t.Logf("%d sends acknowledged, %d refused during failover, %d received", len(accepted), failed, len(received))
	if len(lost) > 0 {
		t.Errorf("%d acknowledged messages lost, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
	if len(dup) > 0 {
		t.Errorf("%d messages stored twice, e.g. %v", len(dup), dup[:min(5, len(dup))])
	}
	if len(redelivered) > 0 {
		t.Errorf("%d messages delivered again after their ACK, e.g. %v", len(redelivered), redelivered[:min(5, len(redelivered))])
	}
	if len(accepted) < writers*each/2 {
		t.Errorf("only %d of %d sends acknowledged: the store did not ride out the failover", len(accepted), writers*each)
	}
	for _, m := range boxes {
		if msgs, err := reader.Pending(ctx, m.RecipientID, 0, 10); err != nil || len(msgs) != 0 {
			t.Errorf("mailbox not empty after draining: %d messages, %v", len(msgs), err)
		}
	}
	// The killed node rejoins and the cluster goes on.
	c.Restart(victim)
	m := boxes[0]
	if _, err := senders[victim].Send(ctx, m.SenderID, []byte("after restart"), time.Hour, 10); err != nil {
		t.Fatalf("Send after the node rejoined: %v", err)
	}
	msgs, err := reader.Pending(ctx, m.RecipientID, 0, 10)
	if err != nil || len(msgs) != 1 || !bytes.Equal(msgs[0].Body, []byte("after restart")) {
		t.Fatalf("Pending after rejoin = %v, %v", msgs, err)
	}
}

// testShardLeadersSpread: NATS places the message shards' leaders on
// more than one server, so no single leader carries every message
// (spec §3.1).
func testShardLeadersSpread(t *testing.T, c *jstest.Cluster) {
	s := nodeStore(t, c, 0, "spread")
	leaders, err := s.ShardLeaders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, l := range leaders {
		per[l]++
	}
	t.Logf("message shards led per server: %v", per)
	if len(leaders) != DefaultShards || len(per) < 2 {
		t.Errorf("%d shards led by %v: want %d over at least two servers", len(leaders), per, DefaultShards)
	}
}

// leaderOf returns the index of the NATS node leading the most message
// shards.
func leaderOf(t *testing.T, c *jstest.Cluster, s *Store) int {
	t.Helper()
	name, err := s.StreamLeader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	i := c.Index(name)
	if i < 0 {
		t.Fatalf("leader %q is not a node of the test cluster", name)
	}
	return i
}

// testLogAcrossNodes: concurrent appends through three nodes are numbered
// 1..N without gap or repeat, in stream order, and every node reads the
// same log from any cursor (spec §5.2, §5.3).
func testLogAcrossNodes(t *testing.T, c *jstest.Cluster) {
	const writers, each = 6, 25
	ctx := context.Background()
	stores := []*Store{nodeStore(t, c, 0, "logs"), nodeStore(t, c, 1, "logs"), nodeStore(t, c, 2, "logs")}
	l := store.Log{ID: randomID(t), TTL: time.Hour}
	if err := stores[0].CreateLog(ctx, l); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[uint64]string{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				b := fmt.Sprintf("w%d-%d", w, i)
				n, err := stores[w%3].Append(ctx, l.ID, []byte(b))
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				if prev, dup := got[n]; dup {
					t.Errorf("number %d given to %s and %s", n, prev, b)
				}
				got[n] = b
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	total := uint64(writers * each)
	for n := uint64(1); n <= total; n++ {
		if _, ok := got[n]; !ok {
			t.Fatalf("number %d never given out (gap)", n)
		}
	}
	for i, s := range stores {
		for _, after := range []uint64{0, 1, total / 3, total - 1, total} {
			entries, err := s.ReadLog(ctx, l.ID, after, 1000)
			if err != nil {
				t.Fatalf("ReadLog on node %d: %v", i+1, err)
			}
			if uint64(len(entries)) != total-after {
				t.Fatalf("ReadLog(after %d) on node %d = %d entries, want %d", after, i+1, len(entries), total-after)
			}
			for k, e := range entries {
				if e.Seq != after+uint64(k)+1 || string(e.Body) != got[e.Seq] {
					t.Fatalf("node %d entry %d = (%d, %q), want (%d, %q)", i+1, k, e.Seq, e.Body, after+uint64(k)+1, got[after+uint64(k)+1])
				}
			}
		}
	}
}
