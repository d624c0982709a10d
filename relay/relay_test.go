package relay_test

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/relay/wire"
)

func TestSendSubscribeAck(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	sender, recv := tr.dial(t), tr.dial(t)
	m := newMailbox(t, recv)
	for i, n := range []int{1024, 4096, 16000} {
		if err := sender.Send(ctx, m.sid, &m.cap, body(n, byte(i+1))); err != nil {
			t.Fatalf("SEND %d: %v", n, err)
		}
	}
	if err := recv.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatalf("SUB: %v", err)
	}
	for i, n := range []int{1024, 4096, 16000} {
		p := nextPush(t, recv)
		if p.Type != wire.TypeMSG || p.Recipient != m.rid || p.Seq != uint64(i+1) || !bytes.Equal(p.Body, body(n, byte(i+1))) {
			t.Fatalf("push %d: %v seq %d len %d", i, p.Type, p.Seq, len(p.Body))
		}
		if err := recv.Ack(ctx, m.rid, p.Seq); err != nil {
			t.Fatalf("ACK: %v", err)
		}
	}
	// A message sent while subscribed is pushed at once.
	if err := sender.Send(ctx, m.sid, &m.cap, body(1024, 9)); err != nil {
		t.Fatal(err)
	}
	p := nextPush(t, recv)
	if p.Seq != 4 || p.Body[0] != 9 {
		t.Fatalf("live push seq %d", p.Seq)
	}
	wantCode(t, recv.Ack(ctx, m.rid, 99), wire.CodeNotFound)
	if err := recv.Ack(ctx, m.rid, 4); err != nil {
		t.Fatal(err)
	}
	msgs, err := tr.store.Pending(ctx, m.rid, 0, 10)
	if err != nil || len(msgs) != 0 {
		t.Fatalf("after ACKs %d pending, %v", len(msgs), err)
	}
}

func TestRedeliveryAfterReconnectAndWindow(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	c1 := tr.dial(t)
	m := newMailbox(t, c1)
	const n = 200
	for i := range n {
		if err := c1.Send(ctx, m.sid, &m.cap, body(1024, byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := c1.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatal(err)
	}
	// The first window of messages arrives without any ACK.
	for i := range relay.DefaultLimits.Window {
		p := nextPush(t, c1)
		if p.Seq != uint64(i+1) {
			t.Fatalf("push %d has seq %d", i, p.Seq)
		}
	}
	// Nothing beyond the window is pushed while nothing is acknowledged:
	// the PING's reply comes after anything the relay queued before it.
	healthy(t, c1)
	if n := len(c1.Pushes()); n != 0 {
		t.Fatalf("%d pushes beyond the window", n)
	}
	// Ack 10: ten more arrive, in order.
	for s := uint64(1); s <= 10; s++ {
		if err := c1.Ack(ctx, m.rid, s); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		p := nextPush(t, c1)
		if want := uint64(relay.DefaultLimits.Window + i + 1); p.Seq != want {
			t.Fatalf("seq %d, want %d", p.Seq, want)
		}
	}
	c1.Close()
	// A new connection gets every unacked message again, from seq 11.
	c2 := tr.dial(t)
	if err := c2.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatal(err)
	}
	for s := uint64(11); s <= n; s++ {
		p := nextPush(t, c2)
		if p.Seq != s {
			t.Fatalf("redelivered seq %d, want %d", p.Seq, s)
		}
		if err := c2.Ack(ctx, m.rid, s); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewerSubscriberEndsOlder(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	c1, c2, sender := tr.dial(t), tr.dial(t), tr.dial(t)
	m := newMailbox(t, c1)
	if err := c1.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatal(err)
	}
	if err := c2.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatal(err)
	}
	if p := nextPush(t, c1); p.Type != wire.TypeEND || p.Recipient != m.rid {
		t.Fatalf("old subscriber got %v", p.Type)
	}
	wantCode(t, c1.Ack(ctx, m.rid, 1), wire.CodeAuth) // no longer subscribed
	if err := sender.Send(ctx, m.sid, &m.cap, body(1024, 1)); err != nil {
		t.Fatal(err)
	}
	if p := nextPush(t, c2); p.Type != wire.TypeMSG || p.Seq != 1 {
		t.Fatalf("new subscriber got %v", p.Type)
	}
	// SUB again on the same connection is idempotent.
	if err := c2.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatal(err)
	}
	healthy(t, c1)
}

func TestOffAndDelete(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	c := tr.dial(t)
	m := newMailbox(t, c)
	wantCode(t, c.Off(ctx, m.rid), wire.CodeAuth) // not subscribed
	if err := c.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatal(err)
	}
	if err := c.Off(ctx, m.rid); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Ack(ctx, m.rid, 1), wire.CodeAuth)
	if err := c.Send(ctx, m.sid, &m.cap, body(1024, 1)); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, m.rid, m.key); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	wantCode(t, c.Send(ctx, m.sid, &m.cap, body(1024, 1)), wire.CodeAuth)
	wantCode(t, c.Subscribe(ctx, m.rid, m.key), wire.CodeAuth)
	wantCode(t, c.Delete(ctx, m.rid, m.key), wire.CodeAuth)
	select {
	case p := <-c.Pushes():
		t.Fatalf("push %v after OFF", p.Type)
	default:
	}
}

