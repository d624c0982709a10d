package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"veil/daemon"
)

// TestPanicWhileDaemonAwaitsPIN attacks `veil panic` ("Erase this
// profile now: no PIN, no prompt") and spec/api.md §4.1 (erase works
// "locked or not"). `veil daemon` opens its socket first and reads the
// PIN after (§6); a panic that finds the socket hands the erase to the
// daemon, so a daemon sitting at its PIN prompt must answer it, and
// panic must not wait without limit for an answer. (A FIFO stands in
// for the terminal the PIN is read from.)
func TestPanicWhileDaemonAwaitsPIN(t *testing.T) {
	r := newTestRelay(t)
	ana := newProfile(t, r.addr)
	fifo := filepath.Join(t.TempDir(), "pin")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	d := exec.Command(veilBin, "--home", ana.home, "--pin-file", fifo, "daemon")
	d.Env = append(os.Environ(), fastKDFEnv+"=1", "VEIL_HOME=")
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- d.Wait() }()
	t.Cleanup(func() { d.Process.Kill(); <-exited })
	waitFor(t, 30*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(ana.home, daemon.SocketName))
		return err == nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := exec.CommandContext(ctx, veilBin, "--home", ana.home, "panic")
	p.Env = append(os.Environ(), fastKDFEnv+"=1", "VEIL_HOME=")
	out, err := p.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("veil panic did not finish in 20 s while the daemon waited for its PIN (output %q)", out)
	}
	if err != nil {
		t.Fatalf("veil panic: %v: %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(ana.home, vaultDirName, vaultKeyFile)); err == nil {
		t.Fatal("veil panic succeeded but the profile's key file is still there")
	}
	select {
	case err := <-exited:
		exited <- err
	case <-ctx.Done():
		t.Error("the daemon still runs after the profile it waited to unlock was erased")
	}
}

// TestPanicPassesOverSilentDaemon: a socket that accepts the erase and
// never answers (a hung daemon) holds veil panic up for a bounded time
// only; the profile, which that process does not hold open, is then
// erased here.
func TestPanicPassesOverSilentDaemon(t *testing.T) {
	r := newTestRelay(t)
	ana := newProfile(t, r.addr)
	ln, err := daemon.Listen(ana.home)
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := exec.CommandContext(ctx, veilBin, "--home", ana.home, "panic")
	p.Env = append(os.Environ(), fastKDFEnv+"=1", "VEIL_HOME=")
	out, err := p.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("veil panic did not finish in 30 s against a socket that never answers (output %q)", out)
	}
	if err != nil {
		t.Fatalf("veil panic: %v: %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(ana.home, vaultDirName, vaultKeyFile)); err == nil {
		t.Fatal("veil panic succeeded but the profile's key file is still there")
	}
}
