package daemon

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"veil/client"
	"veil/daemon/rpc"
	"veil/relay/relaytest"
)

// peer is one profile with its daemon: a Server running the engine behind
// a real socket in its own directory.
type peer struct {
	s   *Server
	p   *testProfile
	dir string
	c   *Client
}

func newPeer(tb testing.TB, relay string) *peer {
	tb.Helper()
	s, p := unlockedServer(tb, Config{RunEngine: true}, relay)
	dir := tb.TempDir()
	serve(tb, s, dir)
	return &peer{s: s, p: p, dir: dir, c: dial(tb, dir)}
}

// pairPeers pairs ana and ben through the API (invite on ana, join on
// ben) and returns each side's chat ID and ana's subscription, opened
// before the invite, past the contact_joined event.
func pairPeers(tb testing.TB, ana, ben *peer) (anaChat, benChat string, sub *Client, st Status) {
	tb.Helper()
	sub = dial(tb, ana.dir)
	must(tb, sub, "subscribe", nil, &st)
	var inv InviteResult
	must(tb, ana.c, "invite", map[string]string{"name": "ben"}, &inv)
	var j ChatResult
	must(tb, ben.c, "join", map[string]string{"key": inv.Key, "name": "ana"}, &j)
	for {
		e := nextEvent(tb, sub)
		if e.Event.Type == client.EventContactJoined && e.Event.Chat == inv.Chat {
			return inv.Chat, j.Chat, sub, st
		}
	}
}

// TestStreamResume: a client that drops its connection and subscribes
// again from the last sequence number it read gets exactly the events it
// missed: in order, numbered one after the other, none twice, none lost.
func TestStreamResume(t *testing.T) {
	r := relaytest.Start(t)
	ana, ben := newPeer(t, r.Address.String()), newPeer(t, r.Address.String())
	anaChat, benChat, sub, st := pairPeers(t, ana, ben)

	var got []string // message texts ana read, in the order read
	last := uint64(0)
	read := func(e EventNote) {
		if last != 0 && e.Seq != last+1 {
			t.Fatalf("seq %d after %d", e.Seq, last)
		}
		if e.Stream != st.Stream {
			t.Fatalf("event of stream %q, subscribed to %q", e.Stream, st.Stream)
		}
		last = e.Seq
		if e.Event.Type == client.EventMessage && e.Event.Chat == anaChat {
			got = append(got, e.Event.Text)
		}
	}
	send := func(from, to int) {
		for i := from; i <= to; i++ {
			must(t, ben.c, "send", map[string]string{"chat": benChat, "text": fmt.Sprintf("m%d", i)}, nil)
		}
	}

	send(1, 5)
	for len(got) < 2 {
		read(nextEvent(t, sub))
	}
	sub.Close()
	send(6, 10)

	sub2 := dial(t, ana.dir)
	resumed := last
	var st2 Status
	must(t, sub2, "subscribe", SubscribeParams{Stream: st.Stream, After: &resumed}, &st2)
	if st2.Stream != st.Stream {
		t.Fatalf("resumed on %q, want %q", st2.Stream, st.Stream)
	}
	first := true
	for len(got) < 10 {
		e := nextEvent(t, sub2)
		if first && e.Seq != resumed+1 {
			t.Fatalf("resumed after %d with %d", resumed, e.Seq)
		}
		first = false
		read(e)
	}
	for i, text := range got {
		if want := fmt.Sprintf("m%d", i+1); text != want {
			t.Fatalf("messages read %q, want m1..m10 once each in order", got)
		}
	}
}

