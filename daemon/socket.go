package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// SocketName is the API socket's name in the profile directory
// (spec/api.md §2).
const SocketName = "veil.sock"

// ErrRunning is returned by Listen when a server already answers on the
// profile's socket.
var ErrRunning = errors.New("daemon: a veil daemon (or the TUI) already runs for this profile")

// ErrNotRunning is returned by Dial when nothing answers on the profile's
// socket.
var ErrNotRunning = errors.New("daemon: no veil daemon runs for this profile")

// maxSunPath is the longest socket path the kernel takes, NUL included.
const maxSunPath = 108

// sockPath returns a name for the socket in dir that fits the kernel's
// limit: the path itself, or the same file reached through an open handle
// of dir (/proc/self/fd/N/veil.sock) when the path is too long; release
// closes that handle.
func sockPath(dir string) (path string, release func(), err error) {
	p := filepath.Join(dir, SocketName)
	if len(p) < maxSunPath {
		return p, func() {}, nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return "", nil, err
	}
	short := fmt.Sprintf("/proc/self/fd/%d/%s", d.Fd(), SocketName)
	if _, err := os.Stat(filepath.Dir(short)); err != nil {
		d.Close()
		return "", nil, fmt.Errorf("daemon: the profile directory's path is too long for a socket (at most %d bytes)", maxSunPath-len(SocketName)-2)
	}
	return short, func() { d.Close() }, nil
}

// Listener is the API socket of one profile.
type Listener struct {
	*net.UnixListener
	path string
	lock *os.File // the profile directory, locked while listening

	closeOnce sync.Once
	closeErr  error
}

// Listen opens the API socket in the profile directory dir, mode 0600.
// A socket a dead server left behind is replaced; while another server
// listens there (it holds the directory's lock), or one answers on the
// socket, Listen returns ErrRunning.
func Listen(dir string) (ln *Listener, err error) {
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && lock != nil {
			lock.Close()
		}
	}()
	path, release, err := sockPath(dir)
	if err != nil {
		return nil, err
	}
	defer release()
	full := filepath.Join(dir, SocketName)
	if fi, err := os.Lstat(full); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("daemon: %s is not a socket; move it away", full)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, ErrRunning
		}
		if err := os.Remove(full); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		if errors.Is(err, syscallEADDRINUSE) {
			return nil, ErrRunning
		}
		return nil, fmt.Errorf("daemon: listening on %s: %w", full, err)
	}
	ul.SetUnlinkOnClose(false)
	if err := os.Chmod(full, 0o600); err != nil {
		ul.Close()
		os.Remove(full)
		return nil, err
	}
	return &Listener{UnixListener: ul, path: full, lock: lock}, nil
}

// Close closes the socket, removes its file and then frees the profile
// for the next server. Calls after the first do nothing but report the
// listener closed.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		l.closeErr = l.UnixListener.Close()
		os.Remove(l.path)
		if l.lock != nil {
			l.lock.Close() // drops the lock
		}
	})
	return l.closeErr
}

// Path is the socket's file.
func (l *Listener) Path() string { return l.path }

// Serve accepts connections on l until it is closed, serving each one from
// a process of the server's user; any other peer is refused by its socket
// credentials before a byte is read. It also locks an idle profile (Config.LockAfter).
func (s *Server) Serve(l *Listener) error {
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s.trimRing()
				s.CheckIdle()
			case <-stop:
				return
			}
		}
	}()
	uid := s.cfg.UID
	if uid < 0 {
		uid = os.Getuid()
	}
	var wait time.Duration
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors, or a connection that went away
			// before it was accepted: wait a little and go on serving.
			wait = min(max(2*wait, 5*time.Millisecond), time.Second)
			time.Sleep(wait)
			continue
		}
		wait = 0
		if err := checkPeer(c, uid); err != nil {
			s.cfg.Log("refused a connection: " + err.Error())
			c.Close()
			continue
		}
		if s.connCount() >= maxConns {
			c.Close()
			continue
		}
		go s.ServeConn(c)
	}
}

// maxConns bounds the connections served at once; one more is closed at
// once (spec/api.md §2).
const maxConns = 64

func (s *Server) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Dial connects to the API socket of the profile in dir: ErrNotRunning
// when nothing answers there.
func Dial(ctx context.Context, dir string) (*Client, error) {
	if err := checkDir(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNotRunning
		}
		return nil, err
	}
	path, release, err := sockPath(dir)
	if err != nil {
		return nil, err
	}
	defer release()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscallECONNREFUSED) {
			return nil, ErrNotRunning
		}
		return nil, fmt.Errorf("daemon: connecting to the daemon: %w", err)
	}
	// Only a server of this user gets the PIN, a text or an erase: a
	// socket another user planted is refused as theirs are.
	if err := checkPeer(c.(*net.UnixConn), os.Getuid()); err != nil {
		c.Close()
		return nil, fmt.Errorf("daemon: refusing the server on %s: %w", filepath.Join(dir, SocketName), err)
	}
	return NewClient(c), nil
}

// checkDir refuses a profile directory another user could have put a
// socket in: one not owned by this user, or writable by its group or by
// others.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("daemon: %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("daemon: the profile directory %s is writable by other users: chmod go-w it", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("daemon: the profile directory %s belongs to another user", dir)
	}
	return nil
}
