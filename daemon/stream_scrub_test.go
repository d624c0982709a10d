package daemon

import (
	"context"
	"sync"
	"testing"
	"time"

	"veil/client"
	"veil/relay/relaytest"
)

// attachedPeer is a profile served the way the TUI serves it: the owner
// opens and runs the engine, hands every event it reports to the Server
// (Publish, as cmd/veil's teeEvents does) and makes its own changes on
// the engine directly (the TUI's burn and delete call Engine.Burn and
// Engine.Delete), never through the API.
type attachedPeer struct {
	s   *Server
	eng *client.Engine
	dir string
}

func newAttachedPeer(t *testing.T, relay string) *attachedPeer {
	t.Helper()
	p := newTestProfile(t, t.TempDir(), relay, nil, client.CreateOptions{})
	events := make(chan client.Event, 256)
	sess, err := p.Unlock(context.Background(), []byte(testPIN), events)
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Profile: &attachProfile{}, UID: -1})
	owner := &attachOwner{s: s}
	s.Attach(sess, owner)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = sess.Engine.Run(ctx) })
	wg.Go(func() {
		for {
			select {
			case ev := <-events:
				s.Publish(ev)
			case <-ctx.Done():
				return
			}
		}
	})
	dir := t.TempDir()
	serve(t, s, dir)
	t.Cleanup(func() {
		stop()
		wg.Wait()
		s.Detach()
		sess.Close()
	})
	return &attachedPeer{s: s, eng: sess.Engine, dir: dir}
}

// TestTUIBurnScrubsStream attacks spec/api.md §5.3: "When a chat or
// group is burned (by either side, through the API or the TUI) or
// expires, the events held of it ... lose every other member (the text,
// the nickname) ...; so do the events of one message ... that was
// deleted here", and SECURITY.md ("a burn on either side ... and a
// deletion strip them of text"). While the TUI serves the API, its burn
// and delete go to the engine directly, not through an API method; the
// stream must lose the words all the same, or any process of the user
// could still read the burned chat's words from it.
func TestTUIBurnScrubsStream(t *testing.T) {
	r := relaytest.Start(t)
	ana := newAttachedPeer(t, r.Address.String())
	ben := newPeer(t, r.Address.String())
	anaAPI := dial(t, ana.dir)
	sub := dial(t, ana.dir)
	var st Status
	must(t, sub, "subscribe", nil, &st)
	var inv InviteResult
	must(t, anaAPI, "invite", map[string]string{"name": "ben"}, &inv)
	var j ChatResult
	must(t, ben.c, "join", map[string]string{"key": inv.Key, "name": "ana"}, &j)
	for _, text := range []string{"secret one", "secret two"} {
		must(t, ben.c, "send", map[string]string{"chat": j.Chat, "text": text}, nil)
	}
	var ids []string
	for len(ids) < 2 {
		e := nextEvent(t, sub)
		if e.Event.Type == client.EventMessage && e.Event.Chat == inv.Chat {
			ids = append(ids, e.Event.Message)
		}
	}
	replay := func() map[string]string {
		c := dial(t, ana.dir)
		defer c.Close()
		zero := uint64(0)
		var now Status
		must(t, c, "subscribe", SubscribeParams{Stream: st.Stream, After: &zero}, &now)
		texts := map[string]string{}
		for seq := uint64(0); seq < now.Seq; {
			e := nextEvent(t, c)
			seq = e.Seq
			if e.Event.Type == client.EventMessage {
				texts[e.Event.Message] = e.Event.Text
			}
		}
		return texts
	}

	// The TUI's delete of a message here (tui/commands.go: eng.Delete).
	if err := ana.eng.Delete(context.Background(), inv.Chat, ids[0]); err != nil {
		t.Fatal(err)
	}
	if got := replay(); got[ids[0]] != "" {
		t.Errorf("a message deleted in the TUI still reads %q in the API's stream", got[ids[0]])
	}
	// The TUI's burn (tui/commands.go: eng.Burn).
	if err := ana.eng.Burn(context.Background(), inv.Chat); err != nil {
		t.Fatal(err)
	}
	for id, text := range replay() {
		if text != "" {
			t.Errorf("message %s of the chat burned in the TUI still reads %q in the API's stream", id, text)
		}
	}
}

// TestGroupLeaveScrubsStream attacks spec/api.md §5.3 (events of an
// erased chat lose their words): a member who is not an admin cannot
// burn a group, and leaving is how it erases the group here (`veil group
// leave`: "Left group and erased it here"). After group.leave the
// group's texts, gone from the vault, must not stay readable from the
// event stream by any process of the user for up to 10 minutes.
func TestGroupLeaveScrubsStream(t *testing.T) {
	r := relaytest.Start(t)
	ana, ben := newPeer(t, r.Address.String()), newPeer(t, r.Address.String())
	sub := dial(t, ben.dir)
	var st Status
	must(t, sub, "subscribe", nil, &st)
	var g ChatResult
	must(t, ana.c, "group.create", map[string]any{"name": "club", "as": "ana"}, &g)
	var k KeyResult
	must(t, ana.c, "group.invite", map[string]any{"chat": g.Chat}, &k)
	var j ChatResult
	must(t, ben.c, "join", map[string]any{"key": k.Key, "as": "ben"}, &j)
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(20 * time.Millisecond) {
		var ci client.ChatInfo
		must(t, ben.c, "chat", map[string]any{"chat": j.Chat}, &ci)
		if !ci.Waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ben was not let into the group in time")
		}
	}
	must(t, ana.c, "send", map[string]any{"chat": g.Chat, "text": "group secret"}, nil)
	for {
		e := nextEvent(t, sub)
		if e.Event.Type == client.EventMessage && e.Event.Chat == j.Chat {
			break
		}
	}
	must(t, ben.c, "group.leave", map[string]any{"chat": j.Chat}, nil)
	if err := do(t, ben.c, "read", map[string]any{"chat": j.Chat}, nil); err == nil {
		t.Fatal("the group is still readable after leaving it")
	}
	c := dial(t, ben.dir)
	zero := uint64(0)
	var now Status
	must(t, c, "subscribe", SubscribeParams{Stream: st.Stream, After: &zero}, &now)
	for seq := uint64(0); seq < now.Seq; {
		e := nextEvent(t, c)
		seq = e.Seq
		if e.Event.Chat == j.Chat && (e.Event.Text != "" || e.Event.From != "") {
			t.Errorf("event %d (%s) of the group left and erased here still reads %q from %q", e.Seq, e.Event.Type, e.Event.Text, e.Event.From)
		}
	}
}
