package relay

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestDrainedLazy: a session holds no drained channel until something
// waits for the writer; a waiter for push room, and one for the writer to
// finish, are woken when the writer empties the queue, and a later wait
// gets a fresh channel rather than the closed one.
func TestDrainedLazy(t *testing.T) {
	c := &session{}
	if c.drained != nil {
		t.Fatal("a new session holds a drained channel")
	}
	for round := range 2 {
		c.outMu.Lock()
		c.pushed, c.writing = maxQueuedPush, true
		c.outMu.Unlock()
		room := make(chan bool, 1)
		written := make(chan struct{})
		go func() { room <- c.waitPushRoom(context.Background()) }()
		go func() { c.waitWritten(context.Background()); close(written) }()
		// Whichever waits first makes the channel.
		for {
			c.outMu.Lock()
			made := c.drained != nil
			c.outMu.Unlock()
			if made {
				break
			}
			runtime.Gosched()
		}
		select {
		case <-room:
			t.Fatalf("round %d: push room before the writer emptied the queue", round)
		case <-written:
			t.Fatalf("round %d: written before the writer ended", round)
		default:
		}
		// The writer finds the queue empty and ends.
		c.wg.Add(1)
		c.writeLoop()
		select {
		case <-written:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: waitWritten not woken by the writer", round)
		}
		select {
		case ok := <-room:
			if !ok {
				t.Fatalf("round %d: waitPushRoom reported an ended context", round)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: waitPushRoom not woken by the writer", round)
		}
		if c.drained != nil {
			t.Fatalf("round %d: the writer kept the channel it closed", round)
		}
	}
}
