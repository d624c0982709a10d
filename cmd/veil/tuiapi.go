package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
	"veil/daemon"
	"veil/tui"
)

// eraseWait bounds how long the API's erase waits for the TUI's.
const eraseWait = time.Minute

// errTUIHolds is the API's unlock while the TUI is on its unlock screen.
var errTUIHolds = errors.New("the TUI holds this profile: unlock it there")

// tuiAPI serves the profile's local API while the TUI runs (spec/api.md
// §2), so the CLI and bots of this profile go through the TUI's engine
// instead of opening the vault: the TUI's session is attached to a
// daemon.Server, which asks the TUI to lock and to erase. The socket is
// open while a profile exists in the directory: an erase closes it, so
// nothing of the profile stays on disk.
type tuiAPI struct {
	home   string
	srv    *daemon.Server
	backup *cliProfile // backups are written as the CLI writes them
	prog   *tea.Program
	exited chan struct{} // closed when prog has returned

	mu      sync.Mutex
	ln      *daemon.Listener
	served  chan struct{} // closed when Serve on ln has returned
	erasing chan error    // an erase the API asked for waits here
	erased  bool          // the profile was erased while the TUI ran
}

var (
	_ daemon.Owner   = (*tuiAPI)(nil)
	_ daemon.Profile = (*tuiAPI)(nil)
)

func newTUIAPI(g *globals, io *stdio, home string) *tuiAPI {
	t := &tuiAPI{home: home, backup: &cliProfile{g: g, io: io, home: home}, exited: make(chan struct{})}
	t.srv = daemon.New(daemon.Config{Profile: t, UID: -1})
	return t
}

// listen opens the socket unless it is open: daemon.ErrRunning when a
// veil daemon, or another TUI, serves the profile.
func (t *tuiAPI) listen() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ln != nil {
		return nil
	}
	ln, err := daemon.Listen(t.home)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	t.ln, t.served = ln, done
	go func() {
		t.srv.Serve(ln)
		close(done)
	}()
	return nil
}

// closeSocket closes the socket, removing its file; the connections
// already made stay until Shutdown.
func (t *tuiAPI) closeSocket() {
	t.mu.Lock()
	ln, done := t.ln, t.served
	t.ln, t.served = nil, nil
	t.mu.Unlock()
	if ln != nil {
		ln.Close()
		<-done
	}
}

// profileGone closes the socket of an erased profile and removes what is
// left of it, home included when that leaves it empty.
func (t *tuiAPI) profileGone() {
	t.mu.Lock()
	t.erased = true
	t.mu.Unlock()
	t.closeSocket()
	if _, err := os.Stat(filepath.Join(t.home, vaultDirName, vaultKeyFile)); errors.Is(err, fs.ErrNotExist) {
		removeRemains(t.home)
	}
}

// stop ends the API when the TUI has exited (after App.Close): the
// answer to an erase is written first, then the socket and every
// connection are closed. A session still attached (one whose unlock
// finished after the program) is let go with the process.
func (t *tuiAPI) stop() {
	close(t.exited)
	t.srv.Detach()
	if t.srv.Gone() {
		select {
		case <-t.srv.Done():
		case <-time.After(2 * time.Second):
		}
	}
	t.closeSocket()
	t.srv.Shutdown()
	t.mu.Lock()
	erased := t.erased
	t.mu.Unlock()
	if erased {
		t.profileGone()
	}
}

// teeEvents hands every event of the engine to the TUI (out) and to the
// API's stream. It waits on out as the engine would; the stream never
// waits. stop ends it once the engine is closed.
func (t *tuiAPI) teeEvents(out chan<- client.Event) (in chan client.Event, stop func()) {
	in = make(chan client.Event)
	quit := make(chan struct{})
	go func() {
		for {
			select {
			case ev := <-in:
				t.srv.Publish(ev)
				select {
				case out <- ev:
				case <-quit:
					return
				}
			case <-quit:
				return
			}
		}
	}()
	return in, sync.OnceFunc(func() { close(quit) })
}

// attach serves the open session s through the API and returns the TUI's
// session, whose Close detaches it first.
func (t *tuiAPI) attach(s *session, stopTee func()) *tui.Session {
	// A socket that cannot be opened now leaves the TUI without an API:
	// the CLI then says the profile is open in another process.
	if err := t.listen(); err == nil {
		ds := &daemon.Session{Engine: s.eng, Close: s.close}
		if s.embedded != nil {
			ds.Embedded = s.embedded.addr
		}
		t.srv.Attach(ds, t)
	}
	return &tui.Session{Engine: s.eng, Close: func() {
		t.srv.Detach()
		s.close()
		stopTee()
	}}
}

// Lock asks the TUI to lock as its lock key does (daemon.Owner).
func (t *tuiAPI) Lock() { t.prog.Send(tui.LockMsg{}) }

// Erase asks the TUI to erase the profile as its panic command does, and
// waits for the erase (daemon.Owner and daemon.Profile).
func (t *tuiAPI) Erase(ctx context.Context) error {
	done := make(chan error, 1)
	t.mu.Lock()
	t.erasing = done
	t.mu.Unlock()
	t.prog.Send(tui.EraseMsg{})
	select {
	case err := <-done:
		return err
	case <-t.exited:
		return errors.New("the TUI quit before it erased the profile: run veil panic again")
	case <-ctx.Done():
	case <-time.After(eraseWait):
	}
	return errors.New("the TUI did not erase the profile in time: use its panic command")
}

// tuiErased is called when the TUI's panic erase has run, with its
// error: the API's erase, if it asked, gets it.
func (t *tuiAPI) tuiErased(err error) {
	t.mu.Lock()
	ch := t.erasing
	t.erasing = nil
	if err == nil {
		t.erased = true
	}
	t.mu.Unlock()
	if ch != nil {
		ch <- err
	}
}

// Unlock refuses: the TUI unlocks its profile itself (daemon.Profile).
func (t *tuiAPI) Unlock(context.Context, []byte, chan<- client.Event) (*daemon.Session, error) {
	return nil, errTUIHolds
}

// Backup writes a backup as veil backup does (daemon.Profile).
func (t *tuiAPI) Backup(ctx context.Context, eng *client.Engine, path string, pass []byte) error {
	return t.backup.Backup(ctx, eng, path, pass)
}