// TestBurnScrubsStream: once the peer burns a chat, the events of it the
// stream still holds say that a message came, not what or from whom.
func TestBurnScrubsStream(t *testing.T) {
	r := relaytest.Start(t)
	ana, ben := newPeer(t, r.Address.String()), newPeer(t, r.Address.String())
	anaChat, benChat, sub, st := pairPeers(t, ana, ben)
	for _, text := range []string{"secret one", "secret two"} {
		must(t, ben.c, "send", map[string]string{"chat": benChat, "text": text}, nil)
	}
	n, burned := 0, uint64(0)
	for burned == 0 {
		e := nextEvent(t, sub)
		switch {
		case e.Event.Type == client.EventMessage && e.Event.Chat == anaChat:
			if e.Event.Text == "" || e.Event.From == "" {
				t.Fatalf("a message event before the burn lacks its text or sender: %+v", e.Event)
			}
			if n++; n == 2 {
				must(t, ben.c, "burn", map[string]string{"chat": benChat}, nil)
			}
		case e.Event.Type == client.EventChatBurned && e.Event.Chat == anaChat:
			burned = e.Seq
		}
	}
	if n != 2 {
		t.Fatalf("%d messages before the burn", n)
	}

	again := dial(t, ana.dir)
	zero := uint64(0)
	must(t, again, "subscribe", SubscribeParams{Stream: st.Stream, After: &zero}, nil)
	seen := 0
	for {
		e := nextEvent(t, again)
		if e.Event.Chat == anaChat && e.Event.Type == client.EventMessage {
			seen++
			if e.Event.Text != "" || e.Event.From != "" || e.Event.Name != "" {
				t.Errorf("seq %d after the burn still holds %+v", e.Seq, e.Event)
			}
			if e.Event.Message == "" {
				t.Errorf("seq %d lost its message ID", e.Seq)
			}
		}
		if e.Seq == burned {
			break
		}
	}
	if seen != 2 {
		t.Fatalf("%d message events of the burned chat held, want 2", seen)
	}
}

// TestStreamGap: a resume point older than the ring holds is a gap, in the
// ring's bound and through subscribe.
func TestStreamGap(t *testing.T) {
	r := newRing("s")
	now := time.Unix(1e9, 0)
	for range ringSize + 10 {
		r.add(client.Event{Type: client.EventWarning}, now)
	}
	if got := r.oldest(); got != 11 {
		t.Fatalf("oldest %d after %d events, want 11", got, ringSize+10)
	}
	if _, ok := r.after(9, 64); ok {
		t.Fatal("resuming after 9 (10 dropped) is not a gap")
	}
	es, ok := r.after(10, 3)
	if !ok || len(es) != 3 || es[0].seq != 11 || es[2].seq != 13 {
		t.Fatalf("after 10: %v %+v", ok, es)
	}
	if es, ok := r.after(r.last(), 64); !ok || len(es) != 0 {
		t.Fatalf("after the newest: %v %d", ok, len(es))
	}
	// Age drops events too.
	r.add(client.Event{Type: client.EventWarning}, now.Add(ringAge+time.Second))
	if r.oldest() != r.last() || len(r.es) != 1 {
		t.Fatalf("after ringAge: oldest %d last %d held %d", r.oldest(), r.last(), len(r.es))
	}

	s, _ := unlockedServer(t, Config{}, "")
	for range ringSize + 2 {
		s.publish(client.Event{Type: client.EventWarning})
	}
	c := pipe(t, s)
	st := s.Status()
	for _, after := range []uint64{0, 1, st.Seq + 1} {
		wantCode(t, do(t, c, "subscribe", SubscribeParams{Stream: st.Stream, After: &after}, nil), rpc.CodeGap, "gap")
	}
	after := uint64(2)
	must(t, c, "subscribe", SubscribeParams{Stream: st.Stream, After: &after}, nil)
	if e := nextEvent(t, c); e.Seq != 3 {
		t.Fatalf("resumed after 2 with %d", e.Seq)
	}
}

// TestStuckSubscriber: a subscriber that stops reading holds up nothing
// else; when it reads again, it gets what it was sent, then a gap for
// what the ring let go, and may subscribe again.
func TestStuckSubscriber(t *testing.T) {
	s, _ := unlockedServer(t, Config{}, "")
	stuck, other := pipe(t, s), pipe(t, s)
	var st Status
	must(t, stuck, "subscribe", nil, &st)
	for range 2 * ringSize {
		s.publish(client.Event{Type: client.EventWarning, Err: "filler"})
	}
	must(t, other, "chats", nil, nil)
	if got := s.Status().Seq; got != st.Seq+2*ringSize {
		t.Fatalf("seq %d, want %d", got, st.Seq+2*ringSize)
	}
	last := st.Seq
	for {
		n := nextNote(t, stuck)
		if n.Method == NoteEnd {
			var end EndNote
			if err := json.Unmarshal(n.Params, &end); err != nil || end.Reason != "gap" || end.Stream != st.Stream {
				t.Fatalf("end %s", n.Params)
			}
			break
		}
		var e EventNote
		if err := json.Unmarshal(n.Params, &e); err != nil || e.Seq != last+1 {
			t.Fatalf("event %s after %d", n.Params, last)
		}
		last = e.Seq
	}
	if last >= s.Status().Seq {
		t.Fatalf("read everything (%d): no gap to test", last)
	}
	must(t, stuck, "subscribe", nil, nil)
}
