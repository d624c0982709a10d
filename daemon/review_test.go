package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"veil/client"
	"veil/daemon/rpc"
	"veil/relay/relaytest"
)

// TestLocalBurnScrubsStream: a burn made here (no event reports it) strips
// the chat's words from what the server holds, so a process that asks for
// the stream from its start after the burn learns that messages came,
// not what they said. So does a message deleted here.
func TestLocalBurnScrubsStream(t *testing.T) {
	r := relaytest.Start(t)
	ana, ben := newPeer(t, r.Address.String()), newPeer(t, r.Address.String())
	anaChat, benChat, sub, st := pairPeers(t, ana, ben)
	for _, text := range []string{"secret one", "secret two"} {
		must(t, ben.c, "send", map[string]string{"chat": benChat, "text": text}, nil)
	}
	var ids []string
	for len(ids) < 2 {
		e := nextEvent(t, sub)
		if e.Event.Type == client.EventMessage && e.Event.Chat == anaChat {
			ids = append(ids, e.Event.Message)
		}
	}
	must(t, ana.c, "delete", map[string]string{"chat": anaChat, "id": ids[0]}, nil)
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
	got := replay()
	if got[ids[0]] != "" || got[ids[1]] != "secret two" {
		t.Fatalf("after deleting the first message here: %q", got)
	}
	must(t, ana.c, "burn", map[string]string{"chat": anaChat}, nil)
	got = replay()
	for id, text := range got {
		if text != "" {
			t.Errorf("message %s of the burned chat still reads %q", id, text)
		}
	}
}

// TestReadPageFitsLine: a peer who sends long texts of characters that
// JSON escapes cannot make a chat unreadable through the API: every page
// fits one line, and paging reaches every message.
func TestReadPageFitsLine(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 80 long messages")
	}
	r := relaytest.Start(t)
	ana, ben := newPeer(t, r.Address.String()), newPeer(t, r.Address.String())
	anaChat, benChat, sub, _ := pairPeers(t, ana, ben)
	// ben's texts may be as long as client.MaxText only once ana's first
	// message reached him (before it, his messages carry the session's
	// first keys): ana writes first.
	bsub := dial(t, ben.dir)
	var bst Status
	must(t, bsub, "subscribe", nil, &bst)
	must(t, ana.c, "send", map[string]string{"chat": anaChat, "text": "hi"}, nil)
	for {
		if e := nextEvent(t, bsub); e.Event.Type == client.EventMessage && e.Event.Chat == benChat {
			break
		}
	}
	long := strings.Repeat(`"\<`, client.MaxText/3)
	const n = 80
	for i := range n {
		must(t, ben.c, "send", map[string]string{"chat": benChat, "text": fmt.Sprint(i, long)[:client.MaxText]}, nil)
	}
	for got := 0; got < n; {
		if e := nextEvent(t, sub); e.Event.Type == client.EventMessage && e.Event.Chat == anaChat {
			got++
		}
	}
	total, pages, before := 0, 0, ""
	for {
		var page ReadResult
		must(t, ana.c, "read", map[string]any{"chat": anaChat, "before": before}, &page)
		b, _ := rpc.Marshal(page)
		if len(b) > rpc.MaxLine {
			t.Fatalf("a page of %d bytes", len(b))
		}
		total += len(page.Messages)
		pages++
		if !page.More {
			break
		}
		before = page.Messages[0].ID
	}
	if total != n+1 || pages < 2 { // with ana's first
		t.Fatalf("%d messages in %d pages, want %d in more than one", total, pages, n+1)
	}
}

// TestMarkReadEmptyListMarksNothing: "ids": [] is not "every message".
func TestMarkReadEmptyListMarksNothing(t *testing.T) {
	r := relaytest.Start(t)
	ana, ben := newPeer(t, r.Address.String()), newPeer(t, r.Address.String())
	anaChat, benChat, sub, _ := pairPeers(t, ana, ben)
	must(t, ben.c, "send", map[string]string{"chat": benChat, "text": "timer starts when shown"}, nil)
	for {
		if e := nextEvent(t, sub); e.Event.Type == client.EventMessage && e.Event.Chat == anaChat {
			break
		}
	}
	must(t, ana.c, "mark_read", map[string]any{"chat": anaChat, "ids": []string{}}, nil)
	var c client.ChatInfo
	must(t, ana.c, "chat", map[string]string{"chat": anaChat}, &c)
	if c.Unread != 1 {
		t.Fatalf("unread %d after marking an empty list", c.Unread)
	}
}

// TestSubscribeThenHangUp: clients that subscribe and hang up before the
// answer leave nothing behind in the server.
func TestSubscribeThenHangUp(t *testing.T) {
	r := relaytest.Start(t)
	s, _ := unlockedServer(t, Config{}, r.Address.String())
	dir := t.TempDir()
	serve(t, s, dir)
	for range 50 {
		c := dialRaw(t, dir)
		c.write(`{"jsonrpc":"2.0","id":1,"method":"subscribe"}`)
		c.c.Close()
	}
	deadline := time.Now().Add(20 * time.Second)
	for s.connCount() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still held", s.connCount())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDialRefusesWritableDir: a profile directory others may write to
// could hold a socket they planted; neither side uses it.
func TestDialRefusesWritableDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(t.Context(), dir); err == nil || !strings.Contains(err.Error(), "writable by other users") {
		t.Fatalf("Dial: %v", err)
	}
	if _, err := Listen(dir); err == nil {
		t.Fatal("Listen in a world-writable directory")
	}
	if _, err := Dial(t.Context(), filepath.Join(dir, "absent")); err != ErrNotRunning {
		t.Fatalf("Dial of a missing directory: %v", err)
	}
}
