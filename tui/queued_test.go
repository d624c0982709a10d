package tui

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
	"veil/relay/relaytest"
)

// startRelay runs a real relay on 127.0.0.1 with an in-memory store and
// returns its address and a function that stops it.
func startRelay(t *testing.T) (string, func()) {
	t.Helper()
	r := relaytest.Start(t)
	return r.Address.String(), r.Stop
}

// TestStatusLineCountsEveryChat: with one message queued in each of two
// chats and the relay gone, the status line counts both, whichever chat
// is open; alt+down and alt+up move between the chats.
func TestStatusLineCountsEveryChat(t *testing.T) {
	ctx := context.Background()
	addr, stopRelay := startRelay(t)
	cfg, p := testConfig(t)
	ben, err := client.Create(ctx, p.cfg(nil), []byte("correct horse"), client.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ben.Setup(ctx, addr); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ana", "cat"} {
		peer := &dirProfile{dir: filepath.Join(t.TempDir(), name)}
		e, err := client.Create(ctx, peer.cfg(nil), []byte("peer pin"), client.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Setup(ctx, addr); err != nil {
			t.Fatal(err)
		}
		k, _, err := e.Invite(ctx, client.InviteOptions{As: name})
		if err != nil {
			t.Fatal(err)
		}
		e.Close()
		chat, err := ben.Join(ctx, k, client.JoinOptions{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ben.Send(ctx, chat, "hello "+name, client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ben.Close()
	stopRelay() // nothing can leave now

	// shown unlocks, presses keys and tells which chat is open at the end.
	shown := func(keys ...tea.KeyType) string {
		t.Helper()
		tm := unlock(t, cfg, "correct horse")
		waitText(t, tm, "2 queued")
		for _, k := range keys {
			tm.Send(tea.KeyMsg{Type: k, Alt: true})
		}
		if len(keys) > 0 {
			waitText(t, tm, "hello ")
		}
		v := finalView(t, tm)
		if !strings.Contains(v, "2 queued") {
			t.Fatalf("the status line does not count both chats:\n%s", v)
		}
		var open []string
		for _, name := range []string{"ana", "cat"} {
			if strings.Contains(v, "hello "+name) {
				open = append(open, name)
			}
		}
		if len(open) > 1 {
			t.Fatalf("two chats on screen:\n%s", v)
		}
		return strings.Join(open, "")
	}
	if got := shown(); got != "" {
		t.Fatalf("a chat (%s) is open before any key", got)
	}
	first, last := shown(tea.KeyDown), shown(tea.KeyUp)
	if first == "" || last == "" || first == last {
		t.Fatalf("alt+down opened %q, alt+up %q: want the first and the last chat", first, last)
	}
	tm := unlock(t, cfg, "correct horse")
	waitText(t, tm, "2 queued")
	for _, step := range []struct {
		k    tea.KeyType
		want string
	}{{tea.KeyDown, first}, {tea.KeyDown, last}, {tea.KeyDown, first}, {tea.KeyUp, last}} {
		tm.Send(tea.KeyMsg{Type: step.k, Alt: true})
		waitText(t, tm, "hello "+step.want)
	}
	if v := finalView(t, tm); !strings.Contains(v, "hello "+last) || strings.Contains(v, "hello "+first) {
		t.Fatalf("want chat %s open:\n%s", last, v)
	}
}
