package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2ERelayRestart kills the relay mid-conversation: a message sent while
// it is down is queued, the watcher reconnects and resubscribes, and nothing
// is lost.
func TestE2ERelayRestart(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	ana := newProfile(t, r.addr)
	ben := newProfile(t, r.addr)
	anaChat, benChat := connect(t, ana, ben)

	// Ben watches in the background for three messages.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, veilBin, "--home", ben.home, "--pin-file", ben.pin, "watch", "--json", "--count", "3", "--timeout", "60s")
	cmd.Env = append(os.Environ(), fastKDFEnv+"=1")
	var out bytes.Buffer
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			lines <- sc.Text()
		}
	}()
	waitFor := func(what string) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("watch ended before %s; printed:\n%s", what, out.String())
				}
				if strings.Contains(l, what) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("no %s; printed:\n%s", what, out.String())
			}
		}
	}
	waitFor(`"relay_connected"`)
	ana.ok("send", anaChat, "one")
	waitFor(`"text":"one"`)

	r.stop()
	waitFor(`"relay_unreachable"`)
	_, errOut, code := ana.run("send", anaChat, "two")
	if code != 0 || !strings.Contains(errOut, "queued") {
		t.Fatalf("send while the relay is down: exit %d, stderr %q", code, errOut)
	}
	r.start()
	waitFor(`"relay_connected"`)
	ana.ok("send", anaChat, "three") // sends "two" first, from the outbox
	waitFor(`"text":"three"`)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch: %v\n%s", err, out.String())
	}
	wantTexts(t, ben.read(benChat), "one", "two", "three")
	for _, m := range ana.read(anaChat) {
		if m.Status != "delivered" && m.Status != "sent" {
			t.Fatalf("ana's message %q is %s", m.Text, m.Status)
		}
	}
}

// TestE2ETimers checks that the timer flags reach the engine: each shows
// up, in `chats --json` or `read --json`, as the deadline or expiry it
// sets. The timers running out (an invite dying on the relay and at the
// inviter, disappearing messages on both sides, a chat's deadline) are
// client's TestTimer* tests, on a clock they move; here every duration is
// long enough that no command, however slow, sees it run out.
func TestE2ETimers(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	ana := newProfile(t, r.addr)
	ben := newProfile(t, r.addr)
	const life = time.Hour

	// invite --expires: the pending invite's own deadline.
	before := time.Now()
	ana.ok("invite", "--expires", life.String(), "--name", "unused")
	after := time.Now()
	c := ana.chat("unused")
	if !c.Pending {
		t.Fatalf("the unused invite is not pending: %+v", c)
	}
	wantAfter(t, "invite_until", c.InviteUntil, before, after, life)

	// send --ttl: the sender's copy counts from sending, the recipient's
	// from display.
	anaChat, benChat := connect(t, ana, ben)
	before = time.Now()
	ana.ok("send", anaChat, "vanishing", "--ttl", life.String())
	after = time.Now()
	ana.ok("send", anaChat, "lasting")
	ms := ana.readTimed(anaChat)
	if len(ms) != 2 || ms[0].Text != "vanishing" || !ms[1].Expires.IsZero() {
		t.Fatalf("ana's copies: %+v", ms)
	}
	wantAfter(t, "the sender's expiry", ms[0].Expires, before, after, life)
	// Ben was offline all along: his copy starts counting when his watch
	// shows it (read, later, must not move it).
	before = time.Now()
	evs := chatEvents(ben.watch(2, 30*time.Second))
	after = time.Now()
	if len(evs) != 2 || evs[0].Text != "vanishing" {
		t.Fatalf("ben saw %+v", evs)
	}
	ms = ben.readTimed(benChat)
	if len(ms) != 2 || ms[0].Text != "vanishing" || ms[1].Text != "lasting" || !ms[1].Expires.IsZero() {
		t.Fatalf("ben's copies: %+v", ms)
	}
	wantAfter(t, "the recipient's expiry", ms[0].Expires, before, after, life)

	// invite --chat-expires: the chat's deadline, on both sides.
	before = time.Now()
	anaChat2, benChat2 := connect(t, ana, ben, "--chat-expires", life.String())
	after = time.Now()
	for _, p := range []struct {
		p    *profile
		chat string
	}{{ana, anaChat2}, {ben, benChat2}} {
		wantAfter(t, "the chat deadline", p.p.chat(p.chat).Deadline, before, after, life)
	}
	if c := ana.chat(anaChat); !c.Deadline.IsZero() {
		t.Fatalf("a chat without --chat-expires has a deadline: %+v", c)
	}
	ben.ok("send", benChat2, "before the deadline")
	ben.ok("send", benChat, "the other chat")
}

