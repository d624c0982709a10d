package tui

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"

	"veil/client"
)

// profileWithPeer makes a profile with a joined 1:1 chat "sam" (marked
// verified when verified is set) holding two messages from sam and one of
// ours, and an open invite "desk". It returns the chat's ID.
func profileWithPeer(t *testing.T, p *dirProfile, verified bool) string {
	t.Helper()
	ctx := context.Background()
	addr, _ := startRelay(t)
	// A clock that moves (the outbox waits for retry times), starting at
	// fixedNow so that the screens show the same minute.
	start := time.Now()
	mk := func(dp *dirProfile) *client.Engine {
		cfg := dp.cfg(nil)
		cfg.Now = func() time.Time { return fixedNow.Add(time.Since(start)) }
		e, err := client.Create(ctx, cfg, []byte("correct horse"), client.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Setup(ctx, addr); err != nil {
			t.Fatal(err)
		}
		return e
	}
	ana, ben := mk(p), mk(&dirProfile{dir: filepath.Join(t.TempDir(), "ben")})
	defer ana.Close()
	defer ben.Close()
	key, chat, err := ana.Invite(ctx, client.InviteOptions{Name: "sam", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	bchat, err := ben.Join(ctx, key, client.JoinOptions{As: "sam"})
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"The documents are at the old mill.", "Bring the MILL key \x1b[31mtonight"} {
		if _, err := ben.Send(ctx, bchat, text, client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ben.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Both run: the joiner sends its messages once the inviter's receipt
	// ends its initial phase.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { _ = ana.Run(rctx); done <- struct{}{} }()
	go func() { _ = ben.Run(rctx); done <- struct{}{} }()
	waitFor := func(what string, ok func() bool) {
		deadline := time.Now().Add(waitMax)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("sam's messages", func() bool { ms, _ := ana.Messages(ctx, chat, 0); return len(ms) == 2 })
	id, err := ana.Send(ctx, chat, "ok, the mill at nine", client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor("the delivery receipt", func() bool {
		ms, _ := ana.Messages(ctx, chat, 0)
		return len(ms) == 3 && ms[2].ID == id && ms[2].Status == "delivered"
	})
	cancel()
	<-done
	<-done
	if verified {
		if err := ana.MarkVerified(ctx, chat, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := ana.Invite(ctx, client.InviteOptions{Name: "desk"}); err != nil {
		t.Fatal(err)
	}
	return chat
}

func sizes() [][2]int { return [][2]int{{80, 24}, {60, 20}} }

func unlockSized(t *testing.T, cfg Config, w, h int) *teatest.TestModel {
	t.Helper()
	tm, _ := start(t, cfg, w, h)
	waitText(t, tm, "Enter your PIN")
	typeLine(tm, "correct horse")
	return tm
}

// TestGoldenInvitesAndMarks: the chat list shows the open invite as an
// invite with its deadline and the verified chat with ✓; the chat's
// header says verified.
func TestGoldenInvitesAndMarks(t *testing.T) {
	for _, size := range sizes() {
		t.Run(itoa(size[0])+"x"+itoa(size[1]), func(t *testing.T) {
			cfg, p := testConfig(t)
			profileWithPeer(t, p, true)
			tm := unlockSized(t, cfg, size[0], size[1])
			waitText(t, tm, "until", "sam ✓")
			tm.Send(press(tea.KeyCtrlK))
			waitText(t, tm, "Find a chat")
			typeLine(tm, "sam")
			// Opening the chat reads its messages: the list then drops
			// sam's unread count and sam moves below desk.
			waitText(t, tm, "✓ verified", "nine", "1 desk")
			v := finalView(t, tm)
			checkFits(t, v, size[0], size[1])
			golden.RequireEqual(t, []byte(v))
		})
	}
}

// TestGoldenSearchAll: Ctrl-F with no chat open searches every chat; the
// results show chat, sender, time and a sanitised snippet.
func TestGoldenSearchAll(t *testing.T) {
	for _, size := range sizes() {
		t.Run(itoa(size[0])+"x"+itoa(size[1]), func(t *testing.T) {
			cfg, p := testConfig(t)
			profileWithPeer(t, p, false)
			tm := unlockSized(t, cfg, size[0], size[1])
			waitText(t, tm, "sam")
			tm.Send(press(tea.KeyCtrlF))
			waitText(t, tm, "search all chats")
			tm.Type("mill")
			waitText(t, tm, "old mill", "at nine")
			v := finalView(t, tm)
			if strings.Contains(v, "\x1b[31m") {
				t.Fatal("an escape from a message reached the screen")
			}
			checkFits(t, v, size[0], size[1])
			golden.RequireEqual(t, []byte(v))
		})
	}
}

// TestGoldenSafetyQR: the safety-code dialog shows the digits beside
// their QR code where the terminal is large enough (80×24), the digits
// alone where not (60×20). The code is fixed: a real one differs per run.
func TestGoldenSafetyQR(t *testing.T) {
	code := "12345 67890 13579 24680 11223 34455 66778 89900 10293 84756 56473 82910"
	for _, size := range sizes() {
		t.Run(itoa(size[0])+"x"+itoa(size[1]), func(t *testing.T) {
			d := &safetyDialog{st: newStyles(), keys: defaultKeys(), code: code}
			v := d.FullView(size[0], size[1]-1) // as App.View draws it, above the help line
			checkFits(t, v, size[0], size[1]-1)
			golden.RequireEqual(t, []byte(v))
		})
	}
}

// TestSearchAllOpensAtMessage and the mark from the dialog: choosing a
// result opens its chat; "m" in the safety dialog marks the chat.
func TestSearchAllOpensAndMark(t *testing.T) {
	cfg, p := testConfig(t)
	chat := profileWithPeer(t, p, false)
	tm := unlockSized(t, cfg, 80, 24)
	waitText(t, tm, "sam")
	tm.Send(press(tea.KeyCtrlF))
	waitText(t, tm, "search all chats")
	tm.Type("documents")
	waitText(t, tm, "The documents are")
	tm.Send(enter())
	waitText(t, tm, "sam", "nine")
	typeLine(tm, "/verify")
	waitText(t, tm, "Press m once they match")
	tm.Type("m")
	waitText(t, tm, "marked verified", "✓ verified")
	finalView(t, tm)
	c, err := openEngine(t, p).Chat(context.Background(), chat)
	if err != nil || !c.Verified {
		t.Fatalf("chat after m: %+v, %v", c, err)
	}
}

// TestVerifyLostShown: a chat whose safety code changed after it was
// verified warns in the list (⚠), in the header and with a line in the
// chat, and shows no ✓.
func TestVerifyLostShown(t *testing.T) {
	c, msgs := sampleChat()
	c.VerifyLost = true
	v := testView(56, 16)
	v.set(c, msgs)
	out := v.View()
	if !strings.Contains(out, "SAFETY CODE CHANGED") || !strings.Contains(strings.Join(strings.Fields(out), " "), "The safety code changed after you verified it") || strings.Contains(out, "✓ verified") {
		t.Fatalf("chat view:\n%s", out)
	}
	l := chatList{st: newStyles(), keys: defaultKeys(), now: func() time.Time { return fixedNow }, loc: time.UTC}
	l.SetSize(28, 4)
	l.set([]client.ChatInfo{c})
	if s := l.View(); !strings.Contains(s, "⚠") || strings.Contains(s, "✓") {
		t.Fatalf("chat list:\n%s", s)
	}
}

// TestNoPQShown: the header says when a 1:1 chat's session does not run
// the KEM ratchet, and says nothing when it does (spec/client.md §5.13).
func TestNoPQShown(t *testing.T) {
	c, msgs := sampleChat()
	for _, tc := range []struct {
		pq   *client.ChatPQ
		want bool
	}{{nil, false}, {&client.ChatPQ{On: true, Epochs: 3}, false}, {&client.ChatPQ{PeerTooOld: true}, true}} {
		c.PQ = tc.pq
		v := testView(80, 16)
		v.set(c, msgs)
		if got := strings.Contains(v.View(), "no post-quantum healing"); got != tc.want {
			t.Errorf("PQ %+v: shown %v\n%s", tc.pq, got, v.View())
		}
	}
}
