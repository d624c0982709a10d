//go:build linux

// The peer credentials and the path through /proc/self/fd are Linux's.

package daemon

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"veil/client"
)

// TestPeerCredentials: a server that takes only another user's processes
// refuses ours by the socket's credentials, before reading a byte; the
// server's own user is let in.
func TestPeerCredentials(t *testing.T) {
	p := newTestProfile(t, t.TempDir(), "", nil, client.CreateOptions{})
	logs := make(chan string, 16)
	s := New(Config{Profile: p, UID: os.Getuid() + 1, Log: func(l string) {
		select {
		case logs <- l:
		default:
		}
	}})
	dir := t.TempDir()
	serve(t, s, dir)

	c := dial(t, dir)
	if err := do(t, c, "status", nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("a refused client's call: %v, want the connection closed", err)
	}
	select {
	case l := <-logs:
		if !strings.HasPrefix(l, "refused a connection") {
			t.Fatalf("log %q", l)
		}
	case <-time.After(waitLimit):
		t.Fatal("the refusal was not logged")
	}

	raw, err := net.Dial("unix", filepath.Join(dir, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(waitLimit))
	raw.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"status"}` + "\n"))
	// The server closes without reading: the kernel may report that as a
	// reset rather than an end.
	if b, err := io.ReadAll(raw); len(b) != 0 || err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("a refused connection read %q, %v; want nothing, then its end", b, err)
	}

	own := New(Config{Profile: p, UID: -1})
	odir := t.TempDir()
	serve(t, own, odir)
	var st Status
	must(t, dial(t, odir), "status", nil, &st)
	if !st.Locked {
		t.Fatalf("status %+v", st)
	}
}

// TestListen: a second server on one profile is refused, a socket a dead
// server left is replaced, and a directory too deep for a socket's path
// still works.
func TestListen(t *testing.T) {
	p := newTestProfile(t, t.TempDir(), "", nil, client.CreateOptions{})
	dir := t.TempDir()
	l, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(l.Path()); err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v %v", fi, err)
	}
	if _, err := Listen(dir); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Listen: %v, want ErrRunning", err)
	}
	// A server that died: its socket file stays, nothing answers, and
	// the kernel dropped its lock on the directory.
	if err := l.UnixListener.Close(); err != nil {
		t.Fatal(err)
	}
	l.lock.Close()
	if _, err := os.Lstat(l.Path()); err != nil {
		t.Fatalf("the dead server's socket is gone already: %v", err)
	}
	if _, err := Dial(t.Context(), dir); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Dial to a dead socket: %v, want ErrNotRunning", err)
	}
	s := New(Config{Profile: p, UID: -1})
	serve(t, s, dir)
	must(t, dial(t, dir), "status", nil, nil)

	// Not a socket: left alone.
	odd := t.TempDir()
	if err := os.WriteFile(filepath.Join(odd, SocketName), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(odd); err == nil || errors.Is(err, ErrRunning) {
		t.Fatalf("Listen over a file: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(odd, SocketName)); string(b) != "mine" {
		t.Fatal("Listen replaced a file that is not a socket")
	}

	// Nothing there at all.
	if _, err := Dial(t.Context(), t.TempDir()); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Dial to an empty directory: %v", err)
	}

	deep := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	if err := os.MkdirAll(deep, 0o700); err != nil {
		t.Fatal(err)
	}
	if n := len(filepath.Join(deep, SocketName)); n < maxSunPath {
		t.Fatalf("the deep path is only %d bytes", n)
	}
	ds := New(Config{Profile: p, UID: -1})
	dl := serve(t, ds, deep)
	if dl.Path() != filepath.Join(deep, SocketName) {
		t.Fatalf("path %q", dl.Path())
	}
	var st Status
	must(t, dial(t, deep), "status", nil, &st)
	if !st.Locked {
		t.Fatalf("status %+v", st)
	}
	if _, err := Listen(deep); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Listen on the deep directory: %v, want ErrRunning", err)
	}
}
