package client

import (
	"context"
	"testing"
)

// TestQueuedCount counts our queued 1:1 messages, not the control
// messages (the HELLO) beside them, and forgets them once sent.
func TestQueuedCount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	if n, err := ben.QueuedCount(ctx); n != 0 || err != nil {
		t.Fatalf("with only the HELLO queued: %d, %v", n, err)
	}
	for _, text := range []string{"one", "two"} {
		if _, err := ben.Send(ctx, chat, text, SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := ben.QueuedCount(ctx); n != 2 || err != nil {
		t.Fatalf("two messages queued: %d, %v", n, err)
	}
	pump(t, ben, ana, chat)
	if n, err := ben.QueuedCount(ctx); n != 0 || err != nil {
		t.Fatalf("after sending: %d, %v", n, err)
	}
}
