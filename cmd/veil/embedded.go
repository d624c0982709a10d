package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"veil/relay"
	"veil/relay/store/badger"
	"veil/relay/wire"
)

// embeddedRelay is the first-run relay: the real relay server with its
// Badger store under the profile directory, listening on 127.0.0.1 for as
// long as one veil command runs (architecture §6). It is a relay like any
// other: the client reaches it over the network and checks its fingerprint.
type embeddedRelay struct {
	addr   string
	cancel context.CancelFunc
	wg     sync.WaitGroup
	st     *badger.Store
}

// embeddedAddress returns the address the embedded relay in dir will have
// on port, creating its identity if needed.
func embeddedAddress(dir string, port int) (string, error) {
	id, err := relay.LoadOrCreateIdentity(dir)
	if err != nil {
		return "", err
	}
	a := wire.Address{Host: "127.0.0.1", Port: uint16(port), Fingerprint: wire.FingerprintOf(id.Public())}
	return a.String(), nil
}

func startEmbedded(dir string, port int) (*embeddedRelay, error) {
	id, err := relay.LoadOrCreateIdentity(dir)
	if err != nil {
		return nil, err
	}
	st, err := badger.Open(badger.Config{Dir: filepath.Join(dir, "store"), GCInterval: time.Hour, MemTableSize: 8 << 20})
	if err != nil {
		return nil, fmt.Errorf("embedded relay store: %w", err)
	}
	srv, err := relay.New(relay.Config{Store: st, Identity: id, Limits: relay.Limits{DrainTimeout: time.Second}})
	if err != nil {
		st.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("the embedded relay cannot listen on 127.0.0.1:%d: %w", port, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &embeddedRelay{addr: srv.Address("127.0.0.1", uint16(port), false).String(), cancel: cancel, st: st}
	r.wg.Go(func() { _ = srv.Serve(ctx, ln, nil) })
	return r, nil
}

// stop drains the relay and closes its store.
func (r *embeddedRelay) stop() {
	r.cancel()
	r.wg.Wait()
	r.st.Close()
}
