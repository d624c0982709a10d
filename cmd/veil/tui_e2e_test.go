package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The terminal UI driven as a user drives it: the real veil binary in a
// tmux pane (send-keys, capture-pane), two profiles made through the
// first-run screens, a real veil-relay on 127.0.0.1.

const tuiWait = 30 * time.Second

// tmuxPane is one veil TUI running in its own tmux session on a private
// server socket.
type tmuxPane struct {
	t          *testing.T
	sock, name string
}

func tmuxCmd(t *testing.T, sock string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
	return string(out), err
}

// tmuxDir skips the test without tmux, and returns a fresh directory
// and the socket of a tmux server there, killed when the test ends.
func tmuxDir(t *testing.T) (dir, sock string) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: the TUI end-to-end test needs it (apt-get install -y tmux)")
	}
	dir = t.TempDir()
	sock = filepath.Join(dir, "tmux.sock")
	t.Cleanup(func() { tmuxCmd(t, sock, "kill-server") })
	return dir, sock
}

// twoTUIs starts Ana's and Ben's TUIs on new profiles (homes dir/a and
// dir/b) using relay, through their first runs.
func twoTUIs(t *testing.T, relay string) (a, b *tmuxPane, dir string) {
	t.Helper()
	dir, sock := tmuxDir(t)
	a = startTUI(t, sock, "ana", filepath.Join(dir, "a"))
	b = startTUI(t, sock, "ben", filepath.Join(dir, "b"))
	a.firstRun("correct horse", relay)
	b.firstRun("battery staple", relay)
	return a, b, dir
}

// inviteTUI has a invite b with /invite and b join with /join, and
// returns the key.
func inviteTUI(t *testing.T, a, b *tmuxPane) string {
	t.Helper()
	a.typ("/invite ben")
	a.keys("Enter")
	// The test relay is on 127.0.0.1: the dialog says the key is for
	// this machine only.
	key := inviteKey(t, a.waitFor("Give this key", "reached from this machine only"))
	a.keys("Escape")
	a.waitGoneText("Give this key")
	b.typ("/join " + key + " ana")
	b.keys("Enter")
	b.waitFor("joined", "ana")
	return key
}

func startTUI(t *testing.T, sock, name, home string) *tmuxPane {
	t.Helper()
	cmd := "env TERM=xterm-256color " + fastKDFEnv + "=1 VEIL_HOME= " + veilBin + " --home " + home
	if out, err := tmuxCmd(t, sock, "new-session", "-d", "-s", name, "-x", "100", "-y", "32", cmd); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	return &tmuxPane{t: t, sock: sock, name: name}
}

func (p *tmuxPane) keys(k ...string) {
	p.t.Helper()
	if out, err := tmuxCmd(p.t, p.sock, append([]string{"send-keys", "-t", p.name}, k...)...); err != nil {
		p.t.Fatalf("send-keys: %v: %s", err, out)
	}
}

// typ types text literally.
func (p *tmuxPane) typ(s string) {
	p.t.Helper()
	p.keys("-l", s)
}

func (p *tmuxPane) screen() string {
	p.t.Helper()
	out, err := tmuxCmd(p.t, p.sock, "capture-pane", "-p", "-t", p.name)
	if err != nil {
		return ""
	}
	return out
}

