//go:build linux

package daemon

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestListenRaceOverLeftoverSocket: two servers starting at once for one
// profile, over a socket a dead server left behind, must not both take
// it: one listens, the other is told a server runs, and the socket file
// left is the one that answers. Before the profile directory was locked,
// both saw the dead socket, each removed what it found and listened, and
// the first's socket was unlinked under it: a daemon nobody could reach,
// whose Close then removed the other's socket too.
func TestListenRaceOverLeftoverSocket(t *testing.T) {
	for i := range 200 {
		dir := t.TempDir()
		leaveDeadSocket(t, dir)
		var wg sync.WaitGroup
		lns := make([]*Listener, 2)
		errs := make([]error, 2)
		for k := range 2 {
			wg.Go(func() { lns[k], errs[k] = Listen(dir) })
		}
		wg.Wait()
		won := 0
		for k := range 2 {
			switch {
			case errs[k] == nil:
				won++
			case !errors.Is(errs[k], ErrRunning):
				t.Fatalf("try %d: Listen: %v", i, errs[k])
			}
		}
		if won != 1 {
			t.Fatalf("try %d: %d of two servers listen on one profile's socket, want one", i, won)
		}
		for k := range 2 {
			if lns[k] == nil {
				continue
			}
			assertAnswers(t, lns[k], dir)
			// Closing the winner frees the profile for the next server.
			if err := lns[k].Close(); err != nil {
				t.Fatal(err)
			}
			again, err := Listen(dir)
			if err != nil {
				t.Fatalf("try %d: after the server closed: %v", i, err)
			}
			again.Close()
		}
	}
}

// TestListenHeldWhileSocketGone: while a server holds the profile, a
// second server is told so even if the socket file was removed (by hand,
// or by a tool cleaning the directory), and does not take the profile.
func TestListenHeldWhileSocketGone(t *testing.T) {
	dir := t.TempDir()
	ln, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	removeSocket(t, dir)
	if second, err := Listen(dir); !errors.Is(err, ErrRunning) {
		if second != nil {
			second.Close()
		}
		t.Fatalf("a second server while the first runs: %v, want ErrRunning", err)
	}
}

func leaveDeadSocket(t *testing.T, dir string) {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, SocketName), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
}

func removeSocket(t *testing.T, dir string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, SocketName)); err != nil {
		t.Fatal(err)
	}
}

// assertAnswers checks that the socket file in dir reaches ln.
func assertAnswers(t *testing.T, ln *Listener, dir string) {
	t.Helper()
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	c, err := net.Dial("unix", filepath.Join(dir, SocketName))
	if err != nil {
		t.Fatalf("the winner's socket does not answer: %v", err)
	}
	c.Close()
	if err := <-accepted; err != nil {
		t.Fatalf("the socket file reaches another listener than the winner's: %v", err)
	}
}
