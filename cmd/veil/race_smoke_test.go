package main

import (
	"path/filepath"
	"testing"
	"time"
)

// TestE2ERaceSmoke runs one whole conversation with veil built with the
// race detector, when this test binary is itself a race build: the other
// end-to-end tests use children built without it, to keep CI in minutes
// (.ci/full builds every child with it).
func TestE2ERaceSmoke(t *testing.T) {
	if !raceEnabled {
		t.Skip("needs go test -race")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "veil-race")
	if err := buildChild(bin, true, "."); err != nil {
		t.Fatal(err)
	}
	r := newTestRelay(t)
	ana := newProfile(t, r.addr)
	ben := newProfile(t, r.addr)
	ana.bin, ben.bin = bin, bin
	key := ana.ok("invite", "--name", "ben", "--as", "ana")
	ben.ok("join", key, "--name", "ana", "--as", "ben")
	ben.ok("send", "ana", "hello ana")
	evs := chatEvents(ana.watch(2, 60*time.Second))
	if len(evs) != 2 || evs[1].Text != "hello ana" {
		t.Fatalf("ana saw %+v", evs)
	}
	ana.ok("send", "ben", "hello ben")
	if evs := chatEvents(ben.watch(1, 60*time.Second)); len(evs) != 1 || evs[0].Text != "hello ben" {
		t.Fatalf("ben saw %+v", evs)
	}
	wantTexts(t, ben.read("ana"), "hello ana", "hello ben")
}