// waitFor polls the pane until every text is on it.
func (p *tmuxPane) waitFor(texts ...string) string {
	p.t.Helper()
	deadline := time.Now().Add(tuiWait)
	for {
		s := p.screen()
		all := true
		for _, x := range texts {
			all = all && strings.Contains(s, x)
		}
		if all {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: waiting for %q; the screen:\n%s", p.name, texts, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitGoneText polls the pane until text is no longer on it.
func (p *tmuxPane) waitGoneText(text string) {
	p.t.Helper()
	for deadline := time.Now().Add(tuiWait); strings.Contains(p.screen(), text); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: %q stays on the screen:\n%s", p.name, text, p.screen())
		}
	}
}

// gone waits until the pane's program has exited (its session is gone).
func (p *tmuxPane) gone() {
	p.t.Helper()
	for deadline := time.Now().Add(tuiWait); ; time.Sleep(50 * time.Millisecond) {
		if _, err := tmuxCmd(p.t, p.sock, "has-session", "-t", p.name); err != nil {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not exit; the screen:\n%s", p.name, p.screen())
		}
	}
}

// firstRun makes a profile through the first-run screens, with relay as
// its default relay.
func (p *tmuxPane) firstRun(pin, relay string) {
	p.t.Helper()
	p.waitFor("Choose a PIN")
	p.typ(pin)
	p.keys("Enter")
	p.waitFor("Enter the PIN again")
	p.typ(pin)
	p.keys("Enter")
	p.waitFor("duress PIN")
	p.keys("Enter")
	p.waitFor("Relay:")
	p.typ(relay)
	p.keys("Enter")
	p.waitFor("none yet")
}

var keyStart = regexp.MustCompile(`veil(\+ws)?://\S+`)

// inviteKey reads the invite key off the invite dialog, where it may wrap
// over several lines inside the box.
func inviteKey(t *testing.T, screen string) string {
	t.Helper()
	var key strings.Builder
	in := false
	for _, line := range strings.Split(screen, "\n") {
		line = strings.Trim(strings.TrimSpace(line), "│")
		line = strings.TrimSpace(line)
		if !in {
			if m := keyStart.FindString(line); m != "" {
				key.WriteString(m)
				in = true
			}
			continue
		}
		if line == "" {
			break
		}
		key.WriteString(line)
	}
	if key.Len() == 0 {
		t.Fatalf("no invite key on the screen:\n%s", screen)
	}
	return key.String()
}

func TestTUIInviteJoinChatLockPanic(t *testing.T) {
	t.Parallel()
	relay := newTestRelay(t)
	dir, sock := tmuxDir(t)
	homeA, homeB := filepath.Join(dir, "a"), filepath.Join(dir, "b")

	a := startTUI(t, sock, "ana", homeA)
	b := startTUI(t, sock, "ben", homeB)
	a.firstRun("correct horse", relay.addr)
	b.firstRun("battery staple", relay.addr)

	// Ana invites; Ben pastes the key.
	a.typ("/invite ben")
	a.keys("Enter")
	key := inviteKey(t, a.waitFor("Give this key"))
	a.keys("Escape")
	a.waitGoneText("Give this key")
	a.waitFor("Waiting for someone to join")
	b.typ("/join " + key + " ana")
	b.keys("Enter")
	b.waitFor("joined", "ana")

	// Messages both ways, with delivery marks.
	b.typ("hello from ben")
	b.keys("Enter")
	a.waitFor("hello from ben")
	b.waitFor("hello from ben ✓✓")
	a.typ("hi ben")
	a.keys("Enter")
	b.waitFor("hi ben")
	a.waitFor("hi ben ✓✓")

	// Edit and delete the last message, on both sides.
	a.typ("/edit hi ben, edited")
	a.keys("Enter")
	b.waitFor("hi ben, edited (edited)")
	a.typ("/delete")
	a.keys("Enter")
	b.waitFor("message deleted")
	a.waitFor("message deleted")

	// Both sides show the same safety code.
	a.typ("/verify")
	a.keys("Enter")
	b.typ("/verify")
	b.keys("Enter")
	codeA, codeB := a.safetyCode(), b.safetyCode()
	if codeA != codeB || len(codeA) != safetyCodeLen {
		t.Fatalf("safety codes differ or are not 60 digits: %q / %q", codeA, codeB)
	}
	// A key right after Escape would read as alt+key: wait for each.
	a.keys("Escape")
	a.waitGoneText("Safety code")
	b.keys("Escape")
	b.waitGoneText("Safety code")

	// Lock: nothing of the chat stays on screen; unlock brings it back.
	a.keys("C-l")
	s := a.waitFor("Enter your PIN")
	if strings.Contains(s, "hello from ben") {
		t.Fatalf("the locked screen shows the chat:\n%s", s)
	}
	a.typ("wrong horse")
	a.keys("Enter")
	a.waitFor("wrong PIN")
	a.typ("correct horse")
	a.keys("Enter")
	a.waitFor("1 ben")
	a.keys("M-1")
	a.waitFor("hello from ben", "message deleted")

	// Quit with an empty draft: at once, terminal restored.
	b.keys("C-c")
	b.gone()

	// Panic: the word, then the profile is gone.
	a.typ("/panic")
	a.keys("Enter")
	a.waitFor("Type erase")
	a.typ("erase")
	a.keys("Enter")
	a.gone()
	pinFile := filepath.Join(dir, "a.pin")
	if err := os.WriteFile(pinFile, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pa := &profile{t: t, home: homeA, pin: pinFile}
	if _, errOut, code := pa.run("chats"); code == 0 || !strings.Contains(errOut, "no profile") {
		t.Fatalf("after panic, veil chats: exit %d, %s", code, errOut)
	}
	// Ben's profile is intact.
	pb := &profile{t: t, home: homeB, pin: filepath.Join(dir, "b.pin")}
	pb.writeFile(pb.pin, "battery staple")
	if out := pb.ok("chats"); !strings.Contains(out, "ana") {
		t.Fatalf("ben's chats: %s", out)
	}
}

var digitGroups = regexp.MustCompile(`\b\d{5}\b`)

// safetyCodeLen is the number of digits of a 1:1 chat's safety code.
const safetyCodeLen = 60

// safetyCode waits for the safety code dialog and reads the code once all
// of it is on the pane: a capture can catch a frame that tmux has drawn
// only in part.
func (p *tmuxPane) safetyCode() string {
	p.t.Helper()
	deadline := time.Now().Add(tuiWait)
	for {
		code := safetyDigits(p.t, p.waitFor("Safety code"))
		if len(code) >= safetyCodeLen || time.Now().After(deadline) {
			return code
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// safetyDigits reads the safety code (groups of five digits) off the screen.
func safetyDigits(t *testing.T, screen string) string {
	t.Helper()
	return strings.Join(digitGroups.FindAllString(screen, -1), "")
}

// TestTUIGroup: a group made, joined and used through the TUI.
func TestTUIGroup(t *testing.T) {
	t.Parallel()
	relay := newTestRelay(t)
	dir, sock := tmuxDir(t)
	a := startTUI(t, sock, "ana", filepath.Join(dir, "a"))
	b := startTUI(t, sock, "ben", filepath.Join(dir, "b"))
	a.firstRun("correct horse", relay.addr)
	b.firstRun("battery staple", relay.addr)

	a.typ("/group create newsroom")
	a.keys("Enter")
	a.waitFor("group created", "newsroom #")
	a.typ("/group invite")
	a.keys("Enter")
	key := inviteKey(t, a.waitFor("Give this key"))
	a.keys("Escape")
	a.waitGoneText("Give this key")
	b.typ("/join " + key)
	b.keys("Enter")
	// The welcome makes Ben a member; until then there is no epoch to
	// send in (sending earlier panics the engine: reported).
	b.waitFor("joined newsroom")
	b.typ("hello group")
	b.keys("Enter")
	a.waitFor("hello group")
	a.typ("/group members")
	a.keys("Enter")
	a.waitFor("Members", "(admin)", "(you)")
}

// TestTUIErasedAndPolicy: in the real binary, a duress PIN in reset mode
// leads to the first-run screen of a profile that never existed, and
// nothing of the profile (the embedded relay's directory included) stays
// on disk; a new profile made there gets an erase policy in the settings,
// and the wrong-PIN limit it sets ends the same way.
func TestTUIErasedAndPolicy(t *testing.T) {
	t.Parallel()
	dir, sock := tmuxDir(t)
	duress := secretFile(t, "battery staple")
	p := &profile{t: t, home: filepath.Join(dir, "home"), pin: secretFile(t, "correct horse")}
	p.ok("init", "--duress-pin-file", duress, "--duress-reset")
	p.ok("invite")

	a := startTUI(t, sock, "ana", p.home)
	a.waitFor("Enter your PIN")
	a.typ("battery staple")
	a.keys("Enter")
	a.waitFor("Welcome. Choose a PIN")
	wantNothing(t, p.home, "a duress PIN in reset mode")

	// A new profile in the same place, with the embedded relay.
	a.typ("new horse")
	a.keys("Enter")
	a.waitFor("Enter the PIN again")
	a.typ("new horse")
	a.keys("Enter")
	a.waitFor("duress PIN")
	a.keys("Enter")
	a.waitFor("Relay:")
	a.keys("Enter")
	a.waitFor("none yet")

	// The erase policy: wrong PINs off → 3, saved with the current PIN.
	a.keys("F2")
	a.waitFor("Settings", "Erase policy")
	for range 6 {
		a.keys("Down")
	}
	a.keys("Enter")
	a.waitFor("Wrong PINs before erasing")
	a.keys("Enter")
	a.waitFor("3 in a row")
	a.keys("Down", "Down", "Enter")
	a.waitFor("Enter your current PIN to save")
	a.typ("new horse")
	a.keys("Enter")
	a.waitFor("erase policy saved")

	// Lock, then three wrong PINs.
	a.keys("C-l")
	a.waitFor("Enter your PIN")
	for i := range 3 {
		// The gate drops keys while an unlock runs: type only once the
		// last answer is on the screen, and press Enter once every
		// character has arrived.
		a.typ("wrong horse")
		a.waitFor(strings.Repeat("•", len("wrong horse")))
		a.keys("Enter")
		if i < 2 {
			a.waitGoneText("•••")
			a.waitFor("wrong PIN")
		}
	}
	a.waitFor("Welcome. Choose a PIN")
	wantNothing(t, p.home, "the wrong-PIN limit")
	a.keys("C-c")
	a.gone()
}

// TestTUIServesAPI: while the TUI runs unlocked, the CLI of the same
// profile (no PIN given) goes through the TUI's engine: chats lists, send
// sends and the TUI shows the message. Locked (its lock key, or veil
// lock), the API says so; once the TUI quits, the CLI opens the profile
// itself again.
func TestTUIServesAPI(t *testing.T) {
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
	if _, err := os.Stat(filepath.Join(ana.home, "veil.sock")); err != nil {
		t.Fatalf("the TUI serves no socket: %v", err)
	}
	// Locked: the API says so, and will not unlock behind the TUI's back.
	if _, errOut, code := ana.runPIN("", "chats"); code != 1 || !strings.Contains(errOut, "locked") {
		t.Fatalf("veil chats while the TUI is locked: exit %d, %s", code, errOut)
	}
	if _, errOut, code := ana.run("unlock"); code != 1 || !strings.Contains(errOut, "the TUI holds this profile") {
		t.Fatalf("veil unlock while the TUI is locked: exit %d, %s", code, errOut)
	}
	if _, errOut, code := ana.run("daemon"); code != 1 || !strings.Contains(errOut, "already runs") {
		t.Fatalf("veil daemon beside the TUI: exit %d, %s", code, errOut)
	}

	a.typ("correct horse")
	a.keys("Enter")
	a.waitFor("ben")
	a.keys("M-1")
	a.waitFor("hello ana")

	// Another process, no PIN: through the TUI's socket.
	if out, errOut, code := ana.runPIN("", "chats"); code != 0 || !strings.Contains(out, "ben") {
		t.Fatalf("veil chats beside the TUI: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if out, errOut, code := ana.runPIN("", "send", "ben", "through the tui"); code != 0 {
		t.Fatalf("veil send beside the TUI: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	a.waitFor("through the tui")
	evs := chatEvents(ben.watch(1, 30*time.Second))
	if len(evs) != 1 || evs[0].Text != "through the tui" {
		t.Fatalf("ben saw %+v", evs)
	}

	// The TUI's lock key: the API is locked too.
	a.keys("C-l")
	a.waitFor("Enter your PIN")
	if _, errOut, code := ana.runPIN("", "chats"); code != 1 || !strings.Contains(errOut, "locked") {
		t.Fatalf("veil chats after the TUI locked: exit %d, %s", code, errOut)
	}

	// veil lock locks the TUI.
	a.typ("correct horse")
	a.keys("Enter")
	a.waitFor("ben")
	if _, errOut, code := ana.runPIN("", "lock"); code != 0 {
		t.Fatalf("veil lock beside the TUI: exit %d, %s", code, errOut)
	}
	a.waitFor("Enter your PIN")

	// The TUI quits: its socket goes, and the CLI opens the profile.
	a.keys("C-c")
	a.gone()
	if _, err := os.Stat(filepath.Join(ana.home, "veil.sock")); err == nil {
		t.Fatal("the socket stays after the TUI quit")
	}
	if out := ana.ok("chats"); !strings.Contains(out, "ben") {
		t.Fatalf("veil chats after the TUI quit: %s", out)
	}

	// veil panic beside an unlocked TUI: the TUI erases and exits, and
	// nothing of the profile stays.
	a = startTUI(t, sock, "ana2", ana.home)
	a.waitFor("Enter your PIN")
	a.typ("correct horse")
	a.keys("Enter")
	a.waitFor("ben")
	if _, errOut, code := ana.runPIN("", "panic"); code != 0 {
		t.Fatalf("veil panic beside the TUI: exit %d, %s", code, errOut)
	}
	a.gone()
	wantNothing(t, ana.home, "veil panic beside the TUI")
}
