package relay_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"veil/relay"
	"veil/relay/wire"
)

// stallObserver blocks the first SEND it is told about once armed, until
// release is closed.
type stallObserver struct {
	mu      sync.Mutex
	armed   bool
	entered chan struct{}
	release chan struct{}
}

func (o *stallObserver) Conn(uint64, netip.AddrPort) {}

func (o *stallObserver) Item(_ uint64, typ byte, _ [][24]byte, _ int, _ time.Time) {
	if wire.Type(typ) != wire.TypeSEND {
		return
	}
	o.mu.Lock()
	stall := o.armed
	o.armed = false
	o.mu.Unlock()
	if stall {
		close(o.entered)
		<-o.release
	}
}

// TestAsyncSlowObserverStallsOnlyItsConnection: the Observer is told
// about a SEND after it was handled; an Observer that takes its time over
// one connection's SEND must not hold up another connection's SEND. The
// Observer's contract (Config.Observer) asks nothing of its speed, and on
// a store without AsyncWriter the call runs on the command's goroutine.
func TestAsyncSlowObserverStallsOnlyItsConnection(t *testing.T) {
	obs := &stallObserver{entered: make(chan struct{}), release: make(chan struct{})}
	tr, _ := badgerRelay(t, func(c *relay.Config) { c.Observer = obs })
	t.Cleanup(func() {
		select {
		case <-obs.release:
		default:
			close(obs.release)
		}
	}) // runs before the relay stops
	ctx := tctx(t)
	a, b := tr.dial(t), tr.dial(t)
	ma, mb := newMailbox(t, a), newMailbox(t, b)
	obs.mu.Lock()
	obs.armed = true
	obs.mu.Unlock()
	go a.Send(ctx, ma.sid, &ma.cap, body(wire.MinBucket, 1)) // its Observer call stalls
	select {
	case <-obs.entered:
	case <-ctx.Done():
		t.Fatal("the Observer never saw the SEND")
	}
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.Send(bctx, mb.sid, &mb.cap, body(wire.MinBucket, 2)); err != nil {
		t.Fatalf("another connection's SEND while the Observer handles one: %v", err)
	}
	close(obs.release)
}
