package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"veil/client"
	"veil/crypto"
	"veil/daemon/rpc"
	"veil/vault"
)

// These tests run the API over real parts: engines on real vaults in
// t.TempDir() (with a cheap KDF), a real relay on 127.0.0.1, real Unix
// sockets. They wait on answers and notifications, never on the clock.

const (
	testPIN   = "2468 1357"
	duressPIN = "9753 1864"
	waitLimit = 20 * time.Second
)

// testProfile is a Profile over a vault in a temporary directory: Unlock
// opens it and sets it up on first use, Erase wipes it.
type testProfile struct {
	dir   string // the vault's directory
	relay string // the default relay Setup stores ("" none)
	clock *fakeClock

	mu      sync.Mutex
	engines []*client.Engine // every engine Unlock returned, oldest first
}

func (p *testProfile) options() vault.Options {
	o := vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1}
	if p.clock != nil {
		o.Now = p.clock.Now
	}
	return o
}

// newTestProfile creates a profile with testPIN (and the duress PIN of
// opts, if any) in a new directory under parent.
func newTestProfile(tb testing.TB, parent, relay string, clock *fakeClock, opts client.CreateOptions) *testProfile {
	tb.Helper()
	p := &testProfile{dir: filepath.Join(parent, "vault"), relay: relay, clock: clock}
	eng, err := client.Create(context.Background(), client.Config{Dir: p.dir, Vault: p.options()}, []byte(testPIN), opts)
	if err != nil {
		tb.Fatal(err)
	}
	if err := eng.Close(); err != nil {
		tb.Fatal(err)
	}
	return p
}

func (p *testProfile) Unlock(ctx context.Context, pin []byte, events chan<- client.Event) (*Session, error) {
	eng, err := client.Open(ctx, client.Config{Dir: p.dir, Vault: p.options(), Events: events}, pin)
	if err != nil {
		return nil, err
	}
	ok, err := eng.Initialized(ctx)
	if err == nil && !ok {
		err = eng.Setup(ctx, p.relay)
	}
	if err != nil {
		eng.Close()
		return nil, err
	}
	p.mu.Lock()
	p.engines = append(p.engines, eng)
	p.mu.Unlock()
	return &Session{Engine: eng, Close: func() { eng.Close() }}, nil
}

func (p *testProfile) Erase(ctx context.Context) error {
	o := p.options()
	return vault.WipeProfile(ctx, p.dir, &o)
}

func (p *testProfile) Backup(context.Context, *client.Engine, string, []byte) error {
	return errors.New("daemon test: no backup in tests")
}

// lastEngine is the engine of the newest session.
func (p *testProfile) lastEngine() *client.Engine {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.engines[len(p.engines)-1]
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// serve listens on the API socket in dir and serves s there until the
// test ends.
func serve(tb testing.TB, s *Server, dir string) *Listener {
	tb.Helper()
	l, err := Listen(dir)
	if err != nil {
		tb.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	tb.Cleanup(func() {
		l.Close()
		if err := <-served; err != nil {
			tb.Errorf("serve: %v", err)
		}
		s.Shutdown()
	})
	return l
}

// dial connects to the API socket in dir until the test ends.
func dial(tb testing.TB, dir string) *Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// pipe connects to s in process.
func pipe(tb testing.TB, s *Server) *Client {
	tb.Helper()
	a, b := net.Pipe()
	go s.ServeConn(a)
	c := NewClient(b)
	tb.Cleanup(func() { c.Close() })
	return c
}

// do calls method and returns its error (a *rpc.Error when the server
// answered one), failing the test if no answer comes in time.
func do(tb testing.TB, c *Client, method string, params, result any) error {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
	defer cancel()
	err := c.Call(ctx, method, params, result)
	if errors.Is(err, context.DeadlineExceeded) {
		tb.Fatalf("%s: no answer", method)
	}
	return err
}

// must calls method and fails the test on an error.
func must(tb testing.TB, c *Client, method string, params, result any) {
	tb.Helper()
	if err := do(tb, c, method, params, result); err != nil {
		tb.Fatalf("%s: %v", method, err)
	}
}

// apiError is err as the server's error, failing the test if it is not one.
func apiError(tb testing.TB, err error) *rpc.Error {
	tb.Helper()
	var re *rpc.Error
	if !errors.As(err, &re) {
		tb.Fatalf("want an error from the server, got %v", err)
	}
	return re
}

// wantCode fails the test unless err is the server's error code with data
// of the given kind ("" for any).
func wantCode(tb testing.TB, err error, code int, kind string) *rpc.Error {
	tb.Helper()
	re := apiError(tb, err)
	if re.Code != code || kind != "" && (re.Data == nil || re.Data.Kind != kind) {
		tb.Fatalf("got error %d %q (data %+v), want code %d kind %q", re.Code, re.Message, re.Data, code, kind)
	}
	return re
}

// nextNote waits for c's next notification.
func nextNote(tb testing.TB, c *Client) Note {
	tb.Helper()
	select {
	case n, ok := <-c.Notes():
		if !ok {
			tb.Fatal("the connection ended while waiting for a notification")
		}
		return n
	case <-time.After(waitLimit):
		tb.Fatal("no notification in time")
	}
	panic("unreachable")
}

// nextEvent waits for c's next event notification, failing on any other.
func nextEvent(tb testing.TB, c *Client) EventNote {
	tb.Helper()
	n := nextNote(tb, c)
	if n.Method != NoteEvent {
		tb.Fatalf("got notification %s %s, want an event", n.Method, n.Params)
	}
	var e EventNote
	if err := json.Unmarshal(n.Params, &e); err != nil {
		tb.Fatal(err)
	}
	return e
}

// unlockedServer is a Server over a new profile, unlocked with testPIN.
func unlockedServer(tb testing.TB, cfg Config, relay string) (*Server, *testProfile) {
	tb.Helper()
	p := newTestProfile(tb, tb.TempDir(), relay, nil, client.CreateOptions{})
	cfg.Profile = p
	if cfg.UID == 0 {
		cfg.UID = -1
	}
	s := New(cfg)
	if err := s.Unlock(context.Background(), []byte(testPIN)); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Shutdown)
	return s, p
}
