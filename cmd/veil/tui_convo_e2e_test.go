package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestTUIReplyReactTimer: two real profiles in tmux; Ana selects Ben's
// message and replies to it with r, Ben reacts to the reply with /react,
// and Ana's timer change reaches Ben as a line and in his chat's header.
func TestTUIReplyReactTimer(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: the TUI end-to-end test needs it (apt-get install -y tmux)")
	}
	relay := newTestRelay(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "tmux.sock")
	t.Cleanup(func() { tmuxCmd(t, sock, "kill-server") })
	a := startTUI(t, sock, "ana", filepath.Join(dir, "a"))
	b := startTUI(t, sock, "ben", filepath.Join(dir, "b"))
	a.firstRun("correct horse", relay.addr)
	b.firstRun("battery staple", relay.addr)
	a.typ("/invite ben")
	a.keys("Enter")
	key := inviteKey(t, a.waitFor("Give this key"))
	a.keys("Escape")
	a.waitGoneText("Give this key")
	b.typ("/join " + key + " ana")
	b.keys("Enter")
	b.waitFor("joined", "ana")

	b.typ("where do we meet?")
	b.keys("Enter")
	a.waitFor("where do we meet?")
	b.waitFor("where do we meet? ✓✓")

	// Ana: shift+↑ selects Ben's message (its arrival shows), r replies.
	a.keys("S-Up")
	a.waitFor("arrived")
	a.keys("r")
	a.waitFor("replying to: where do we meet?")
	a.typ("the library")
	a.keys("Enter")
	a.waitFor("↳ ben: where do we meet?", "the library")
	b.waitFor("↳ you: where do we meet?", "the library")

	// Ben reacts to Ana's reply; Ana sees the count under it.
	b.keys("S-Up")
	b.waitFor("arrived")
	b.typ("/react 👍")
	b.keys("Enter")
	b.waitFor("👍 1")
	a.waitFor("👍 1")

	// Ana sets the timer: both sides get a line, Ben's header follows.
	a.typ("/timer 1d")
	a.keys("Enter")
	a.waitFor("you set messages to disappear after 1d")
	b.waitFor("ana set messages to disappear after 1d", "⏱ 1d")
}
