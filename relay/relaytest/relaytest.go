// Package relaytest runs a real relay for tests: an in-memory store, a
// fresh identity, a listener on 127.0.0.1 (Start), or a configuration of
// the test's own (Serve, ServeExact); it can restart a relay on the same port
// (Restart), record what a relay sees (Recorder) and give a relay's
// relay-to-relay connections a local address (DialFrom).
package relaytest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"

	"veil/crypto"
	"veil/relay"
	"veil/relay/store/memory"
	"veil/relay/wire"
)

// Relay is a running test relay. Its methods are for the test's
// goroutine: they are not safe for concurrent use.
type Relay struct {
	// Address is the relay's veil+ws:// address, fingerprint included.
	// It stays the same across Restart.
	Address wire.Address
	// Server is the relay itself; Restart replaces it.
	Server *relay.Server
	t      testing.TB
	cfg    relay.Config
	stop   func()
}

// Start runs a relay with a memory store and a fresh identity until the
// test ends (or Stop); opts may change its configuration before it starts.
func Start(t testing.TB, opts ...func(*relay.Config)) *Relay {
	t.Helper()
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := relay.Config{Store: memory.New(memory.Config{}), Identity: id}
	for _, o := range opts {
		o(&cfg)
	}
	return Serve(t, cfg)
}

// Serve runs a relay for cfg on 127.0.0.1 until the test ends (or Stop).
// cfg.Store is closed when the test ends. The relay forwards to
// destinations that are not public (cfg.ForwardPrivate is set): test
// relays listen on loopback addresses.
func Serve(t testing.TB, cfg relay.Config) *Relay {
	t.Helper()
	cfg.ForwardPrivate = true
	return ServeExact(t, cfg)
}

// ServeExact is Serve with cfg exactly as given: a relay that forwards
// only to public addresses unless cfg.ForwardPrivate is set.
func ServeExact(t testing.TB, cfg relay.Config) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{t: t, cfg: cfg}
	r.serve(ln)
	r.Address = r.Server.Address("127.0.0.1", uint16(ln.Addr().(*net.TCPAddr).Port), false)
	t.Cleanup(func() {
		r.stop()
		cfg.Store.Close()
	})
	return r
}

func (r *Relay) serve(ln net.Listener) {
	r.t.Helper()
	srv, err := relay.New(r.cfg)
	if err != nil {
		ln.Close()
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, nil) }() // owned by the Relay: stop ends it
	r.Server = srv
	t := r.t
	r.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay: %v", err)
		}
	})
}

// Stop drains and stops the relay (its store stays open until the test
// ends); later calls do nothing.
func (r *Relay) Stop() { r.stop() }

// Restart stops the relay if it runs and starts it again on the same
// port with the same store, identity and configuration: clients see the
// same address, and what the store held is still there.
func (r *Relay) Restart() {
	r.t.Helper()
	r.stop()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", r.Address.Port))
	if err != nil {
		r.t.Fatalf("relaytest: restart: %v", err)
	}
	r.serve(ln)
}

// WithObserver sets the relay's Observer (a *Recorder, say).
func WithObserver(o relay.Observer) func(*relay.Config) {
	return func(c *relay.Config) { c.Observer = o }
}

// AsOlderRelay makes the relay answer UNKNOWN to FKEY without a
// destination and to RFWD, as a relay older than forwarding does: a
// destination that does not take forwarded items.
func AsOlderRelay() func(*relay.Config) {
	return func(c *relay.Config) { c.NoDestination = true }
}

// WithoutChunks makes the relay answer UNKNOWN to the chunk commands
// (CPUT, CGET, CDEL, CROOM), as a relay older than file attachments does.
func WithoutChunks() func(*relay.Config) {
	return func(c *relay.Config) { c.NoChunks = true }
}

// WithoutPutPassword makes the relay handle PUT as a relay older than
// PUT's password field does (spec/relay.md §7.2): a long-form PUT is
// BAD_SIZE, and a short one needs no password even where NEW does.
func WithoutPutPassword() func(*relay.Config) {
	return func(c *relay.Config) { c.NoPutPassword = true }
}

// WithR2RFrom makes the relay's relay-to-relay connections come from
// the local address ip (a loopback address such as 127.0.0.4).
func WithR2RFrom(ip string) func(*relay.Config) {
	return func(c *relay.Config) { c.DialR2R = DialFrom(ip) }
}

// DialFrom returns a dial function whose TCP connections have the local
// address ip (any port): for conn.Options.Dial and relay.Config.DialR2R,
// so a test can tell connections apart by address (127.0.0.2 from
// 127.0.0.4, say; every 127/8 address is local on Linux).
func DialFrom(ip string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return d.DialContext
}
