package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"veil/client"
	"veil/daemon"
)

// TestReadMarksOnlyWhatItShows attacks spec/client.md §8.1: "The
// recipient's copy expires TTL after it is first shown: by veil read, by
// veil watch printing it, or by the TUI. Until then the TTL waits". With a
// daemon running, `veil read` reads the chat and then marks it read; a
// message that arrives between the two calls must not be marked read (its
// timer started, a read receipt sent), since the command never printed it.
//
// The command reaches the daemon through a relay socket of the test's in
// a directory of its own, which holds the mark_read line back until a
// message has arrived after the read.
func TestReadMarksOnlyWhatItShows(t *testing.T) {
	r := newTestRelay(t)
	ana, ben := newProfile(t, r.addr), newProfile(t, r.addr)
	aChat, bChat := connect(t, ana, ben)
	ben.ok("send", bChat, "early")
	runDaemon(t, ana)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	api, err := daemon.Dial(ctx, ana.home)
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	find := func(text string) (client.MessageInfo, bool) {
		var rr daemon.ReadResult
		if err := api.Call(ctx, "read", map[string]any{"chat": aChat}, &rr); err != nil {
			t.Errorf("read: %v", err)
			return client.MessageInfo{}, false
		}
		for _, m := range rr.Messages {
			if m.Text == text {
				return m, true
			}
		}
		return client.MessageInfo{}, false
	}
	waitFor(t, 30*time.Second, func() bool { _, ok := find("early"); return ok })

	// The relay: every line passes unchanged; before the first mark_read,
	// ben sends "late" and the daemon stores it.
	proxyHome := t.TempDir()
	ln, err := daemon.Listen(proxyHome)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var wg sync.WaitGroup
	defer func() { ln.Close(); wg.Wait() }()
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("unix", filepath.Join(ana.home, daemon.SocketName))
			if err != nil {
				t.Error(err)
				c.Close()
				return
			}
			wg.Go(func() { io.Copy(c, s); c.Close() })
			wg.Go(func() {
				defer s.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadBytes('\n')
					if len(line) > 0 && bytes.Contains(line, []byte(`"method":"mark_read"`)) {
						once.Do(func() {
							// Not ben.ok nor waitFor: this is not the test's goroutine.
							if _, errOut, code := ben.run("send", bChat, "late"); code != 0 {
								t.Errorf("send late: exit %d: %s", code, errOut)
								return
							}
							for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
								if _, ok := find("late"); ok {
									return
								}
								if time.Now().After(deadline) {
									t.Error("the late message did not arrive")
									return
								}
							}
						})
					}
					if len(line) > 0 {
						if _, werr := s.Write(line); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			})
		}
	})

	cmd := exec.Command(veilBin, "--home", proxyHome, "read", aChat)
	cmd.Env = append(os.Environ(), fastKDFEnv+"=1", "VEIL_HOME=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
		t.Fatalf("veil read: %v: %s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "early") {
		t.Fatalf("veil read printed %q", stdout.String())
	}
	if strings.Contains(stdout.String(), "late") {
		t.Fatalf("the message that came after the read was printed: %q", stdout.String())
	}
	late, ok := find("late")
	if !ok {
		t.Fatal("the late message is gone")
	}
	if !late.Unread {
		t.Errorf("veil read marked %q read (timer started, receipt sent) though it never printed it", late.Text)
	}
}

// TestReadLimitMarksOnlyWhatItShows attacks the same promise
// (spec/client.md §8.1: an incoming message's timer starts when it is
// first shown) without a race: `veil read CHAT --limit 1` prints only the
// newest message, so an older unread message nobody was shown must not
// start its disappearing timer nor send its read receipt.
func TestReadLimitMarksOnlyWhatItShows(t *testing.T) {
	r := newTestRelay(t)
	ana, ben := newProfile(t, r.addr), newProfile(t, r.addr)
	aChat, bChat := connect(t, ana, ben)
	runDaemon(t, ana)
	ben.ok("send", bChat, "unshown")
	ben.ok("send", bChat, "shown")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	api, err := daemon.Dial(ctx, ana.home)
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	find := func(text string) (client.MessageInfo, bool) {
		var rr daemon.ReadResult
		if err := api.Call(ctx, "read", map[string]any{"chat": aChat}, &rr); err != nil {
			t.Fatalf("read: %v", err)
		}
		for _, m := range rr.Messages {
			if m.Text == text {
				return m, true
			}
		}
		return client.MessageInfo{}, false
	}
	waitFor(t, 30*time.Second, func() bool { _, ok := find("shown"); return ok })
	if m, _ := find("unshown"); !m.Unread {
		t.Fatalf("before veil read: %+v", m)
	}

	out := ana.ok("read", aChat, "--limit", "1")
	if !strings.Contains(out, "shown") || strings.Contains(out, "unshown") {
		t.Fatalf("veil read --limit 1 printed %q", out)
	}
	if m, _ := find("unshown"); !m.Unread {
		t.Errorf("veil read --limit 1 marked %q read (timer started, receipt sent) though it printed only the newest message", m.Text)
	}
}