func TestBlobs(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	c := tr.dial(t)
	id, _ := crypto.NewID(nil)
	b := body(1024, 7)
	if err := c.Put(ctx, id, time.Hour, nil, b); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Put(ctx, id, time.Hour, nil, b), wire.CodeExists)
	got, err := c.Take(ctx, id)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("TAKE: %v", err)
	}
	_, err = c.Take(ctx, id)
	wantCode(t, err, wire.CodeNotFound)
	wantCode(t, c.Put(ctx, id, 0, nil, b), wire.CodeBadSize)
	wantCode(t, c.Put(ctx, id, 8*24*time.Hour, nil, b), wire.CodeBadSize)
	wantCode(t, c.Put(ctx, id, time.Hour, nil, b[:1000]), wire.CodeBadSize)
}

// TestTakenBlobCannotBePutBack: whoever took a blob (say, with a copied
// invite key) cannot PUT the same ciphertext back for the real joiner to
// take unawares: the ID stays reserved until the blob's deadline
// (spec/relay.md §7.2), and is free again after it.
func TestTakenBlobCannotBePutBack(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	copier, joiner := tr.dial(t), tr.dial(t)
	id, _ := crypto.NewID(nil)
	b := body(1024, 5)
	if err := tr.dial(t).Put(ctx, id, time.Hour, nil, b); err != nil {
		t.Fatal(err)
	}
	got, err := copier.Take(ctx, id)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("TAKE: %v", err)
	}
	wantCode(t, copier.Put(ctx, id, time.Hour, nil, got), wire.CodeExists)
	wantCode(t, copier.Put(ctx, id, time.Minute, nil, got), wire.CodeExists)
	_, err = joiner.Take(ctx, id)
	wantCode(t, err, wire.CodeNotFound)
	tr.clock.Advance(time.Hour - time.Second)
	wantCode(t, copier.Put(ctx, id, time.Hour, nil, got), wire.CodeExists)
	tr.clock.Advance(time.Second)
	if err := copier.Put(ctx, id, time.Hour, nil, got); err != nil {
		t.Fatalf("PUT after the deadline: %v", err)
	}
	if got, err := joiner.Take(ctx, id); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("TAKE of the new blob: %v", err)
	}
}

