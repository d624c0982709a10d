package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestTUISearchAndVerifiedMark: in a real terminal (tmux), the safety-code
// dialog marks a chat verified (✓ in the list and header, "verified" in
// veil chats --json through the TUI's API), and Ctrl-F in the chat list
// searches every chat and opens the chosen message's chat.
func TestTUISearchAndVerifiedMark(t *testing.T) {
	t.Parallel()
	relay := newTestRelay(t)
	dir, sock := tmuxDir(t)
	homeA, homeB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	a := startTUI(t, sock, "ana", homeA)
	b := startTUI(t, sock, "ben", homeB)
	a.firstRun("correct horse", relay.addr)
	b.firstRun("battery staple", relay.addr)

	a.typ("/invite ben")
	a.keys("Enter")
	key := inviteKey(t, a.waitFor("Give this key"))
	a.keys("Escape")
	a.waitGoneText("Give this key")
	a.waitFor("invite pending until")
	b.typ("/join " + key + " ana")
	b.keys("Enter")
	b.waitFor("joined", "ana")
	b.typ("the papers are at the old mill")
	b.keys("Enter")
	a.waitFor("the papers are at the old mill")

	// Mark verified from the safety-code dialog.
	a.typ("/verify")
	a.keys("Enter")
	a.waitFor("Press m once they match")
	a.keys("m")
	a.waitFor("✓ verified", "ben ✓")
	pa := &profile{t: t, home: homeA, pin: filepath.Join(dir, "a.pin")}
	pa.writeFile(pa.pin, "correct horse")
	if out := pa.ok("chats", "--json"); !strings.Contains(out, `"verified":true`) {
		t.Fatalf("veil chats --json while the TUI runs: %s", out)
	}

	// Search every chat from the list; the result opens its chat.
	a.typ("/invite desk")
	a.keys("Enter")
	a.waitFor("Give this key")
	a.keys("Escape")
	a.waitGoneText("Give this key")
	a.waitFor("desk")
	a.keys("Tab")
	a.keys("C-f")
	a.waitFor("search all chats")
	a.typ("MILL")
	s := a.waitFor("search all chats: MILL", "ben · ", "at the old mill")
	if strings.Contains(s, "no message matches") {
		t.Fatalf("search screen:\n%s", s)
	}
	a.keys("Enter")
	a.waitGoneText("search all chats")
	a.waitFor("ben ✓ verified", "the papers are at the old mill")
}
