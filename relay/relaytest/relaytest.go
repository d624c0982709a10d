// Package relaytest runs a real relay for other packages' tests: an
// in-memory store, a fresh identity, a listener on 127.0.0.1.
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
	stop    func()
}

// Start runs a relay until the test ends (or Stop); opts may change its
// configuration before it starts.
func Start(t testing.TB, opts ...func(*relay.Config)) *Relay {
	t.Helper()
	st := memory.New(memory.Config{})
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := relay.Config{Store: st, Identity: id}
	for _, o := range opts {
		o(&cfg)
	}
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
	go func() { done <- srv.Serve(ctx, ln, nil) }()
	r := &Relay{Address: srv.Address("127.0.0.1", uint16(ln.Addr().(*net.TCPAddr).Port), false)}
	r.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay: %v", err)
		}
		st.Close()
	})
	t.Cleanup(r.stop)
	return r
}

// Stop stops the relay and closes its store; later calls do nothing.
func (r *Relay) Stop() { r.stop() }
