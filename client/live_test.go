package client

import (
	"context"
	"sync"
	"testing"
	"time"
)

// live is a real engine running (Run) against real relays, with every
// event it emits kept for the test.
type live struct {
	*Engine
	mu  sync.Mutex
	evs []Event
}

// startLive creates an engine whose default relay is addr (cfg changes
// its configuration first) and runs it until the test ends.
func startLive(t *testing.T, addr string, cfg func(*Config)) *live {
	t.Helper()
	ch := make(chan Event, 64)
	e := relayEngine(t, addr, func(c *Config) {
		c.Events = ch
		if cfg != nil {
			cfg(c)
		}
	})
	l := &live{Engine: e}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case ev := <-ch:
				l.mu.Lock()
				l.evs = append(l.evs, ev)
				l.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	})
	wg.Go(func() { e.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return l
}

// events returns every event so far.
func (l *live) events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.evs...)
}

// waitFor waits up to 15 s for an event ok accepts.
func (l *live) waitFor(t *testing.T, what string, ok func(Event) bool) Event {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, ev := range l.events() {
			if ok(ev) {
				return ev
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s within 15 s; events: %+v", what, l.events())
	return Event{}
}

// waitText waits for the message text in chat.
func (l *live) waitText(t *testing.T, chat, text string) {
	t.Helper()
	l.waitFor(t, "message "+text, func(ev Event) bool {
		return ev.Type == EventMessage && ev.Chat == chat && ev.Text == text
	})
}

// liveChat makes a chat between a and b through the relays (a invites
// with ia, b joins with jb) and waits until each has heard the other.
func liveChat(t *testing.T, a, b *live, ia InviteOptions, jb JoinOptions) (aChat, bChat string) {
	t.Helper()
	ctx := context.Background()
	key, aChat, err := a.Invite(ctx, ia)
	if err != nil {
		t.Fatal(err)
	}
	if bChat, err = b.Join(ctx, key, jb); err != nil {
		t.Fatal(err)
	}
	b.kickOutbox()
	a.waitFor(t, "contact_joined", func(ev Event) bool { return ev.Type == EventContactJoined && ev.Chat == aChat })
	say(t, a, aChat, "hello from a")
	b.waitText(t, bChat, "hello from a")
	say(t, b, bChat, "hello from b")
	a.waitText(t, aChat, "hello from b")
	return aChat, bChat
}

// say queues text in chat; Run sends it.
func say(t *testing.T, l *live, chat, text string) {
	t.Helper()
	if _, err := l.Send(context.Background(), chat, text, SendOptions{}); err != nil {
		t.Fatal(err)
	}
	l.kickOutbox()
}
