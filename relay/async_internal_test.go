package relay

import (
	"testing"

	"veil/crypto"
	"veil/relay/store/memory"
	"veil/relay/wire"
)

// TestFinishAsyncKeepsTokenWhileBehind: a SEND or ACK that completes on
// the store's writer while more than maxQueuedReplies wait for the
// client keeps its in-flight token, so a client that stops reading runs
// out of tokens and the reader stops (spec/relay.md §11); the writer
// gives the tokens back once the queue is below the bound again, and
// every token comes back when the writer stops.
func TestFinishAsyncKeepsTokenWhileBehind(t *testing.T) {
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Store: memory.New(memory.Config{}), Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	c := &session{s: srv, sem: make(chan struct{}, 4), drained: make(chan struct{})}
	c.writing = true // a writer runs and is stuck on a client that does not read
	c.queued = maxQueuedReplies
	take := func() {
		select {
		case c.sem <- struct{}{}:
		default:
			t.Fatal("no in-flight token left")
		}
	}
	for i := range 3 {
		take()
		c.finishAsync(&command{f: wire.Frame{Type: wire.TypeACK, CID: uint32(i)}}, srv.now(), 0)
	}
	if len(c.sem) != 3 || c.held != 3 {
		t.Fatalf("behind the client: %d tokens taken, %d held; want 3 and 3", len(c.sem), c.held)
	}
	if len(c.out) != 3 {
		t.Fatalf("%d replies queued, want 3", len(c.out))
	}
	// Below the bound: a command finishing now gives its token back at
	// once, and the writer's release gives back the rest.
	c.queued = 0
	take()
	c.finishAsync(&command{f: wire.Frame{Type: wire.TypeSEND, CID: 9}}, srv.now(), wire.CodeAuth)
	if len(c.sem) != 3 || c.held != 3 {
		t.Fatalf("under the bound: %d tokens taken, %d held; want 3 and 3", len(c.sem), c.held)
	}
	if last := c.out[len(c.out)-1]; last.Type != wire.TypeERR || last.Code != wire.CodeAuth || last.CID != 9 {
		t.Fatalf("reply %+v, want ERR AUTH to CID 9", last)
	}
	c.outMu.Lock()
	c.releaseHeldLocked()
	c.outMu.Unlock()
	if len(c.sem) != 0 || c.held != 0 {
		t.Fatalf("after the writer caught up: %d tokens taken, %d held", len(c.sem), c.held)
	}
}
