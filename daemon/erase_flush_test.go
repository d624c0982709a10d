package daemon

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"veil/relay/relaytest"
	"veil/relay/wire"
)

// sendGate is a relay Observer that holds the first SEND it sees once
// armed (the relay answers it only when the gate opens) and counts the
// SENDs to the same mailbox, the held one included.
type sendGate struct {
	mu    sync.Mutex
	armed bool
	held  chan struct{} // closed when a SEND is held
	open  chan struct{} // closed by the test to let it go
	box   [24]byte      // the held SEND's mailbox
	sends int
	holds bool // a SEND was held
}

func newSendGate() *sendGate {
	return &sendGate{held: make(chan struct{}), open: make(chan struct{})}
}

func (g *sendGate) Conn(uint64, netip.AddrPort) {}

func (g *sendGate) Item(_ uint64, typ byte, ids [][24]byte, _ int, _ time.Time) {
	if wire.Type(typ) != wire.TypeSEND || len(ids) == 0 {
		return
	}
	g.mu.Lock()
	if !g.armed {
		g.mu.Unlock()
		return
	}
	first := !g.holds
	if first {
		g.holds, g.box = true, ids[0]
	}
	if ids[0] == g.box {
		g.sends++
	}
	g.mu.Unlock()
	if first {
		close(g.held)
		<-g.open
	}
}

func (g *sendGate) arm() {
	g.mu.Lock()
	g.armed = true
	g.mu.Unlock()
}

func (g *sendGate) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sends
}

// TestEraseStopsFlushInProgress attacks spec/api.md's erase: "the engine
// stops at once, without the outbox flush of lock, so nothing queued
// leaves after the erase was asked". A flush asked on another connection
// (or the engine's own) is sending the outbox when `veil panic` comes:
// the items it has not sent yet must stay unsent, and the erase must not
// wait for them.
func TestEraseStopsFlushInProgress(t *testing.T) {
	gate := newSendGate()
	r := relaytest.Start(t, relaytest.WithObserver(gate))
	ana, ben := newPeer(t, r.Address.String()), newPeer(t, r.Address.String())
	anaChat, _, _, _ := pairPeers(t, ana, ben)

	gate.arm()
	const n = 6
	for i := range n {
		must(t, ana.c, "send", map[string]any{"chat": anaChat, "text": "queued " + string(rune('a'+i))}, nil)
	}
	flushing := dial(t, ana.dir)
	go func() { _ = do(t, flushing, "flush", nil, nil) }()
	select {
	case <-gate.held:
	case <-time.After(waitLimit):
		t.Fatal("no SEND reached the relay")
	}

	erased := make(chan error, 1)
	go func() { erased <- do(t, dial(t, ana.dir), "erase", nil, nil) }()
	// Let the held SEND go once the erase has begun to stop the engine.
	for !eraseBegun(ana.s) {
		select {
		case err := <-erased:
			t.Fatalf("erase answered before it stopped the engine: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	close(gate.open)
	select {
	case err := <-erased:
		if err != nil {
			t.Fatalf("erase: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("erase waited for the flush")
	}
	// The flush's connection is closed by the erase; anything it still
	// sent would have reached the relay before the erase's answer.
	if got := gate.count(); got != 1 {
		t.Fatalf("%d of the %d queued messages reached the relay, %d of them after the erase was asked; want only the one in flight", got, n, got-1)
	}
}

// eraseBegun reports whether an erase has told s's engine not to flush.
func eraseBegun(s *Server) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.noFlush != nil && s.noFlush.Load()
}
