package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2ERestoreRestartsChats: Ana backs up and keeps chatting; a copy
// restored from the backup restarts the chat with Ben inside the same chat
// (same safety code); Ben reads the copy's message and the copy reads his
// reply; the original, still in use, is refused with a clear error.
func TestE2ERestoreRestartsChats(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	ana := newProfile(t, r.addr)
	ben := newProfile(t, r.addr)
	anaChat, benChat := connect(t, ana, ben)
	code := ben.ok("verify", benChat)
	// flushUntil has p receive and send what is queued, a second at a
	// time, until what its watch printed holds want.
	flushUntil := func(p *profile, want string) {
		t.Helper()
		var out strings.Builder
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q within 30s; the watch printed:\n%s", want, out.String())
			}
			out.WriteString(p.ok("watch", "--json", "--timeout", "1s"))
		}
	}
	ana.ok("send", anaChat, "before the backup")
	if evs := chatEvents(ben.watch(1, 30*time.Second)); len(evs) != 1 || evs[0].Text != "before the backup" {
		t.Fatalf("ben saw %+v", evs)
	}
	pass := filepath.Join(t.TempDir(), "pass")
	ana.writeFile(pass, "a long backup passphrase")
	file := filepath.Join(t.TempDir(), "backup.age")
	ana.ok("backup", file, "--passphrase-file", pass)

	// The original keeps chatting after the backup.
	ana.ok("send", anaChat, "after the backup")
	chatEvents(ben.watch(1, 30*time.Second))
	ben.ok("send", benChat, "ben after the backup")
	chatEvents(ana.watch(1, 30*time.Second))

	copyAna := &profile{t: t, home: t.TempDir(), pin: ana.pin}
	_, stderr, exit := copyAna.run("restore", file, "--passphrase-file", pass)
	if exit != 0 || !strings.Contains(stderr, "copy of the moment of the backup") || !strings.Contains(stderr, "Stop using the old copy") {
		t.Fatalf("restore: exit %d, stderr %q", exit, stderr)
	}
	copyAna.ok("send", anaChat, "from the copy")

	// Ben's client answers the copy's offer and says what happened.
	evs := chatEvents(ben.watch(1, 30*time.Second))
	if len(evs) != 1 || evs[0].Type != "session_reset" || !strings.Contains(evs[0].Text, "ana restored veil from a backup") {
		t.Fatalf("ben saw %+v", evs)
	}
	// A watch that stops after --count sends what it queued (the answer
	// to the offer, then the copy's waiting message) before it exits.
	evs = chatEvents(copyAna.watch(1, 30*time.Second))
	if len(evs) != 1 || evs[0].Type != "session_reset" {
		t.Fatalf("the copy saw %+v", evs)
	}
	if evs := chatEvents(ben.watch(1, 30*time.Second)); len(evs) != 1 || evs[0].Text != "from the copy" {
		t.Fatalf("ben saw %+v", evs)
	}
	ben.ok("send", benChat, "reply to the copy")
	if evs := chatEvents(copyAna.watch(1, 30*time.Second)); len(evs) != 1 || evs[0].Text != "reply to the copy" {
		t.Fatalf("the copy saw %+v", evs)
	}
	if c := copyAna.ok("verify", anaChat); c != code || ben.ok("verify", benChat) != code {
		t.Fatal("the safety code changed")
	}

	// The original still sends: Ben's client drops it, warns, and tells it.
	ana.ok("send", anaChat, "from the original")
	flushUntil(ben, "out-of-date copy")
	for _, m := range ben.read(benChat) {
		if m.Text == "from the original" {
			t.Fatal("ben shows the original's message")
		}
	}
	flushUntil(ana, "out of date")
	if e := ana.fails(1, "send", anaChat, "again"); !strings.Contains(e, "out of date") {
		t.Fatalf("the original's send: %q", e)
	}
}
