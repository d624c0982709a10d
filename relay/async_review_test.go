package relay_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/relay/store/badger"
	"veil/relay/wire"
)

// badgerRelay runs a relay on a Badger store in a fresh directory, the
// store whose writes SEND and ACK hand over without waiting (AsyncWriter).
func badgerRelay(t testing.TB, opts ...relayOpt) (*testRelay, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := badger.Open(badger.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Now()}
	cfg := relay.Config{Store: st, Identity: id}
	for _, o := range opts {
		o(&cfg)
	}
	return serveRelay(t, cfg, clock), dir
}

// TestAsyncDrainUnderFlood: a relay on Badger is drained while one client
// floods SENDs and its subscriber ACKs what arrives. Drain returns, every
// SEND answered OK is on disk afterwards unless an ACK of it was answered
// OK (§8.5), and the subscriber saw its MSGs in seq order, each once,
// never more than Window of them unacknowledged (§8.2).
func TestAsyncDrainUnderFlood(t *testing.T) {
	const window = 8
	tr, dir := badgerRelay(t, fastRelay, func(c *relay.Config) { c.Limits.Window = window })
	ctx := tctx(t)
	snd, rcv := tr.dial(t), tr.dial(t)
	m := newMailbox(t, snd)
	if err := rcv.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	okBodies := map[string]bool{}
	pushed := map[uint64]string{}
	ackedOK := map[uint64]bool{}
	var fail []string
	failf := func(s string) {
		mu.Lock()
		fail = append(fail, s)
		mu.Unlock()
	}
	enough := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() { // ends when the relay stops answering
			for i := 0; ; i++ {
				b := body(wire.MinBucket, 0)
				b[0], b[1], b[2], b[3] = byte(g), byte(i), byte(i>>8), byte(i>>16)
				if err := snd.Send(ctx, m.sid, &m.cap, b); err != nil {
					return
				}
				mu.Lock()
				okBodies[string(b)] = true
				if len(okBodies) >= 400 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		})
	}
	wg.Go(func() { // the subscriber: ends when the connection does
		var last uint64
		var unacked []uint64
		for p := range rcv.Pushes() {
			if p.Type != wire.TypeMSG {
				continue
			}
			if p.Seq <= last {
				failf("MSG " + itoa(int(p.Seq)) + " after " + itoa(int(last)))
			}
			last = p.Seq
			mu.Lock()
			pushed[p.Seq] = string(p.Body)
			mu.Unlock()
			unacked = append(unacked, p.Seq)
			if len(unacked) > window {
				failf("more than the window of MSGs unacknowledged")
			}
			if len(unacked) < window {
				continue
			}
			for _, seq := range unacked {
				rcv.AckAsync(m.rid, seq, func(err error) {
					if err == nil {
						mu.Lock()
						ackedOK[seq] = true
						mu.Unlock()
					}
				})
			}
			unacked = unacked[:0]
		}
	})
	select {
	case <-enough:
	case <-ctx.Done():
		t.Fatal("the flood got too few OKs")
	}
	stopped := make(chan struct{})
	go func() { tr.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Drain under a flood of SEND and ACK did not return")
	}
	snd.Close()
	rcv.Close()
	wg.Wait()
	if err := tr.store.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range fail {
		t.Error(f)
	}
	st, err := badger.Open(badger.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	msgs, err := st.Pending(context.Background(), m.rid, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]uint64{}
	for _, x := range msgs {
		if ackedOK[x.Seq] {
			t.Errorf("message %d is back after its ACK was answered OK", x.Seq)
		}
		have[string(x.Body)] = x.Seq
	}
	gone := map[string]bool{}
	for seq, b := range pushed {
		if ackedOK[seq] {
			gone[b] = true
		}
	}
	lost := 0
	for b := range okBodies {
		if _, ok := have[b]; !ok && !gone[b] {
			lost++
		}
	}
	t.Logf("%d SENDs answered OK, %d pushed, %d ACKs answered OK, %d on disk", len(okBodies), len(pushed), len(ackedOK), len(msgs))
	if lost != 0 {
		t.Fatalf("%d messages answered OK are not on disk after Drain", lost)
	}
}

// TestAsyncClosedStore: with its Badger store closed under it, a relay
// answers SEND and ACK with SHUTDOWN (§10), never OK, without panicking
// or hanging, keeps the connection, and still stops.
func TestAsyncClosedStore(t *testing.T) {
	tr, _ := badgerRelay(t, fastRelay)
	ctx := tctx(t)
	c := tr.dial(t)
	m := newMailbox(t, c)
	if err := c.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, m.sid, &m.cap, body(wire.MinBucket, 1)); err != nil {
		t.Fatal(err)
	}
	p := nextPush(t, c)
	if err := tr.store.Close(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Send(ctx, m.sid, &m.cap, body(wire.MinBucket, 2)), wire.CodeShutdown)
	wantCode(t, c.Ack(ctx, m.rid, p.Seq), wire.CodeShutdown)
	healthy(t, c)
	tr.stop()
}

// TestAsyncClientGoneWithWritesQueued: clients that hand the relay a
// window's worth of SENDs and ACKs and drop the connection at once leave
// nothing behind: the relay still drains and stops.
func TestAsyncClientGoneWithWritesQueued(t *testing.T) {
	tr, _ := badgerRelay(t, fastRelay)
	ctx := tctx(t)
	setup := tr.dial(t)
	m := newMailbox(t, setup)
	for range 20 {
		c := tr.dial(t)
		if err := c.Subscribe(ctx, m.rid, m.key); err != nil {
			t.Fatal(err)
		}
		for i := range 200 {
			c.SendAsync(m.sid, &m.cap, body(wire.MinBucket, byte(i)), func(error) {})
			c.AckAsync(m.rid, uint64(i+1), func(error) {})
		}
		c.Close()
	}
	healthy(t, setup)
	stopped := make(chan struct{})
	go func() { tr.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("the relay did not stop after clients left with writes queued")
	}
}