// chatJSON is one line of `chats --json`.
type chatJSON struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Pending     bool          `json:"pending"`
	Deadline    time.Time     `json:"deadline"`
	InviteUntil time.Time     `json:"invite_until"`
	MessageTTL  time.Duration `json:"message_ttl"`
}

// chat returns the chat that `chats --json` lists with this ID or name.
func (p *profile) chat(ref string) chatJSON {
	p.t.Helper()
	for _, line := range strings.Split(p.ok("chats", "--json"), "\n") {
		if line == "" {
			continue
		}
		var c chatJSON
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			p.t.Fatal(err)
		}
		if c.ID == ref || c.Name == ref {
			return c
		}
	}
	p.t.Fatalf("no chat %q", ref)
	return chatJSON{}
}

// timedMessage is one line of `read --json`, with its times.
type timedMessage struct {
	Text    string    `json:"text"`
	Time    time.Time `json:"time"`
	Expires time.Time `json:"expires"`
}

func (p *profile) readTimed(chat string) []timedMessage {
	p.t.Helper()
	var ms []timedMessage
	for _, line := range strings.Split(p.ok("read", chat, "--json"), "\n") {
		if line == "" {
			continue
		}
		var m timedMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			p.t.Fatalf("read printed a line that is not JSON: %q", line)
		}
		ms = append(ms, m)
	}
	return ms
}

// wantAfter fails unless got is d after an instant between before and
// after, to the second (deadlines are truncated to seconds).
func wantAfter(t *testing.T, what string, got, before, after time.Time, d time.Duration) {
	t.Helper()
	lo, hi := before.Add(d).Truncate(time.Second), after.Add(d)
	if got.Before(lo) || got.After(hi) {
		t.Fatalf("%s is %v, want %v after a moment between %v and %v", what, got, d, before, after)
	}
}

// TestE2EDuress: the duress PIN leaves a profile with no chats and no trace
// of the old ones, and the real PIN no longer opens anything.
func TestE2EDuress(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	ana := &profile{t: t, home: t.TempDir()}
	ana.pin = filepath.Join(t.TempDir(), "pin")
	ana.writeFile(ana.pin, "correct horse")
	duress := filepath.Join(t.TempDir(), "duress")
	ana.writeFile(duress, "battery staple")
	ana.ok("init", "--relay", r.addr, "--duress-pin-file", duress)
	ben := newProfile(t, r.addr)
	anaChat, _ := connect(t, ana, ben, "--name", "zanzibar-contact")
	const secret = "meet-at-the-old-mill"
	ana.ok("send", anaChat, secret)
	if len(ana.read(anaChat)) != 1 {
		t.Fatal("message not stored")
	}

	out, errOut, code := ana.runPIN(duress, "chats", "--json")
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Fatalf("duress unlock: exit %d, chats %q, stderr %q", code, out, errOut)
	}
	if _, _, code := ana.run("chats"); code != 1 {
		t.Fatalf("the real PIN still opens the profile (exit %d)", code)
	}
	// No file under the profile holds the old chat's name or text.
	err := filepath.WalkDir(ana.home, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// Long strings only: a short one could occur in ciphertext by chance.
		for _, s := range []string{secret, "zanzibar-contact"} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s still contains %q", path, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestE2EUsage checks exit codes and help.
func TestE2EUsage(t *testing.T) {
	t.Parallel()
	p := &profile{t: t, home: t.TempDir(), pin: filepath.Join(t.TempDir(), "pin")}
	p.writeFile(p.pin, "1234")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: veil"},
		{[]string{"--help"}, 0, "Commands:"},
		{[]string{"send", "--help"}, 0, "-ttl"},
		{[]string{"invite", "--help"}, 0, "-chat-expires"},
		{[]string{"watch", "--help"}, 0, "-count"},
		{[]string{"send", "onlyone"}, 2, "expected 2 argument"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"send", "--bogus", "a", "b"}, 2, "not defined"},
		{[]string{"chats"}, 1, "run veil init first"},
		{[]string{"join", "not-a-key"}, 1, ""},
		{[]string{"relay", "add", "http://x"}, 2, "scheme"},
	} {
		cmd := exec.Command(veilBin, append([]string{"--home", p.home, "--pin-file", p.pin}, tc.args...)...)
		cmd.Env = append(os.Environ(), fastKDFEnv+"=1")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		all := stdout.String() + stderr.String()
		if code != tc.code || !strings.Contains(all, tc.want) {
			t.Errorf("veil %v: exit %d, want %d with %q; output %q", tc.args, code, tc.code, tc.want, all)
		}
		if code == 1 && strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("veil %v: failure must be one line on stderr, got %q", tc.args, stderr.String())
		}
	}
}

