package tui

import (
	"math"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
)

// fakeLoad numbers a test's made-up load result: newer than any load the
// program issues, so that it stays on screen.
const fakeLoad = math.MaxUint64

// TestOlderLoadNeverShown: loads run concurrently, so the load a send
// issued can finish after the load the delivery event issued later. The
// older result must not replace the newer one: no event comes to put the
// delivery mark or the chat's timer back.
func TestOlderLoadNeverShown(t *testing.T) {
	a := New(Config{Now: func() time.Time { return fixedNow }, Loc: time.UTC})
	a.onResize(tea.WindowSizeMsg{Width: 100, Height: 30})
	c := client.ChatInfo{ID: "c1", Peer: "ben", LastActive: fixedNow}
	a.view.chat = c
	hello := func(status string) []client.MessageInfo {
		return []client.MessageInfo{{ID: "1", Outgoing: true, Text: "hello", Status: status, Time: fixedNow}}
	}

	sendLoad, deliveredLoad := a.viewLoads.next(), a.viewLoads.next()
	a.onMessages(messagesMsg{seq: deliveredLoad, chat: c.ID, msgs: hello("delivered")})
	a.onMessages(messagesMsg{seq: sendLoad, chat: c.ID, msgs: hello("sent")})
	if s := a.view.View(); !strings.Contains(s, "hello ✓✓") {
		t.Fatalf("an older load replaced the delivery mark:\n%s", s)
	}
	// A newer load still shows.
	a.onMessages(messagesMsg{seq: a.viewLoads.next(), chat: c.ID, msgs: hello("read")})
	if s := a.view.View(); !strings.Contains(s, "hello ✓✓ read") {
		t.Fatalf("a newer load was not shown:\n%s", s)
	}

	timed := c
	timed.MessageTTL = 24 * time.Hour
	before, after := a.listLoads.next(), a.listLoads.next()
	a.onChats(chatsMsg{seq: after, chats: []client.ChatInfo{timed}})
	a.onChats(chatsMsg{seq: before, chats: []client.ChatInfo{c}})
	if s := a.view.View(); !strings.Contains(s, "⏱ 1d") {
		t.Fatalf("an older chat list replaced the chat's timer:\n%s", s)
	}
}
