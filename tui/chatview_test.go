package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"veil/client"
)

// sampleChat is a conversation over two days with every mark: delivery
// states, read, edited, deleted, a disappearing message.
func sampleChat() (client.ChatInfo, []client.MessageInfo) {
	day1 := fixedNow.Add(-26 * time.Hour)
	c := client.ChatInfo{ID: "c0ffee0001", Name: "desk", Peer: "olive-wren", MessageTTL: time.Hour,
		Deadline: fixedNow.Add(72 * time.Hour), LastActive: fixedNow}
	msgs := []client.MessageInfo{
		{ID: "1", From: "olive-wren", Text: "are you there?", Time: day1},
		{ID: "2", Outgoing: true, Text: "yes. line one\nline two", Status: "read", Time: day1.Add(time.Minute)},
		{ID: "3", From: "olive-wren", Text: "I fixed a typo", Edited: true, Time: fixedNow.Add(-10 * time.Minute)},
		{ID: "4", From: "olive-wren", Deleted: true, Time: fixedNow.Add(-9 * time.Minute)},
		{ID: "5", Outgoing: true, Text: "this one disappears", Status: "delivered", Time: fixedNow.Add(-2 * time.Minute), Expires: fixedNow.Add(4*time.Minute + 32*time.Second)},
		{ID: "6", Outgoing: true, Text: "sent, not yet delivered", Status: "sent", Time: fixedNow.Add(-time.Minute)},
		{ID: "7", Outgoing: true, Text: "offline, waiting", Status: "queued", Time: fixedNow},
	}
	return c, msgs
}

func testView(w, h int) chatView {
	v := newChatView(newStyles(), defaultKeys(), func() time.Time { return fixedNow }, time.UTC)
	v.SetSize(w, h)
	return v
}

func TestGoldenChatView(t *testing.T) {
	v := testView(56, 16)
	v.set(sampleChat())
	golden.RequireEqual(t, []byte(v.View()))
}

func TestGoldenChatList(t *testing.T) {
	l := chatList{st: newStyles(), keys: defaultKeys(), now: func() time.Time { return fixedNow }, loc: time.UTC, focus: true}
	l.SetSize(28, 8)
	l.set([]client.ChatInfo{
		{ID: "a1", Name: "old friend", LastActive: fixedNow.Add(-72 * time.Hour)},
		{ID: "b2", Peer: "olive-wren", Unread: 3, LastActive: fixedNow.Add(-time.Hour), MessageTTL: time.Hour},
		{ID: "c3", Name: "deadline chat with a very long name", Deadline: fixedNow.Add(time.Hour), LastActive: fixedNow},
		{ID: "d4deadbeef", Pending: true},
	})
	golden.RequireEqual(t, []byte(l.View()))
}

// TestPeerEscapesDrawnHarmless: a message, a nickname and a chat name
// full of terminal escapes (title change, screen clear, OSC 52 clipboard
// write, bidi override, C1 CSI) reach the screen as inert text.
func TestPeerEscapesDrawnHarmless(t *testing.T) {
	evil := "hi\x1b]0;pwned\x07\x1b[2J\x1b]52;c;ZXZpbA==\x07\u202eevil\x9b31m\r end"
	c := client.ChatInfo{ID: "e1", Peer: "mal\x1b[31mlory\x07", Name: "x\x1b]8;;http://x\x07y", LastActive: fixedNow}
	v := testView(60, 10)
	v.set(c, []client.MessageInfo{{ID: "1", From: c.Peer, Text: evil, Time: fixedNow}})
	l := chatList{st: newStyles(), keys: defaultKeys(), now: func() time.Time { return fixedNow }, loc: time.UTC}
	l.SetSize(24, 5)
	l.set([]client.ChatInfo{c})
	for name, screen := range map[string]string{"chat view": v.View(), "chat list": l.View()} {
		for _, bad := range []string{"\x1b", "\x07", "\x9b", "\r", "\u202e", "pwned", "ZXZpbA"} {
			if strings.Contains(screen, bad) {
				t.Errorf("%s draws %q:\n%q", name, bad, screen)
			}
		}
	}
	if s := v.View(); !strings.Contains(s, "hi") || !strings.Contains(s, "end") {
		t.Errorf("the harmless text is gone: %q", s)
	}
}

func TestSearchInChat(t *testing.T) {
	v := testView(56, 6)
	c, msgs := sampleChat()
	v.set(c, msgs)
	v.search("TYPO", false)
	if got := v.searchStatus(); got != "match 1 of 1" {
		t.Fatalf("status %q", got)
	}
	v.search("e", false) // in several messages; newest first, then older
	first := v.match
	v.search("e", true)
	if v.match == first || len(v.hits) < 2 {
		t.Fatalf("enter did not move to an older match: %d of %v", v.match, v.hits)
	}
	v.search("zzz", false)
	if got := v.searchStatus(); got != "no match" {
		t.Fatalf("status %q", got)
	}
}

func TestFuzzy(t *testing.T) {
	for _, tc := range []struct {
		name, q string
		want    bool
	}{
		{"olive-wren", "ow", true}, {"olive-wren", "OWN", true}, {"olive-wren", "wo", false},
		{"desk", "", true}, {"Ünïcode", "ün", true},
	} {
		if got := fuzzy(tc.name, tc.q); got != tc.want {
			t.Errorf("fuzzy(%q, %q) = %v", tc.name, tc.q, got)
		}
	}
}

func TestNotificationsCarryNoContent(t *testing.T) {
	for _, mode := range []string{"", "bell", "osc9", "osc777", "off"} {
		n := notification(mode)
		if strings.ContainsAny(n, "0123456789") && mode != "osc9" && mode != "osc777" {
			t.Errorf("%s: %q", mode, n)
		}
		var b strings.Builder
		notifyCmd(&b, mode)()
		if b.String() != n {
			t.Errorf("%s wrote %q, want %q", mode, b.String(), n)
		}
	}
	if notification("off") != "" || notification("bell") != "\a" {
		t.Error("off must be silent and bell a bell")
	}
}

func TestGroupDigits(t *testing.T) {
	in := "12345 67890 12345 67890 12345 67890 12345 67890 12345 67890 12345 67890"
	want := "12345 67890 12345 67890 12345 67890\n12345 67890 12345 67890 12345 67890"
	if got := groupDigits(in); got != want {
		t.Fatalf("got %q", got)
	}
}
