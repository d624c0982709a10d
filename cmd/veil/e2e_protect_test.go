package main

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The duress PIN, the erase policy, panic and wipe as a user runs them.

// secretFile writes s as a PIN file and returns its name.
func secretFile(t *testing.T, s string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(name, []byte(s+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// wantNothing fails unless dir is absent or empty.
func wantNothing(t *testing.T, dir, after string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) > 0 {
		t.Fatalf("after %s, %s still holds %s", after, dir, strings.Join(listing(t, dir), ", "))
	}
}

// listing is every path under dir with its type and permission bits,
// sorted.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out = append(out, fi.Mode().String()+" "+rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestE2EInitChecksBeforeWriting: every bad input of init is refused
// before anything is written to the profile directory.
func TestE2EInitChecksBeforeWriting(t *testing.T) {
	t.Parallel()
	good := secretFile(t, "correct horse")
	dir := t.TempDir() // a directory cannot be read as a PIN file
	for _, tc := range []struct {
		name string
		pin  string
		args []string
		code int
		want string
	}{
		{"PIN file missing", filepath.Join(dir, "none"), nil, 1, "reading new PIN"},
		{"PIN file unreadable", dir, nil, 1, "reading new PIN"},
		{"PIN too short", secretFile(t, "123"), nil, 1, "at least 4"},
		{"duress file missing", good, []string{"--duress-pin-file", filepath.Join(dir, "none")}, 1, "reading duress PIN"},
		{"duress file unreadable", good, []string{"--duress-pin-file", dir}, 1, "reading duress PIN"},
		{"duress too short", good, []string{"--duress-pin-file", secretFile(t, "987")}, 1, "duress PIN must be at least"},
		{"duress equal to PIN", good, []string{"--duress-pin-file", good}, 1, "must differ"},
		{"duress reset without duress PIN", good, []string{"--duress-reset"}, 2, "needs --duress-pin-file"},
		{"bad relay", good, []string{"--relay", "http://example.org"}, 2, "--relay"},
		{"bad relay with duress", good, []string{"--duress-pin-file", secretFile(t, "battery staple"), "--relay", "veil://127.0.0.1:1#short"}, 2, "--relay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &profile{t: t, home: filepath.Join(t.TempDir(), "home"), pin: tc.pin}
			_, errOut, code := p.run(append([]string{"init"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, want %d with %q; stderr %q", code, tc.code, tc.want, errOut)
			}
			wantNothing(t, p.home, "a refused init")
		})
	}
}

// TestE2EEverySubcommandHelp: every command and subcommand answers --help
// with exit 0.
func TestE2EEverySubcommandHelp(t *testing.T) {
	t.Parallel()
	p := &profile{t: t, home: t.TempDir(), pin: secretFile(t, "1234")}
	var all [][]string
	for _, c := range commands() {
		all = append(all, []string{c.name, "--help"})
	}
	for _, sub := range []string{"create", "invite", "members", "remove", "promote", "set", "rekey", "leave", "verify", "sync"} {
		all = append(all, []string{"group", sub, "--help"}, []string{"group", sub, "-h"})
	}
	for _, sub := range []string{"add", "list", "default", "remove"} {
		all = append(all, []string{"relay", sub, "--help"})
	}
	all = append(all, []string{"chat", "move", "--help"}, []string{"chat", "rotate", "--help"})
	all = append(all, []string{"duress", "set", "--help"}, []string{"duress", "remove", "--help"},
		[]string{"--help"}, []string{"-h"}, []string{"help"}, []string{"up", "--help"})
	for _, args := range all {
		// Help that was asked for goes to stdout, with nothing on stderr.
		out, errOut, code := p.run(args...)
		if code != 0 || !strings.Contains(out, "usage: veil") || errOut != "" {
			t.Errorf("veil %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errOut)
		}
	}
	// The group subcommand names in the usage line are the ones tested.
	for _, sub := range strings.Split(groupUsage, "|") {
		name := strings.Fields(sub)[0]
		if !slices.ContainsFunc(all, func(a []string) bool { return len(a) == 3 && a[0] == "group" && a[1] == name }) {
			t.Errorf("group %s is not tested", name)
		}
	}
	// A usage error is still exit 2 with the usage on stderr.
	if _, errOut, code := p.run("send", "--no-such-flag"); code != 2 || !strings.Contains(errOut, "usage: veil send") {
		t.Errorf("bad flag: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := p.run("group"); code != 2 || errOut == "" {
		t.Errorf("group without a subcommand: exit %d, stderr %q", code, errOut)
	}

	// veil-relay: help exits 0 on stdout; a usage error 2; a failure 1.
	relay := func(args ...string) (string, int) {
		out, err := exec.Command(relayBin, args...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return string(out), code
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"serve", "--help"}, {"address", "--help"}, {"init", "--help"}} {
		if out, code := relay(args...); code != 0 || !strings.Contains(out, "usage: veil-relay") {
			t.Errorf("veil-relay %s: exit %d, output %q", strings.Join(args, " "), code, out)
		}
	}
	if out, code := relay("bogus"); code != 2 || !strings.Contains(out, "unknown command") {
		t.Errorf("veil-relay bogus: exit %d, output %q", code, out)
	}
	notDir := filepath.Join(t.TempDir(), "file")
	p.writeFile(notDir, "x")
	if out, code := relay("address", "--data", notDir); code != 1 {
		t.Errorf("veil-relay address on a file: exit %d, output %q", code, out)
	}
}

// TestE2EDuressCommands: veil duress set and remove ask the current PIN,
// check the new one, and do what they say.
func TestE2EDuressCommands(t *testing.T) {
	t.Parallel()
	p := newProfile(t, "")
	duress := secretFile(t, "battery staple")
	wrong := secretFile(t, "not the pin")

	if e := p.fails(2, "duress"); !strings.Contains(e, "expected 1 argument") {
		t.Fatalf("duress without a subcommand: %q", e)
	}
	p.fails(2, "duress", "set", "--mode", "loud", "--duress-pin-file", duress)
	p.fails(2, "duress", "remove", "--mode", "reset")
	if _, e, code := p.runPIN(wrong, "duress", "set", "--duress-pin-file", duress); code != 1 || !strings.Contains(e, "wrong PIN") {
		t.Fatalf("a wrong current PIN: exit %d, %q", code, e)
	}
	if e := p.fails(1, "duress", "set", "--duress-pin-file", p.pin); !strings.Contains(e, "must differ") {
		t.Fatalf("a duress PIN equal to the PIN: %q", e)
	}
	if e := p.fails(1, "duress", "set", "--duress-pin-file", secretFile(t, "12")); !strings.Contains(e, "at least") {
		t.Fatalf("a short duress PIN: %q", e)
	}
	if _, e, code := p.runPIN(duress, "chats"); code != 1 || !strings.Contains(e, "wrong PIN") {
		t.Fatalf("a refused duress PIN opens: exit %d, %q", code, e)
	}

	// Decoy, then removed: the duress PIN is a wrong PIN again.
	if out := p.ok("duress", "set", "--duress-pin-file", duress); !strings.Contains(out, "duress PIN set") {
		t.Fatalf("set: %q", out)
	}
	if out := p.ok("duress", "remove"); out != "no duress PIN now" {
		t.Fatalf("remove: %q", out)
	}
	if _, e, code := p.runPIN(duress, "chats"); code != 1 || !strings.Contains(e, "wrong PIN") {
		t.Fatalf("a removed duress PIN: exit %d, %q", code, e)
	}

	// Reset: the duress PIN says the data is gone and leaves nothing, the
	// embedded relay's identity included; then the profile never existed.
	p.ok("invite")
	p.ok("duress", "set", "--mode", "reset", "--duress-pin-file", duress)
	if _, e, code := p.runPIN(duress, "chats"); code != 1 || !strings.Contains(e, "data is gone") {
		t.Fatalf("the duress PIN in reset mode: exit %d, %q", code, e)
	}
	wantNothing(t, p.home, "a duress PIN in reset mode")
	if e := p.fails(1, "read", "x"); !strings.Contains(e, "run veil init first") {
		t.Fatalf("after a reset: %q", e)
	}
	p.ok("init") // a new profile in the same place
}

// TestE2EPolicy: veil policy shows and changes the erase policy after the
// current PIN; the wrong-PIN limit and the dead-man timer erase the
// profile, and afterwards it is as if it never existed.
func TestE2EPolicy(t *testing.T) {
	t.Parallel()
	p := newProfile(t, "")
	wrong := secretFile(t, "not the pin")
	if out := p.ok("policy"); out != "wipe-after: off\ndead-man: off" {
		t.Fatalf("a new profile's policy:\n%s", out)
	}
	if out := p.ok("policy", "--pin-file", p.pin); out != "wipe-after: off\ndead-man: off" {
		t.Fatalf("with a global flag after the command:\n%s", out)
	}
	p.fails(2, "policy", "--wipe-after", "-1")
	p.fails(2, "policy", "--dead-man", "10s")
	p.fails(2, "policy", "--dead-man", "soon")
	if out := p.ok("policy", "--wipe-after", "3", "--dead-man", "7d"); !strings.Contains(out, "wipe-after: 3") || !strings.Contains(out, "dead-man: 7d") {
		t.Fatalf("set:\n%s", out)
	}
	if out := p.ok("policy", "--dead-man", "off"); !strings.Contains(out, "wipe-after: 3") || !strings.Contains(out, "dead-man: off") {
		t.Fatalf("dead-man off keeps wipe-after:\n%s", out)
	}
	if _, e, code := p.runPIN(wrong, "policy", "--wipe-after", "0"); code != 1 || !strings.Contains(e, "wrong PIN") {
		t.Fatalf("a wrong current PIN: exit %d, %q", code, e)
	}
	if out := p.ok("policy", "--wipe-after", "2"); !strings.Contains(out, "wipe-after: 2") {
		t.Fatalf("after a right PIN: %q", out)
	}

	// The wrong-PIN limit.
	if _, e, code := p.runPIN(wrong, "chats"); code != 1 || !strings.Contains(e, "wrong PIN") {
		t.Fatalf("first wrong PIN: exit %d, %q", code, e)
	}
	if _, e, code := p.runPIN(wrong, "chats"); code != 1 || !strings.Contains(e, "data is gone") {
		t.Fatalf("second wrong PIN: exit %d, %q", code, e)
	}
	wantNothing(t, p.home, "the wrong-PIN limit")
	if e := p.fails(1, "chats"); !strings.Contains(e, "run veil init first") {
		t.Fatalf("after the wrong-PIN limit: %q", e)
	}

	// The dead-man timer, with the vault's clock moved ahead.
	q := newProfile(t, "")
	q.ok("invite")
	q.ok("policy", "--dead-man", "1d")
	q.env = []string{clockSkewEnv + "=23h"}
	q.ok("chats") // within the period: an unlock, which restarts it
	q.env = []string{clockSkewEnv + "=48h"}
	if e := q.fails(1, "chats"); !strings.Contains(e, "data is gone") {
		t.Fatalf("after the dead-man period: %q", e)
	}
	wantNothing(t, q.home, "the dead-man timer")
	if e := q.fails(1, "chats"); !strings.Contains(e, "run veil init first") {
		t.Fatalf("after the dead-man timer: %q", e)
	}
}

// TestE2EDecoyLooksLikeInit: after a decoy duress unlock, the profile
// directory holds exactly the files (names, types, permissions) a fresh
// veil init leaves, and the embedded relay has a new identity.
func TestE2EDecoyLooksLikeInit(t *testing.T) {
	t.Parallel()
	duress := secretFile(t, "battery staple")
	p := newProfile(t, "", "--duress-pin-file", duress)
	p.ok("invite")
	p.ok("policy", "--wipe-after", "5")
	before := p.ok("relay", "list")
	identity, err := os.ReadFile(filepath.Join(p.home, relayDirName, "identity.key"))
	if err != nil {
		t.Fatal(err)
	}
	out, e, code := p.runPIN(duress, "chats")
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Fatalf("decoy unlock: exit %d, %q, %q", code, out, e)
	}
	fresh := newProfile(t, "")
	got, want := listing(t, p.home), listing(t, fresh.home)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("after a decoy unlock:\n%s\n\na fresh profile:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	now, err := os.ReadFile(filepath.Join(p.home, relayDirName, "identity.key"))
	if err != nil || string(now) == string(identity) {
		t.Fatalf("the embedded relay kept its identity (%v)", err)
	}
	p.pin = duress
	if l := p.ok("relay", "list"); l == before || !strings.Contains(l, "embedded") {
		t.Fatalf("relays after the decoy: %q, before %q", l, before)
	}
	if out := p.ok("policy"); out != "wipe-after: off\ndead-man: off" {
		t.Fatalf("the decoy's policy:\n%s", out)
	}
}

// TestE2EPanicWipeLeaveNothing: after veil panic or veil wipe, nothing of
// the profile remains, the embedded relay's directory included.
func TestE2EPanicWipeLeaveNothing(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"panic"}, {"wipe", "--yes"}} {
		p := newProfile(t, "", "--duress-pin-file", secretFile(t, "battery staple"))
		p.ok("invite")
		p.ok(args...)
		wantNothing(t, p.home, args[0])
		p.ok(args...) // again: nothing to erase is no failure
		if e := p.fails(1, "chats"); !strings.Contains(e, "run veil init first") {
			t.Fatalf("after %s: %q", args[0], e)
		}
	}
}
