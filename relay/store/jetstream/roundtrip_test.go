package jetstream

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"veil/relay/store"
	"veil/relay/store/jetstream/jstest"
)

// TestRoundTrips counts what one relay node sends to NATS for a message
// to a secured mailbox it used less than a second ago (spec §3.2, §3.3):
// a SEND is one publish and one notification (the relay's lookup of the
// mailbox by sender ID before it none), a delivery of one message one
// batch direct get (with one replica), an ACK one delete, and the
// recipient command's lookup of the mailbox none.
func TestRoundTrips(t *testing.T) {
	c := jstest.Start(t, 1)
	ctx := context.Background()
	nc, err := nats.Connect(c.URLs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	s, err := Open(ctx, Config{Conn: nc, Prefix: "rtt", Replicas: 1, Memory: true, MaxPending: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := store.Mailbox{RecipientID: randomID(t), SenderID: randomID(t)}
	if err := s.CreateMailbox(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := s.Secure(ctx, m.SenderID, []byte("credential")); err != nil {
		t.Fatal(err)
	}
	s.Size() // the quota's figure is refreshed once a second, not per call
	if _, err := s.Send(ctx, m.SenderID, []byte("warm"), time.Hour, 100); err != nil {
		t.Fatal(err)
	}
	count := func(what string, want uint64, op func() error) {
		t.Helper()
		before := nc.Stats().OutMsgs
		if err := op(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := nc.Stats().OutMsgs - before; got != want {
			t.Errorf("%s sent %d NATS messages, want %d", what, got, want)
		}
	}
	var seq uint64
	count("MailboxBySender and Send", 2, func() (err error) {
		if _, err := s.MailboxBySender(ctx, m.SenderID); err != nil {
			return err
		}
		seq, err = s.Send(ctx, m.SenderID, []byte("x"), time.Hour, 100)
		return err
	})
	count("Pending", 1, func() error {
		msgs, err := s.Pending(ctx, m.RecipientID, seq-1, 10)
		if err == nil && (len(msgs) != 1 || msgs[0].Seq != seq || string(msgs[0].Body) != "x") {
			t.Errorf("Pending = %+v, want message %d", msgs, seq)
		}
		return err
	})
	count("Mailbox and Ack", 1, func() error {
		if _, err := s.Mailbox(ctx, m.RecipientID); err != nil {
			return err
		}
		return s.Ack(ctx, m.RecipientID, seq)
	})
	count("Pending of an empty mailbox", 1, func() error {
		msgs, err := s.Pending(ctx, m.RecipientID, seq, 10)
		if err == nil && len(msgs) != 0 {
			t.Errorf("Pending = %+v, want none", msgs)
		}
		return err
	})
}

// TestPendingBatches reads more messages than one batch direct get asks
// for, and from the middle of a mailbox: every message once, in order.
func TestPendingBatches(t *testing.T) {
	c := jstest.Start(t, 1)
	ctx := context.Background()
	s, err := Open(ctx, Config{URLs: c.URLs(), Prefix: "batch", Replicas: 1, Memory: true, MaxPending: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := store.Mailbox{RecipientID: randomID(t), SenderID: randomID(t)}
	other := store.Mailbox{RecipientID: randomID(t), SenderID: randomID(t)}
	for _, b := range []store.Mailbox{m, other} {
		if err := s.CreateMailbox(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	n := maxBatch + 44
	var seqs []uint64
	for i := range n {
		seq, err := s.Send(ctx, m.SenderID, []byte{byte(i)}, time.Hour, 1000)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
		if _, err := s.Send(ctx, other.SenderID, []byte("other"), time.Hour, 1000); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Pending(ctx, m.RecipientID, 0, 10*n)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("Pending returned %d messages, want %d", len(got), n)
	}
	for i, msg := range got {
		if msg.Seq != seqs[i] || len(msg.Body) != 1 || msg.Body[0] != byte(i) {
			t.Fatalf("message %d = seq %d body %v, want seq %d body [%d]", i, msg.Seq, msg.Body, seqs[i], byte(i))
		}
	}
	got, err = s.Pending(ctx, m.RecipientID, seqs[9], 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Seq != seqs[10] || got[2].Seq != seqs[12] {
		t.Fatalf("Pending after message 10, limit 3 = %+v", got)
	}
}

// TestMailboxCacheUnsecured: a node serves Mailbox and MailboxBySender
// from its cache only for a secured mailbox, so a mailbox secured through
// another node is seen secured at once.
func TestMailboxCacheUnsecured(t *testing.T) {
	c := jstest.Start(t, 1)
	ctx := context.Background()
	var nodes [2]*Store
	for i := range nodes {
		s, err := Open(ctx, Config{URLs: c.URLs(), Prefix: "cache", Replicas: 1, Memory: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		nodes[i] = s
	}
	m := store.Mailbox{RecipientID: randomID(t), SenderID: randomID(t)}
	if err := nodes[0].CreateMailbox(ctx, m); err != nil {
		t.Fatal(err)
	}
	for _, get := range []func() (store.Mailbox, error){
		func() (store.Mailbox, error) { return nodes[0].MailboxBySender(ctx, m.SenderID) },
		func() (store.Mailbox, error) { return nodes[0].Mailbox(ctx, m.RecipientID) },
	} {
		if got, err := get(); err != nil || len(got.SenderKey) != 0 {
			t.Fatalf("before SKEY: %+v, %v", got, err)
		}
	}
	if err := nodes[1].Secure(ctx, m.SenderID, []byte("credential")); err != nil {
		t.Fatal(err)
	}
	for _, get := range []func() (store.Mailbox, error){
		func() (store.Mailbox, error) { return nodes[0].MailboxBySender(ctx, m.SenderID) },
		func() (store.Mailbox, error) { return nodes[0].Mailbox(ctx, m.RecipientID) },
	} {
		got, err := get()
		if err != nil || string(got.SenderKey) != "credential" {
			t.Fatalf("after SKEY on another node: %+v, %v", got, err)
		}
		got.SenderKey[0] = 'X' // the caller's copy, not the cache's
	}
	if got, err := nodes[0].Mailbox(ctx, m.RecipientID); err != nil || string(got.SenderKey) != "credential" {
		t.Fatalf("after a caller changed its copy: %+v, %v", got, err)
	}
}

// TestOpTimeoutHot: the calls made for every message give up after the
// store's operation timeout when the cluster is gone, though they create
// no context of their own (beginHot), and a caller's earlier deadline
// still wins.
func TestOpTimeoutHot(t *testing.T) {
	c, s, m := storeWithMailbox(t, Config{Prefix: "optimeout", MaxPending: 100, OpTimeout: 400 * time.Millisecond})
	ctx := context.Background()
	c.Kill(0)
	// Far below the default operation timeout (20 s), far above 400 ms.
	const bound = 8 * time.Second
	calls := map[string]func(context.Context) error{
		"Send": func(ctx context.Context) error {
			_, err := s.Send(ctx, m.SenderID, []byte("x"), time.Hour, 100)
			return err
		},
		"Pending": func(ctx context.Context) error {
			_, err := s.Pending(ctx, randomID(t), 0, 10)
			return err
		},
		"Ack": func(ctx context.Context) error { return s.Ack(ctx, m.RecipientID, 12345) },
		"Mailbox": func(ctx context.Context) error {
			_, err := s.Mailbox(ctx, randomID(t))
			return err
		},
	}
	for name, call := range calls {
		start := time.Now()
		if err := call(ctx); err == nil {
			t.Errorf("%s with the cluster gone succeeded", name)
		}
		if d := time.Since(start); d > bound {
			t.Errorf("%s took %v with a 400ms operation timeout", name, d)
		}
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		start = time.Now()
		err := call(cctx)
		cancel()
		if err == nil {
			t.Errorf("%s with the cluster gone and a caller's deadline succeeded", name)
		}
		if d := time.Since(start); d > bound {
			t.Errorf("%s took %v with a 50ms deadline", name, d)
		}
	}
}

// TestAckAnswers: the ACK's own delete request (deleteMsg) deletes, and
// reads the server's refusals as DeleteMsg's: a second ACK of a message,
// and an ACK of a sequence never stored, are not found.
func TestAckAnswers(t *testing.T) {
	_, s, m := storeWithMailbox(t, Config{Prefix: "ack", MaxPending: 100})
	ctx := context.Background()
	seq, err := s.Send(ctx, m.SenderID, []byte("x"), time.Hour, 100)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := s.shard(m.RecipientID)
	if err := deleteMsg(ctx, s.nc, st.CachedInfo().Config.Name, seq+1000); err == nil || !strings.Contains(err.Error(), "err_code=10043") {
		t.Errorf("delete of a sequence past the end: %v", err)
	}
	if err := removeOnceConn(ctx, s.nc, st, seq+1000); !errors.Is(err, errGone) {
		t.Errorf("removeOnceConn of a sequence past the end: %v, want errGone", err)
	}
	if err := s.Ack(ctx, m.RecipientID, seq); err != nil {
		t.Fatal(err)
	}
	if msgs, err := s.Pending(ctx, m.RecipientID, 0, 10); err != nil || len(msgs) != 0 {
		t.Fatalf("after ACK: %v, %v", msgs, err)
	}
	if err := s.Ack(ctx, m.RecipientID, seq); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second ACK: %v, want not found", err)
	}
	if err := removeOnceConn(ctx, s.nc, st, seq); !errors.Is(err, errGone) {
		t.Errorf("second delete: %v, want errGone", err)
	}
}

// TestCacheDropWinsOverReadInFlight: a mailbox record read before this
// node deleted the mailbox (a lookup still in flight when DEL ran) is
// not put back into the node's cache after the delete dropped it, so
// the node does not serve the deleted mailbox for another second.
func TestCacheDropWinsOverReadInFlight(t *testing.T) {
	var c boxCache
	m := store.Mailbox{RecipientID: randomID(t), SenderID: randomID(t), SenderKey: []byte{1}}
	gen := c.generation() // a lookup starts
	read := time.Now()
	c.drop(m.RecipientID, m.SenderID) // DEL on this node
	c.put(m, 7, read, gen)            // the lookup returns
	if _, _, ok := c.box(m.RecipientID); ok {
		t.Fatal("a record read before the delete was cached after it")
	}
	if _, ok := c.recipient(m.SenderID); ok {
		t.Fatal("a sender index read before the delete was cached after it")
	}
	// A read that starts after the drop is cached as before.
	c.put(m, 8, time.Now(), c.generation())
	if _, rev, ok := c.box(m.RecipientID); !ok || rev != 8 {
		t.Fatalf("a fresh read was not cached: rev %d, %v", rev, ok)
	}
}

// TestBatchGetsAfterStop: a read still in flight when the store closes
// makes no subscription on the caller's connection after Close.
func TestBatchGetsAfterStop(t *testing.T) {
	c := jstest.Start(t, 1)
	nc, err := nats.Connect(c.URLs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var b batchGets
	b.stop()
	before := nc.NumSubscriptions()
	if err := b.start(nc); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("start after stop: %v, want store.ErrClosed", err)
	}
	if n := nc.NumSubscriptions(); n != before {
		t.Fatalf("%d subscriptions after a start that followed stop, want %d", n, before)
	}
}

// storeWithMailbox opens a store with cfg (one replica, memory storage)
// on a NATS server of its own, with one mailbox created.
func storeWithMailbox(t *testing.T, cfg Config) (*jstest.Cluster, *Store, store.Mailbox) {
	t.Helper()
	c := jstest.Start(t, 1)
	cfg.URLs, cfg.Replicas, cfg.Memory = c.URLs(), 1, true
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	m := store.Mailbox{RecipientID: randomID(t), SenderID: randomID(t)}
	if err := s.CreateMailbox(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return c, s, m
}

// TestBatchGetRefusedNotRetried: the server answers a malformed batch
// direct get with 408 (it is not a timeout); the store reports it at once
// as a refused read instead of retrying it until the operation's time
// runs out.
func TestBatchGetRefusedNotRetried(t *testing.T) {
	_, s, m := storeWithMailbox(t, Config{})
	st, _ := s.shard(m.RecipientID)
	for _, req := range []string{`{`, ``, `{"seq":0}`} {
		ans, err := s.nc.Request(directGetPrefix+st.CachedInfo().Config.Name, []byte(req), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got := ans.Header.Get("Status"); got != "408" {
			t.Fatalf("malformed request %s: status %q, want 408", req, got)
		}
		end, _, err := batchStatus(ans)
		if !end || !errors.Is(err, errBatchGet) || transient(err) {
			t.Fatalf("batchStatus of a 408: end %v, err %v (transient %v), want the end and errBatchGet, not retried", end, err, transient(err))
		}
	}
}
