package tui

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"veil/client"
)

// TestUnlockReopensLastChat: after an unlock, whether the TUI was quit or
// locked, the chat open last is open again; a profile that never opened a
// chat opens none.
func TestUnlockReopensLastChat(t *testing.T) {
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
	stopRelay()

	tm := unlock(t, cfg, "correct horse")
	waitText(t, tm, "2 queued")
	if v := finalView(t, tm); strings.Contains(v, "hello ") {
		t.Fatalf("a chat is open though none ever was:\n%s", v)
	}

	// Open cat, quit: the next unlock shows cat.
	tm = unlock(t, cfg, "correct horse")
	waitText(t, tm, "2 queued")
	find(t, tm, "cat")
	waitText(t, tm, "hello cat")
	finalView(t, tm)
	tm = unlock(t, cfg, "correct horse")
	waitText(t, tm, "hello cat")

	// Open ana, lock: the unlock shows ana.
	find(t, tm, "ana")
	waitText(t, tm, "hello ana")
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlL})
	waitText(t, tm, "Enter your PIN")
	typeLine(tm, "correct horse")
	waitText(t, tm, "hello ana")
	if v := finalView(t, tm); !strings.Contains(v, "hello ana") || strings.Contains(v, "hello cat") {
		t.Fatalf("after the lock:\n%s", v)
	}
}

// find opens a chat by name with the chat finder.
func find(t *testing.T, tm *teatest.TestModel, name string) {
	t.Helper()
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlK})
	waitText(t, tm, "Find a chat")
	typeLine(tm, name)
}

// TestReopenedChatHeldUnread: the chat reopened at unlock is loaded
// without marking it read until the first key press; a chat the user
// opens is marked read at once.
func TestReopenedChatHeldUnread(t *testing.T) {
	a := New(Config{})
	a.screen = scrMain
	a.list.chats = []client.ChatInfo{{ID: "c1"}}
	a.last.want, a.last.loaded = "c1", true
	a.reopenLastChat()
	if !a.holdRead || a.readAllowed(true) {
		t.Fatal("the reopened chat is marked read before any key")
	}
	a.onKeyMsg(tea.KeyMsg{Type: tea.KeyDown})
	if a.holdRead || !a.readAllowed(true) {
		t.Fatal("a key press did not release the reopened chat")
	}
	a.openChat("c1")
	if !a.readAllowed(true) {
		t.Fatal("a chat the user opens is held unread")
	}
}
