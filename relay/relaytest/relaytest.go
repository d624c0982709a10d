// Package relaytest runs a real relay for tests: an in-memory store, a
// fresh identity, a listener on 127.0.0.1 (Start), or a configuration of
// the test's own (Serve).
package relaytest

import (
	"context"
	"net"
	"sync"
	"testing"

	"veil/crypto"
	"veil/relay"
	"veil/relay/store/memory"
	"veil/relay/wire"
)

// Relay is a running test relay.
type Relay struct {
	// Address is the relay's veil+ws:// address, fingerprint included.
	Address wire.Address
	// Server is the relay itself.
	Server *relay.Server
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
// cfg.Store is closed when the test ends.
func Serve(t testing.TB, cfg relay.Config) *Relay {
	t.Helper()
	srv, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, nil) }() // owned by the Relay: stop ends it
	r := &Relay{Address: srv.Address("127.0.0.1", uint16(ln.Addr().(*net.TCPAddr).Port), false), Server: srv}
	r.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay: %v", err)
		}
	})
	t.Cleanup(func() {
		r.stop()
		cfg.Store.Close()
	})
	return r
}

// Stop drains and stops the relay (its store stays open until the test
// ends); later calls do nothing.
func (r *Relay) Stop() { r.stop() }
