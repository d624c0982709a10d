package main

import (
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTUIDuressResetLooksNew: in the real binary, the screen a duress PIN
// in reset mode leaves is the first-run screen of a profile that never
// existed, character for character, and by then nothing of the profile
// (the embedded relay's directory included) is left on disk. That fresh
// first-run screen then checks each answer as it is entered.
func TestTUIDuressResetLooksNew(t *testing.T) {
	t.Parallel()
	dir, sock := tmuxDir(t)
	p := &profile{t: t, home: filepath.Join(dir, "home"), pin: secretFile(t, "correct horse")}
	p.ok("init", "--duress-pin-file", secretFile(t, "battery staple"), "--duress-reset")
	p.ok("invite")
	if _, err := exec.Command("test", "-d", filepath.Join(p.home, relayDirName)).CombinedOutput(); err != nil {
		t.Fatal("the profile has no embedded relay directory to remove")
	}

	a := startTUI(t, sock, "ana", p.home)
	a.waitFor("Enter your PIN")
	a.typ("battery staple")
	a.keys("Enter")
	reset := a.waitFor("Welcome. Choose a PIN")
	wantNothing(t, p.home, "a duress PIN in reset mode")

	n := startTUI(t, sock, "new", filepath.Join(dir, "never"))
	never := n.waitFor("Welcome. Choose a PIN")
	if reset != never {
		t.Fatalf("after a reset the screen differs from a new install's:\n%s\n---\n%s", reset, never)
	}

	// Each answer is checked when entered: nothing is typed twice.
	n.typ("abc")
	n.keys("Enter")
	n.waitFor("too short")
	n.typ("d horse")
	n.keys("Enter")
	n.waitFor("Enter the PIN again")
	n.typ("abcd horse")
	n.keys("Enter")
	n.waitFor("duress PIN")
	n.typ("abcd horse")
	n.keys("Enter")
	n.waitFor("must differ from the PIN")
	n.keys("C-u", "Enter")
	n.waitFor("Relay:")
	n.typ("veil://nowhere")
	n.keys("Enter")
	n.waitFor("this is not a relay address")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	n.keys("C-u")
	n.typ("veil://" + closed + "#" + strings.Repeat("A", 43))
	n.keys("Enter")
	n.waitFor("the relay at "+closed+" cannot be reached (connection", "AAAA")
	n.keys("C-u", "Enter")
	n.waitFor("none yet")
	n.keys("C-c")
	n.gone()
	a.keys("C-c")
	a.gone()
}