func TestOneWinnerAmong100Takes(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	conns := make([]interface {
		Take(context.Context, crypto.ID) ([]byte, error)
	}, 10)
	for i := range conns {
		conns[i] = tr.dial(t)
	}
	id, _ := crypto.NewID(nil)
	if err := tr.dial(t).Put(ctx, id, time.Hour, nil, body(4096, 3)); err != nil {
		t.Fatal(err)
	}
	var wins, losses atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			b, err := conns[i%len(conns)].Take(ctx, id)
			switch {
			case err == nil && len(b) == 4096:
				wins.Add(1)
			case err != nil:
				var code wire.Code
				if we, ok := err.(*wire.Error); ok {
					code = we.Code
				}
				if code == wire.CodeNotFound {
					losses.Add(1)
				} else {
					t.Errorf("TAKE: %v", err)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 || losses.Load() != 99 {
		t.Fatalf("%d winners and %d losers, want 1 and 99", wins.Load(), losses.Load())
	}
}

func TestLogs(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	c := tr.dial(t)
	var wc, rc [32]byte
	crypto.RandomBytes(nil, wc[:])
	crypto.RandomBytes(nil, rc[:])
	id, err := c.NewLog(ctx, &wc, &rc, 24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		seq, err := c.Append(ctx, id, &wc, body(16000, byte(i)))
		if err != nil || seq != uint64(i+1) {
			t.Fatalf("LAPPEND: seq %d, %v", seq, err)
		}
	}
	// Only one 16,000-byte entry fits one item: the reader continues.
	var got []uint64
	after := uint64(0)
	for range 10 {
		es, err := c.ReadLog(ctx, id, &rc, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			if len(e.Body) != 16000 || e.Body[0] != byte(e.Seq-1) {
				t.Fatalf("entry %d corrupt", e.Seq)
			}
			got = append(got, e.Seq)
			after = e.Seq
		}
	}
	if len(got) != 3 || got[2] != 3 {
		t.Fatalf("read %v", got)
	}
	_, err = c.ReadLog(ctx, id, &wc, 0, 10) // write cap is not the read cap
	wantCode(t, err, wire.CodeAuth)
	_, err = c.Append(ctx, id, &rc, body(1024, 1))
	wantCode(t, err, wire.CodeAuth)
	wantCode(t, c.DeleteLog(ctx, id, &rc), wire.CodeAuth)
	if err := c.DeleteLog(ctx, id, &wc); err != nil {
		t.Fatal(err)
	}
	_, err = c.ReadLog(ctx, id, &rc, 0, 10)
	wantCode(t, err, wire.CodeAuth)
	_, err = c.NewLog(ctx, &wc, &rc, 0, nil)
	wantCode(t, err, wire.CodeBadSize)
}

func TestPassword(t *testing.T) {
	tr := startRelay(t, func(c *relay.Config) { c.Password = []byte("group secret") })
	ctx := tctx(t)
	c := tr.dial(t)
	k, _ := crypto.GenerateSign(nil)
	_, _, err := c.New(ctx, k, nil)
	wantCode(t, err, wire.CodePassword)
	_, _, err = c.New(ctx, k, []byte("wrong"))
	wantCode(t, err, wire.CodePassword)
	if _, _, err := c.New(ctx, k, []byte("group secret")); err != nil {
		t.Fatal(err)
	}
	var wc [32]byte
	_, err = c.NewLog(ctx, &wc, &wc, time.Hour, nil)
	wantCode(t, err, wire.CodePassword)
	if _, err := c.NewLog(ctx, &wc, &wc, time.Hour, []byte("group secret")); err != nil {
		t.Fatal(err)
	}
	// PUT needs it too (§7.2): without it, anyone could fill the relay.
	blob := crypto.ID{7}
	wantCode(t, c.Put(ctx, blob, time.Hour, nil, body(1024, 1)), wire.CodePassword)
	wantCode(t, c.Put(ctx, blob, time.Hour, []byte("wrong"), body(1024, 1)), wire.CodePassword)
	if err := c.Put(ctx, blob, time.Hour, []byte("group secret"), body(1024, 1)); err != nil {
		t.Fatal(err)
	}
	// TAKE does not: the joiner of an invite may know no password.
	if _, err := tr.dial(t).Take(ctx, blob); err != nil {
		t.Fatal(err)
	}
}

func TestTTLExpiry(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	c := tr.dial(t)
	m := newMailbox(t, c)
	if err := c.Send(ctx, m.sid, &m.cap, body(1024, 1)); err != nil {
		t.Fatal(err)
	}
	blob, _ := crypto.NewID(nil)
	if err := c.Put(ctx, blob, time.Minute, nil, body(1024, 2)); err != nil {
		t.Fatal(err)
	}
	tr.clock.Advance(relay.DefaultLimits.MessageTTL + time.Second)
	if err := tr.srv.ExpireNow(ctx); err != nil {
		t.Fatal(err)
	}
	if msgs, err := tr.store.Pending(ctx, m.rid, 0, 10); err != nil || len(msgs) != 0 {
		t.Fatalf("expired message still pending: %d, %v", len(msgs), err)
	}
	_, err := c.Take(ctx, blob)
	wantCode(t, err, wire.CodeNotFound)
	// The next message has seq 2 and is the first one delivered.
	if err := c.Send(ctx, m.sid, &m.cap, body(1024, 3)); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatal(err)
	}
	if p := nextPush(t, c); p.Seq != 2 || p.Body[0] != 3 {
		t.Fatalf("first delivery seq %d", p.Seq)
	}
	// An idle mailbox disappears after MailboxIdle.
	tr.clock.Advance(relay.DefaultLimits.MailboxIdle + 48*time.Hour)
	if err := tr.srv.ExpireNow(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.store.Mailbox(ctx, m.rid); err == nil {
		t.Fatal("idle mailbox survived")
	}
}

func TestIdentityPersists(t *testing.T) {
	dir := t.TempDir()
	k1, err := relay.LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := relay.LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k1.Public() != k2.Public() {
		t.Fatal("identity changed across restarts")
	}
	fi, err := statIdentity(dir)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file mode %v, %v", fi.Mode(), err)
	}
	if err := writeIdentity(dir, []byte("short")); err != nil {
		t.Fatal(err)
	}
	if _, err := relay.LoadOrCreateIdentity(dir); err == nil {
		t.Fatal("corrupt identity accepted")
	}
}

// TestConcurrentSendsDeliveredOnceInOrder races SENDs from several
// connections against delivery (direct pushes, the delivery goroutine and
// a full window): every message arrives exactly once, in seq order.
func TestConcurrentSendsDeliveredOnceInOrder(t *testing.T) {
	tr := startRelay(t, func(c *relay.Config) { c.Limits.Window = 8 })
	ctx := tctx(t)
	recv := tr.dial(t)
	m := newMailbox(t, recv)
	if err := recv.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatal(err)
	}
	const senders, each = 4, 100
	var wg sync.WaitGroup
	for range senders {
		s := tr.dial(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if err := s.Send(ctx, m.sid, &m.cap, body(1024, 1)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	last := uint64(0)
	for range senders * each {
		p := nextPush(t, recv)
		if p.Seq <= last {
			t.Fatalf("seq %d after %d: duplicate or out of order", p.Seq, last)
		}
		last = p.Seq
		if err := recv.Ack(ctx, m.rid, p.Seq); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if last != senders*each {
		t.Fatalf("last seq %d", last)
	}
	healthy(t, recv)
	if n := len(recv.Pushes()); n != 0 {
		t.Fatalf("%d extra pushes", n)
	}
}
