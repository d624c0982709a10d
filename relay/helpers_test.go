package relay_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/relaytest"
	"veil/relay/store"
	"veil/relay/store/memory"
	"veil/relay/wire"
)

// testClock is an injectable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type testRelay struct {
	srv   *relay.Server
	store store.Store
	addr  wire.Address
	clock *testClock
	stop  func()
}

type relayOpt func(*relay.Config)

// startRelay runs a real relay with a memory store on 127.0.0.1 and stops
// it when the test ends.
func startRelay(t testing.TB, opts ...relayOpt) *testRelay {
	t.Helper()
	clock := &testClock{t: time.Now()}
	st := memory.New(memory.Config{Now: clock.Now})
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := relay.Config{Store: st, Identity: id, Now: clock.Now}
	for _, o := range opts {
		o(&cfg)
	}
	return serveRelay(t, cfg, clock)
}

func serveRelay(t testing.TB, cfg relay.Config, clock *testClock) *testRelay {
	t.Helper()
	r := relaytest.Serve(t, cfg)
	return &testRelay{srv: r.Server, store: cfg.Store, addr: r.Address, clock: clock, stop: r.Stop}
}

func (tr *testRelay) dial(t testing.TB) *conn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := conn.DialAddress(ctx, tr.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// raw dials a raw wire connection (relaytest.Raw) for traffic a client
// would never send.
func (tr *testRelay) raw(t testing.TB) *relaytest.Raw {
	t.Helper()
	return relaytest.DialRaw(t, tr.addr)
}

// healthyRaw is healthy for a raw connection.
func healthyRaw(t testing.TB, r *relaytest.Raw) {
	t.Helper()
	if err := r.Ping(tctx(t)); err != nil {
		t.Fatalf("connection unhealthy: %v", err)
	}
}

func tctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mailbox is a secured mailbox for tests.
type mailbox struct {
	key      crypto.SignPrivate
	rid, sid crypto.ID
	cap      [32]byte
}

func newMailbox(t testing.TB, c *conn.Conn) *mailbox {
	t.Helper()
	ctx := tctx(t)
	k, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	m := &mailbox{key: k}
	if m.rid, m.sid, err = c.New(ctx, k, nil); err != nil {
		t.Fatalf("NEW: %v", err)
	}
	if err := crypto.RandomBytes(nil, m.cap[:]); err != nil {
		t.Fatal(err)
	}
	if err := c.SecureSender(ctx, m.sid, &m.cap); err != nil {
		t.Fatalf("SKEY: %v", err)
	}
	return m
}

func body(n int, b byte) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// wantCode fails unless err is an ERR reply with code.
func wantCode(t testing.TB, err error, code wire.Code) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != code {
		t.Fatalf("err = %v, want ERR %v", err, code)
	}
}

// nextPush returns the next push or fails after a generous bound.
func nextPush(t testing.TB, c *conn.Conn) conn.Push {
	t.Helper()
	select {
	case p, ok := <-c.Pushes():
		if !ok {
			t.Fatalf("connection ended: %v", c.Err())
		}
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no push within 10s")
	}
	return conn.Push{}
}

// healthy checks that c still works.
func healthy(t testing.TB, c *conn.Conn) {
	t.Helper()
	if err := c.Ping(tctx(t)); err != nil {
		t.Fatalf("connection unhealthy: %v", err)
	}
}
