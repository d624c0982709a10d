package relay

import (
	"sync"
	"testing"
	"time"

	"veil/relay/wire"
)

// TestForwardDestRefsSurviveSweep runs dest and release against sweeps:
// a destination dest returned must stay in the table until released.
func TestForwardDestRefsSurviveSweep(t *testing.T) {
	var fw forwarder
	l := Limits{}.withDefaults()
	a, err := wire.ParseAddress("veil://192.0.2.1:4433#" + wire.Fingerprint{1}.String())
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				fw.sweep(time.Now(), 0)
			}
		}
	})
	var users sync.WaitGroup
	for range 4 {
		users.Go(func() {
			for range 2000 {
				d, code := fw.dest(a, l)
				if code != 0 {
					t.Error(code)
					return
				}
				fw.mu.Lock()
				kept := fw.dests[a.String()] == d
				fw.mu.Unlock()
				if !kept {
					t.Error("a destination in use was swept")
					return
				}
				fw.release(d)
			}
		})
	}
	users.Wait()
	close(stop)
	wg.Wait()
	fw.sweep(time.Now(), 0)
	if len(fw.dests) != 0 {
		t.Fatalf("%d destinations left after the last release", len(fw.dests))
	}
}

// TestForwardFailedDestDropped checks that a failed destination leaves
// the table once nothing refers to it, and stays while something does.
func TestForwardFailedDestDropped(t *testing.T) {
	var fw forwarder
	l := Limits{}.withDefaults()
	a, err := wire.ParseAddress("veil://192.0.2.1:4433#" + wire.Fingerprint{1}.String())
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := fw.dest(a, l)
	d2, _ := fw.dest(a, l)
	if d1 != d2 {
		t.Fatal("two states for one destination")
	}
	fw.releaseFailed(d1)
	if len(fw.dests) != 1 {
		t.Fatal("dropped while still referred to")
	}
	fw.releaseFailed(d2)
	if len(fw.dests) != 0 {
		t.Fatal("a failed destination kept its place")
	}
}