// TestE2EEmbeddedRelay is the README's first run: no relay configured, two
// profiles on one machine; the inviter's watch serves its embedded relay.
func TestE2EEmbeddedRelay(t *testing.T) {
	t.Parallel()
	ana := newProfile(t, "")
	ben := newProfile(t, "")
	if !strings.Contains(ana.ok("relay", "list"), "embedded") {
		t.Fatal("no embedded relay listed")
	}
	key := ana.ok("invite", "--name", "ben")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, veilBin, "--home", ana.home, "--pin-file", ana.pin, "watch", "--json", "--count", "2", "--timeout", "50s")
	cmd.Env = append(os.Environ(), fastKDFEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Join once Ana's relay is up (her watch starts it).
	var chat string
	for deadline := time.Now().Add(40 * time.Second); ; {
		o, e, code := ben.run("join", key, "--name", "ana")
		if code == 0 {
			chat = strings.TrimSpace(o)
			break
		}
		if time.Now().After(deadline) || !strings.Contains(e, "cannot be reached") {
			t.Fatalf("join: exit %d: %s", code, e)
		}
		time.Sleep(100 * time.Millisecond) // a short back-off between attempts
	}
	ben.ok("send", chat, "hi from ben")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch: %v", err)
	}
	evs := chatEvents(parseEvents(t, out.String()))
	if len(evs) != 2 || evs[1].Text != "hi from ben" {
		t.Fatalf("ana saw %+v", evs)
	}
}

// TestE2EBackupRestore restores a backup into a new home.
func TestE2EBackupRestore(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	ana := newProfile(t, r.addr)
	ben := newProfile(t, r.addr)
	anaChat, _ := connect(t, ana, ben)
	ana.ok("send", anaChat, "kept in the backup")
	pass := filepath.Join(t.TempDir(), "pass")
	ana.writeFile(pass, "a long backup passphrase")
	file := filepath.Join(t.TempDir(), "backup.age")
	ana.ok("backup", file, "--passphrase-file", pass)
	b, err := os.ReadFile(file)
	if err != nil || !bytes.HasPrefix(b, []byte("age-encryption.org/v1")) || bytes.Contains(b, []byte("kept in the backup")) {
		t.Fatalf("backup is not an opaque age file (err %v)", err)
	}
	copyAna := &profile{t: t, home: t.TempDir(), pin: ana.pin}
	copyAna.ok("restore", file, "--passphrase-file", pass)
	wantTexts(t, copyAna.read(anaChat), "kept in the backup")
	copyAna.fails(1, "restore", file, "--passphrase-file", pass)

	// A profile with an embedded relay gets a new one on restore: the old
	// relay's directory does not travel with the backup.
	cleo := newProfile(t, "")
	old := cleo.ok("relay", "list")
	file2 := filepath.Join(t.TempDir(), "cleo.age")
	cleo.ok("backup", file2, "--passphrase-file", pass)
	copyCleo := &profile{t: t, home: t.TempDir(), pin: cleo.pin}
	copyCleo.ok("restore", file2, "--passphrase-file", pass)
	l := copyCleo.ok("relay", "list")
	if !strings.Contains(l, "* ") || !strings.Contains(l, "embedded") || l == old {
		t.Fatalf("restored relays:\n%s\nwere:\n%s", l, old)
	}
}

// TestE2EDuressEmbedded: with the embedded relay, the duress PIN also
// replaces the relay's directory, so its identity and stored blobs go too.
func TestE2EDuressEmbedded(t *testing.T) {
	t.Parallel()
	ana := &profile{t: t, home: t.TempDir(), pin: filepath.Join(t.TempDir(), "pin")}
	ana.writeFile(ana.pin, "correct horse")
	duress := filepath.Join(t.TempDir(), "duress")
	ana.writeFile(duress, "battery staple")
	ana.ok("init", "--duress-pin-file", duress)
	before := ana.ok("relay", "list")
	ana.ok("invite")
	out, errOut, code := ana.runPIN(duress, "relay", "list")
	if code != 0 || !strings.Contains(out, "embedded") || strings.TrimSpace(out) == before {
		t.Fatalf("after duress: exit %d, relays %q (before %q), stderr %q", code, out, before, errOut)
	}
	if out, _, _ := ana.runPIN(duress, "chats"); strings.TrimSpace(out) != "" {
		t.Fatalf("decoy has chats: %q", out)
	}
}
