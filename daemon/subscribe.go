package daemon

import (
	"context"
	"encoding/json"

	"veil/client"
	"veil/daemon/rpc"
)

// Notifications the server sends (spec/api.md §5).
const (
	NoteEvent = "event"      // one event of the stream
	NoteEnd   = "stream_end" // the subscription ended; subscribe again
)

// EventNote is the params of an event notification.
type EventNote struct {
	Stream string       `json:"stream"`
	Seq    uint64       `json:"seq"`
	Event  client.Event `json:"event"`
}

// EndNote is the params of a stream_end notification.
type EndNote struct {
	Stream string `json:"stream"`
	// Reason is "locked" (the profile was locked; nothing of the stream
	// is kept), "gap" (this connection fell more than the server holds
	// behind); a later version may add others.
	Reason string `json:"reason"`
}

// SubscribeParams are subscribe's params: without After, the stream
// starts with the next event; with it and the Stream it was read from
// (required with After), with the event after After.
type SubscribeParams struct {
	Stream string  `json:"stream,omitempty"`
	After  *uint64 `json:"after,omitempty"`
}

// errGap is a resume point the server no longer holds.
type gapError struct{ msg string }

func (e *gapError) Error() string { return e.msg }

func subscribeMethod(_ context.Context, c *conn, _ *client.Engine, raw json.RawMessage) (any, func(), error) {
	var p SubscribeParams
	if err := rpc.DecodeParams(raw, &p); err != nil {
		return nil, nil, badParams("subscribe takes {\"stream\": STREAM, \"after\": SEQ}, both optional")
	}
	s := c.s
	s.mu.Lock()
	r := s.ring
	if r == nil {
		s.mu.Unlock()
		return nil, nil, errLocked
	}
	r.trim(s.cfg.Now())
	from := r.last()
	if p.After != nil {
		if p.Stream == "" {
			s.mu.Unlock()
			// A sequence number means nothing without its stream: it
			// could be another unlock's.
			return nil, nil, badParams("after needs the stream it was read from")
		}
		if p.Stream != r.stream {
			s.mu.Unlock()
			return nil, nil, &gapError{"the stream " + client.SanitizeLine(p.Stream) + " ended (the profile was locked or the daemon restarted): read the chats again, then subscribe without after"}
		}
		if *p.After > r.last() || *p.After+1 < r.oldest() {
			s.mu.Unlock()
			return nil, nil, &gapError{"the events after that sequence number are no longer held: read the chats again, then subscribe without after"}
		}
		from = *p.After
	}
	st := Status{API: apiVersion, Stream: r.stream, Seq: r.last()}
	s.mu.Unlock()

	c.mu.Lock()
	if c.sub != nil {
		c.mu.Unlock()
		return nil, nil, badParams("this connection is already subscribed (unsubscribe first)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	end := make(chan struct{})
	c.sub, c.subEnd = cancel, end
	c.mu.Unlock()
	return st, func() { go c.stream(ctx, r, from, end) }, nil
}

func unsubscribeMethod(_ context.Context, c *conn, _ *client.Engine, raw json.RawMessage) (any, func(), error) {
	if err := rpc.DecodeParams(raw, &struct{}{}); err != nil {
		return nil, nil, badParams("unsubscribe takes no parameters")
	}
	c.mu.Lock()
	sub, end := c.sub, c.subEnd
	c.sub, c.subEnd = nil, nil
	c.mu.Unlock()
	if sub != nil {
		sub()
		<-end
	}
	return ok{}, nil, nil
}

// stream sends r's events after seq, in order, until ctx ends, the ring
// is gone (lock) or the connection falls behind what it holds.
func (c *conn) stream(ctx context.Context, r *ring, seq uint64, end chan struct{}) {
	defer close(end)
	s := c.s
	for {
		s.mu.Lock()
		if s.ring != r {
			s.mu.Unlock()
			c.detach(end)
			c.notify(NoteEnd, EndNote{Stream: r.stream, Reason: "locked"})
			return
		}
		// One event at a time, taken from the ring just before it is
		// written: a lock or a scrub that comes while a slow reader holds
		// the sender up reaches every event not yet written.
		es, ok := r.after(seq, 1)
		wake := r.wake
		s.mu.Unlock()
		if !ok {
			c.detach(end)
			c.notify(NoteEnd, EndNote{Stream: r.stream, Reason: "gap"})
			return
		}
		for _, e := range es {
			if !c.notify(NoteEvent, EventNote{Stream: r.stream, Seq: e.seq, Event: e.ev}) {
				return
			}
			seq = e.seq
		}
		if len(es) > 0 {
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return
		}
	}
}

// detach forgets the subscription whose sender closes end, once it has
// ended on its own, so the connection may subscribe again as soon as it
// is told; a later subscription is left alone.
func (c *conn) detach(end chan struct{}) {
	c.mu.Lock()
	if c.subEnd == end {
		c.sub()
		c.sub, c.subEnd = nil, nil
	}
	c.mu.Unlock()
}
