package main

import (
	"strings"
	"testing"
	"time"
)

// keyNames is typed as text in the TUI's end-to-end test: the name of every
// key binding of tui/keys.go, and a few more.
const keyNames = "up down enter ctrl+l ctrl+f esc tab q ? alt+enter ctrl+c ctrl+k f1 f2 " +
	"k j l right pgup ctrl+b pgdown ctrl+d alt+1 alt+9 ctrl+p ctrl+n ctrl+\\ alt+down alt+up"

// TestTUITextIsText: in the real binary in a pty, text that the terminal
// delivers in one piece (tmux send-keys -l writes it at once) holding the
// names of every key reaches the peer exactly as typed: nothing moved,
// sent early, locked or quit. A bracketed paste with a newline inside
// arrives as one message with that newline.
func TestTUITextIsText(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	ana := newProfile(t, r.addr)
	ben := newProfile(t, r.addr)
	key := ana.ok("invite", "--name", "ben", "--as", "ana")
	ben.ok("join", key, "--name", "ana", "--as", "ben")
	ben.ok("send", "ana", "hello ana")

	_, sock := tmuxDir(t)
	a := startTUI(t, sock, "ana", ana.home)
	a.waitFor("Enter your PIN")
	a.typ("correct horse")
	a.keys("Enter")
	a.waitFor("ben")
	a.keys("M-1")
	a.waitFor("hello ana")

	typed := "the word down here, " + keyNames
	a.typ(typed)
	a.waitFor("alt+up")
	a.keys("Enter")
	a.waitFor("alt+up ✓")

	// A bracketed paste (tmux brackets it because the TUI asked for it).
	if out, err := tmuxCmd(t, sock, "set-buffer", "-b", "p", "line one\nline two"); err != nil {
		t.Fatalf("set-buffer: %v: %s", err, out)
	}
	if out, err := tmuxCmd(t, sock, "paste-buffer", "-p", "-b", "p", "-t", "ana"); err != nil {
		t.Fatalf("paste-buffer: %v: %s", err, out)
	}
	a.waitFor("line two")
	a.keys("Enter")
	a.waitFor("line two ✓")

	evs := chatEvents(ben.watch(2, 30*time.Second))
	if len(evs) != 2 {
		t.Fatalf("ben saw %+v", evs)
	}
	if evs[0].Text != typed {
		t.Fatalf("ben got\n%q\nwant\n%q", evs[0].Text, typed)
	}
	if evs[1].Text != "line one\nline two" {
		t.Fatalf("the paste arrived as %q", evs[1].Text)
	}
	if s := a.screen(); !strings.Contains(s, "hello ana") {
		t.Fatalf("the chat is no longer on the screen:\n%s", s)
	}
	a.keys("C-c")
	a.gone()
}
