package daemon

import (
	"time"

	"veil/client"
)

// The event ring's bounds (spec/api.md §5): a client that reconnects
// resumes from its last sequence number as long as the events after it are
// still held.
const (
	ringSize = 4096
	ringAge  = 10 * time.Minute
)

// entry is one event with its sequence number.
type entry struct {
	seq uint64
	at  time.Time
	ev  client.Event
}

// ring holds the most recent events of one stream, oldest first. It is
// guarded by the Server's mutex.
type ring struct {
	stream string
	next   uint64 // the sequence number of the next event (first: 1)
	es     []entry
	wake   chan struct{} // closed and replaced at every append
}

func newRing(stream string) *ring {
	return &ring{stream: stream, next: 1, wake: make(chan struct{})}
}

// last is the sequence number of the newest event (0 before the first).
func (r *ring) last() uint64 { return r.next - 1 }

// oldest is the sequence number of the oldest event held (r.next when
// none is).
func (r *ring) oldest() uint64 {
	if len(r.es) == 0 {
		return r.next
	}
	return r.es[0].seq
}

// add appends ev, drops what is past the bounds, and wakes the streams.
// An erased chat (burned, expired) leaves no text behind: the events of
// that chat already held keep their type and sequence number but lose
// every word that came from it.
func (r *ring) add(ev client.Event, now time.Time) {
	switch ev.Type {
	case client.EventChatBurned, client.EventChatExpired, client.EventGroupBurned:
		r.scrub(ev.Chat, "")
	case client.EventDeleted, client.EventEdited:
		// The peer deleted or changed the message: its old words go.
		r.scrub(ev.Chat, ev.Message)
	}
	ev.Err = client.SanitizeLine(ev.Err)
	r.es = append(r.es, entry{seq: r.next, at: now, ev: ev})
	r.next++
	r.trim(now)
	close(r.wake)
	r.wake = make(chan struct{})
}

// scrub strips the words from the events held of chat (of its message
// msg only, when msg is not empty).
func (r *ring) scrub(chat, msg string) {
	for i := range r.es {
		e := &r.es[i].ev
		if e.Chat == chat && (msg == "" || e.Message == msg) {
			*e = scrub(*e)
		}
	}
}

// trim drops the events past ringSize or older than ringAge.
func (r *ring) trim(now time.Time) {
	drop := 0
	for drop < len(r.es) && (len(r.es)-drop > ringSize || now.Sub(r.es[drop].at) > ringAge) {
		drop++
	}
	if drop > 0 {
		clear(r.es[:drop])
		r.es = r.es[drop:]
	}
}

// after returns up to max events with sequence numbers above seq, and
// whether they follow seq without a gap.
func (r *ring) after(seq uint64, max int) ([]entry, bool) {
	if seq+1 < r.oldest() {
		return nil, false
	}
	i := int(seq + 1 - r.oldest())
	if i >= len(r.es) {
		return nil, true
	}
	n := min(len(r.es)-i, max)
	return append([]entry(nil), r.es[i:i+n]...), true
}

// scrub keeps of ev what says that something happened, not what.
func scrub(ev client.Event) client.Event {
	return client.Event{Type: ev.Type, Chat: ev.Chat, Message: ev.Message, Time: ev.Time}
}
