package main

// The daemon end to end, with real processes: a daemon killed with
// SIGKILL while it sends and receives loses nothing and shows nothing
// twice; lock, unlock and a wrong PIN through the CLI; SIGTERM stops it
// cleanly; a command's own server (no daemon) leaves nothing queued after
// watch --count.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// daemonProc is a running `veil daemon` of a profile.
type daemonProc struct {
	p      *profile
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan error
}

// runDaemon starts p's daemon and waits until it answers unlocked.
func runDaemon(t testing.TB, p *profile, args ...string) *daemonProc {
	t.Helper()
	d := &daemonProc{p: p, done: make(chan error, 1)}
	d.cmd = exec.Command(veilBin, append([]string{"--home", p.home, "--pin-file", p.pin, "daemon"}, args...)...)
	d.cmd.Env = append(os.Environ(), fastKDFEnv+"=1", "VEIL_HOME=")
	d.cmd.Stderr = &d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() { d.cmd.Process.Kill(); <-d.done })
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, code := p.run("status")
		if code == 0 && strings.Contains(out, "unlocked") {
			return d
		}
		select {
		case err := <-d.done:
			d.done <- err
			t.Fatalf("the daemon exited (%v) before it answered: %s", err, d.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not answer: %s", d.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops the daemon with sig and returns how it exited.
func (d *daemonProc) kill(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	d.cmd.Process.Signal(sig)
	select {
	case err := <-d.done:
		d.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("the daemon did not stop on %v: %s", sig, d.stderr.String())
		return nil
	}
}

func TestE2EDaemonKillLosesNothing(t *testing.T) {
	rounds, per := 6, 5
	if testing.Short() {
		rounds = 3
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 19))
	t.Logf("seed %d", seed)
	r := newTestRelay(t)
	ana, ben := newProfile(t, r.addr), newProfile(t, r.addr)
	aChat, bChat := connect(t, ana, ben)
	da, db := runDaemon(t, ana), runDaemon(t, ben)

	var want []string // ana's texts, in the order sent
	for round := range rounds {
		var wg sync.WaitGroup
		texts := make([]string, per)
		for i := range per {
			texts[i] = fmt.Sprintf("r%d-m%d", round, i)
		}
		// Ana sends one after another (her order is the chat's order)
		// while ben's daemon receives and is killed at a random moment.
		wg.Go(func() {
			for _, s := range texts {
				if _, errOut, code := ana.run("send", aChat, s); code != 0 {
					t.Errorf("send %s: exit %d: %s", s, code, errOut)
				}
			}
		})
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		db.kill(t, syscall.SIGKILL)
		wg.Wait()
		want = append(want, texts...)
		// Ben answers through a restarted daemon, which is killed too
		// while its answer may be leaving.
		db = runDaemon(t, ben)
		ben.ok("send", bChat, fmt.Sprintf("reply-%d", round))
		if rng.IntN(2) == 0 {
			db.kill(t, syscall.SIGKILL)
			db = runDaemon(t, ben)
		}
	}
	// Every message arrives once, in order, on both sides.
	waitFor(t, 60*time.Second, func() bool { return len(incoming(ben.read(bChat))) >= len(want) })
	wantTexts(t, incoming(ben.read(bChat)), want...)
	var replies []string
	for round := range rounds {
		replies = append(replies, fmt.Sprintf("reply-%d", round))
	}
	waitFor(t, 60*time.Second, func() bool { return len(incoming(ana.read(aChat))) >= len(replies) })
	// Ana's history: her own messages and ben's replies, each once.
	seen := map[string]int{}
	for _, m := range ana.read(aChat) {
		seen[m.Text]++
	}
	for _, s := range append(append([]string{}, want...), replies...) {
		if seen[s] != 1 {
			t.Errorf("ana's history holds %q %d times", s, seen[s])
		}
	}
	if err := da.kill(t, syscall.SIGTERM); err != nil {
		t.Errorf("ana's daemon on SIGTERM: %v: %s", err, da.stderr.String())
	}
	if err := db.kill(t, syscall.SIGTERM); err != nil {
		t.Errorf("ben's daemon on SIGTERM: %v: %s", err, db.stderr.String())
	}
	for _, p := range []*profile{ana, ben} {
		if _, err := os.Lstat(filepath.Join(p.home, "veil.sock")); err == nil {
			t.Errorf("%s: the socket outlived its daemon", p.home)
		}
	}
}

// incoming keeps the messages that were received.
func incoming(ms []message) []message {
	var out []message
	for _, m := range ms {
		if !m.Outgoing {
			out = append(out, m)
		}
	}
	return out
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestE2EDaemonLockUnlock(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	ana := newProfile(t, r.addr)
	d := runDaemon(t, ana)
	// No PIN needed while it runs: a PIN file that does not exist is
	// never read.
	if out, errOut, code := ana.runPIN("/nonexistent", "chats"); code != 0 {
		t.Fatalf("chats through the daemon: exit %d: %s %s", code, out, errOut)
	}
	ana.ok("lock")
	if msg := ana.fails(1, "chats"); !strings.Contains(msg, "locked: run veil unlock") {
		t.Fatalf("chats on a locked daemon: %q", msg)
	}
	wrong := filepath.Join(t.TempDir(), "wrong")
	ana.writeFile(wrong, "not the pin")
	if _, errOut, code := ana.runPIN(wrong, "unlock"); code != 1 || strings.Contains(errOut, "vault:") {
		t.Fatalf("unlock with a wrong PIN: exit %d: %q", code, errOut)
	}
	ana.fails(1, "chats")
	ana.ok("unlock")
	ana.ok("chats")
	if out := ana.ok("status"); !strings.Contains(out, "unlocked") {
		t.Fatalf("status: %q", out)
	}
	// The PIN-changing commands need the vault itself.
	if msg := ana.fails(1, "policy"); !strings.Contains(msg, "stop it first") {
		t.Fatalf("policy beside the daemon: %q", msg)
	}
	if err := d.kill(t, syscall.SIGINT); err != nil {
		t.Fatalf("SIGINT: %v: %s", err, d.stderr.String())
	}
	if msg := ana.fails(1, "unlock"); !strings.Contains(msg, "no veil daemon") {
		t.Fatalf("unlock without a daemon: %q", msg)
	}
	if log := d.stderr.String(); strings.Contains(log, ana.home+"/vault") || strings.Contains(log, "chat") {
		t.Fatalf("the daemon's log says too much: %q", log)
	}
}

func TestE2EDaemonPanicErasesEverything(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	ana := newProfile(t, r.addr)
	d := runDaemon(t, ana)
	ana.ok("panic")
	if err := d.kill(t, 0); err != nil { // signal 0: only wait
		t.Fatalf("the daemon after panic: %v: %s", err, d.stderr.String())
	}
	if _, err := os.Stat(ana.home); err == nil {
		ents, _ := os.ReadDir(ana.home)
		t.Fatalf("the profile directory outlived the erase: %v", ents)
	}
}

// A watch of a command's own server (no daemon) that stops after --count
// leaves nothing queued: the delivery receipt it queued for the message it
// printed reaches the sender.
func TestE2EWatchCountLeavesNothingQueued(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	ana, ben := newProfile(t, r.addr), newProfile(t, r.addr)
	aChat, bChat := connect(t, ana, ben)
	ben.ok("send", bChat, "hello")
	evs := chatEvents(ana.watch(1, 30*time.Second))
	if len(evs) != 1 || evs[0].Text != "hello" {
		t.Fatalf("ana saw %+v", evs)
	}
	_ = aChat
	// Ben fetches what reached his mailbox until the receipt is there.
	waitFor(t, 30*time.Second, func() bool {
		ben.ok("watch", "--timeout", "1s")
		ms := ben.read(bChat)
		return len(ms) == 1 && (ms[0].Status == "delivered" || ms[0].Status == "read")
	})
}
