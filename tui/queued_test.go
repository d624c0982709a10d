package tui

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
	"veil/crypto"
	"veil/relay"
	"veil/relay/store/memory"
)

// startRelay runs a real relay on 127.0.0.1 with an in-memory store and
// returns its address and a function that stops it.
func startRelay(t *testing.T) (string, func()) {
	t.Helper()
	st := memory.New(memory.Config{})
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := relay.New(relay.Config{Store: st, Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, nil) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay: %v", err)
		}
		st.Close()
	}
	t.Cleanup(stop)
	return srv.Address("127.0.0.1", uint16(ln.Addr().(*net.TCPAddr).Port), false).String(), stop
}

// TestStatusLineCountsEveryChat: with one message queued in each of two
// chats and the relay gone, the status line counts both, whichever chat
// is open; alt+down and alt+up move between the chats.
func TestStatusLineCountsEveryChat(t *testing.T) {
	ctx := context.Background()
	addr, stopRelay := startRelay(t)
	cfg, p := testConfig(t)
	ben, err := client.Create(ctx, p.cfg(nil), []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ben.Setup(ctx, addr); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ana", "cat"} {
		peer := &dirProfile{dir: filepath.Join(t.TempDir(), name)}
		e, err := client.Create(ctx, peer.cfg(nil), []byte("peer pin"))
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
