package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"

	"veil/client"
)

// convoChat is a conversation over three days with a reply, a reply whose
// target is gone, reactions, a timer line and a sender whose clock ran
// ahead.
func convoChat() (client.ChatInfo, []client.MessageInfo) {
	d0, d1 := fixedNow.Add(-50*time.Hour), fixedNow.Add(-26*time.Hour)
	secs := uint32(86400)
	c := client.ChatInfo{ID: "c0ffee0002", Name: "desk", Peer: "olive-wren", MessageTTL: 24 * time.Hour, LastActive: fixedNow}
	msgs := []client.MessageInfo{
		{ID: "1", From: "olive-wren", Text: "where do we meet?\nsomewhere quiet", Time: d0.Add(time.Minute), Sent: d0},
		{ID: "2", Outgoing: true, Text: "the library", Status: "read", Time: d1, Sent: d1,
			Reply:     &client.Quote{ID: "1", From: "olive-wren", Text: "where do we meet?"},
			Reactions: []client.Reaction{{Reaction: "👍", Count: 1, From: []string{"olive-wren"}}}},
		{ID: "3", Outgoing: true, Kind: "timer", Timer: &secs, Text: "you set messages to disappear after 1d", Time: d1.Add(time.Minute), Sent: d1.Add(time.Minute)},
		{ID: "4", From: "olive-wren", Text: "ok, at 8", Edited: true, Time: fixedNow.Add(-20 * time.Minute), Sent: fixedNow.Add(-21 * time.Minute),
			Reply: &client.Quote{Text: "message not available", Missing: true}},
		{ID: "5", From: "olive-wren", Text: "clock ahead", Time: fixedNow.Add(-5 * time.Minute), Sent: fixedNow.Add(-5 * time.Minute), SentUnsure: true,
			Reactions: []client.Reaction{{Reaction: "❤", Count: 2, From: []string{"olive-wren"}, Mine: true}, {Reaction: "😂", Count: 1, Mine: true}}},
		{ID: "6", Outgoing: true, Text: "see you", Status: "delivered", Time: fixedNow, Sent: fixedNow},
	}
	return c, msgs
}

func TestGoldenConvo(t *testing.T) {
	for _, size := range []struct{ w, h int }{{60, 20}, {80, 24}} {
		t.Run(fmt.Sprintf("%dx%d", size.w, size.h), func(t *testing.T) {
			v := testView(size.w, size.h)
			v.set(convoChat())
			v.selID = "4"
			v.render(true)
			golden.RequireEqual(t, []byte(v.View()))
		})
	}
}

func TestDayLabel(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC)
	for in, want := range map[time.Time]string{
		now.Add(-31 * time.Minute):              "Yesterday",
		now.Add(10 * time.Minute):               "Today",
		now.Add(-25 * time.Hour):                "Fri 27 Feb 2026",
		now.Add(-24*time.Hour - 31*time.Minute): "Fri 27 Feb 2026",
	} {
		if got := dayLabel(in, now); got != want {
			t.Errorf("dayLabel(%v) = %q, want %q", in, got, want)
		}
	}
}

// TestConvoPeerStringsDrawnHarmless: a quote, a reaction and a group
// reactor's name full of escapes reach the screen as inert text.
func TestConvoPeerStringsDrawnHarmless(t *testing.T) {
	evil := "\x1b]0;pwned\x07\u202eq\x9b31m"
	v := testView(70, 12)
	v.group = true
	c := client.ChatInfo{ID: "g1", Name: "river", LastActive: fixedNow}
	v.set(c, []client.MessageInfo{{ID: "1", From: "m" + evil, Text: "hi", Time: fixedNow, Sent: fixedNow,
		Reply:     &client.Quote{From: "x" + evil, Text: "quoted" + evil},
		Reactions: []client.Reaction{{Reaction: "👍" + evil, Count: 1, From: []string{"r" + evil}}}}})
	v.selID = "1"
	v.render(true)
	screen := v.View()
	for _, bad := range []string{"\x1b]", "\x07", "\x9b", "\u202e", "pwned"} {
		if strings.Contains(screen, bad) {
			t.Errorf("draws %q:\n%q", bad, screen)
		}
	}
}

// TestSelectAndReply: shift+↑ selects the newest message, ↑ moves, r
// starts a reply whose send quotes it, esc leaves.
func TestSelectAndReply(t *testing.T) {
	a := New(Config{Now: func() time.Time { return fixedNow }, Loc: time.UTC})
	a.screen = scrMain
	a.view = testView(60, 20)
	a.view.set(convoChat())
	a.onKeyMsg(tea.KeyMsg{Type: tea.KeyShiftUp})
	if !a.view.selecting || a.view.selID != "6" {
		t.Fatalf("shift+up: %v %q", a.view.selecting, a.view.selID)
	}
	a.onKeyMsg(tea.KeyMsg{Type: tea.KeyUp})
	if a.view.selID != "5" {
		t.Fatalf("up: %q", a.view.selID)
	}
	a.onKeyMsg(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("r")})
	if a.view.reply != "5" || a.view.selecting || !strings.Contains(a.notice, "replying to: clock ahead") {
		t.Fatalf("r: reply %q, notice %q", a.view.reply, a.notice)
	}
	if opt := a.replyOptions(); opt.Reply != "5" || a.view.reply != "" {
		t.Fatalf("send options: %+v", opt)
	}
	a.onKeyMsg(tea.KeyMsg{Type: tea.KeyShiftUp})
	a.onKeyMsg(tea.KeyMsg{Type: tea.KeyEsc})
	if a.view.selecting || a.view.selID != "" {
		t.Fatalf("esc: %v %q", a.view.selecting, a.view.selID)
	}
	// Selected, any other character leaves the selection and types.
	a.onKeyMsg(tea.KeyMsg{Type: tea.KeyShiftUp})
	a.onKeyMsg(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("x")})
	if a.view.selecting || a.compose.value() != "x" {
		t.Fatalf("x while selected: selecting %v, compose %q", a.view.selecting, a.compose.value())
	}
}

// TestPasteWhileSelectedLeavesSelection: text pasted (or typed fast) while
// a message is selected goes to the compose box and leaves the selection,
// so the next "r" is text, not a reply.
func TestPasteWhileSelectedLeavesSelection(t *testing.T) {
	a := New(Config{Now: func() time.Time { return fixedNow }, Loc: time.UTC})
	a.screen = scrMain
	a.view = testView(60, 20)
	a.view.set(convoChat())
	a.onKeyMsg(tea.KeyMsg{Type: tea.KeyShiftUp})
	a.onKeyMsg(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("hello wo"), Paste: true})
	a.onKeyMsg(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("r")})
	a.onKeyMsg(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("ld")})
	if got := a.compose.value(); got != "hello world" || a.view.reply != "" {
		t.Fatalf("compose %q (want %q), reply target %q", got, "hello world", a.view.reply)
	}
}
