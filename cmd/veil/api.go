package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"filippo.io/age"

	"veil/client"
	"veil/crypto"
	"veil/daemon"
	"veil/daemon/rpc"
)

// apiUse says what a command needs around its API calls.
type apiUse struct {
	// run: the command's own server (when no daemon runs) runs the
	// engine: receives, sends the outbox, applies timers (watch).
	run bool
	// flush: the command's own server sends what the calls queued before
	// it stops (a daemon sends it on its own).
	flush bool
}

// api is the profile's API for one command: the running daemon's, or a
// server of the command's own, in process, over its own unlock.
type api struct {
	*daemon.Client
	// local is true when the command unlocked the profile itself.
	local bool
	// stream is, for a local server, the event stream it started with.
	stream string
}

// withAPI runs f against the profile's API: the daemon's when one runs
// (no PIN asked), else a server of this command's own over the profile it
// unlocks with the PIN from the terminal or --pin-file, which stops when
// f returns. Both answer the same methods the same way.
func withAPI(ctx context.Context, g *globals, io *stdio, use apiUse, f func(context.Context, *api) error) error {
	home, err := g.homeDir()
	if err != nil {
		return err
	}
	c, err := daemon.Dial(ctx, home)
	if err == nil {
		defer c.Close()
		if g.socks5 != "" {
			fmt.Fprintln(io.err, "veil: --socks5 applies when a command opens the profile itself; the running daemon keeps the proxy it started with")
		}
		return f(ctx, &api{Client: c})
	}
	if !errors.Is(err, daemon.ErrNotRunning) {
		return err
	}
	pin, err := readSecret(io, g.pinFile, "PIN", false)
	if err != nil {
		return err
	}
	defer crypto.Wipe(pin)
	srv := daemon.New(daemon.Config{Profile: &cliProfile{g: g, io: io, home: home}, RunEngine: use.run, UID: -1})
	if err := srv.Unlock(ctx, pin); err != nil {
		return plain(err)
	}
	defer srv.Shutdown()
	a, b := net.Pipe()
	go srv.ServeConn(a)
	c = daemon.NewClient(b)
	defer c.Close()
	st := srv.Status()
	if err := f(ctx, &api{Client: c, local: true, stream: st.Stream}); err != nil {
		return err
	}
	if use.flush {
		flushQueued(ctx, io, c)
	}
	return nil
}

// flushQueued sends what is queued and says on stderr when something
// stays queued.
func flushQueued(ctx context.Context, io *stdio, c *daemon.Client) {
	var r daemon.QueuedResult
	if err := c.Call(ctx, "flush", nil, &r); err != nil || r.Queued == 0 {
		return
	}
	why := "relay unreachable"
	if r.Error != "" {
		why = r.Error
	}
	fmt.Fprintf(io.err, "veil: %d item(s) queued (%s); the next veil command that reaches the relay sends them\n", r.Queued, why)
}

// apiKind is the kind of an error the API returned ("" for another error).
func apiKind(err error) string {
	var re *rpc.Error
	if errors.As(err, &re) && re.Data != nil {
		return re.Data.Kind
	}
	return ""
}

// cliProfile is the daemon's view of the profile directory: it unlocks,
// sets up and erases the profile exactly as every command does.
type cliProfile struct {
	g    *globals
	io   *stdio
	home string
}

var _ daemon.Profile = (*cliProfile)(nil)

// userError is an error whose text is already in the user's words and
// which still matches what it wraps.
type userError struct {
	msg string
	err error
}

func (e *userError) Error() string { return e.msg }
func (e *userError) Unwrap() error { return e.err }

// plain keeps the words of a userError on the command line, where they
// name the profile's directory (the API gives the kind's own sentence).
func plain(err error) error {
	var ue *userError
	if errors.As(err, &ue) {
		return errors.New(ue.msg)
	}
	return err
}

func (p *cliProfile) Unlock(ctx context.Context, pin []byte, events chan<- client.Event) (*daemon.Session, error) {
	eng, err, rerr := unlock(ctx, p.g, p.home, pin, events)
	switch {
	case errors.Is(err, client.ErrNoProfile) && rerr != nil:
		return nil, &userError{fmt.Sprintf("no profile in %s (removing what an erase left failed: %v): run veil init first", p.home, rerr), err}
	case errors.Is(err, client.ErrNoProfile):
		return nil, &userError{fmt.Sprintf("no profile in %s: run veil init first", p.home), err}
	case errors.Is(err, client.ErrErased) && rerr != nil:
		return nil, &userError{fmt.Sprintf("%v; removing what was left failed: %v", errErased, rerr), err}
	case errors.Is(err, client.ErrErased):
		return nil, &userError{errErased.Error(), err}
	case errors.Is(err, client.ErrBusy):
		return nil, &userError{"the profile is open in another veil process (the TUI, or an older veil); one at a time", err}
	case err != nil:
		return nil, err
	}
	s := &session{home: p.home, eng: eng}
	err = s.bringUp(ctx, func() {
		fmt.Fprintln(p.io.err, "veil: the embedded relay's directory was replaced; starting a new embedded relay (chats that used the old one cannot reach it)")
	})
	if err != nil {
		s.close()
		return nil, err
	}
	ds := &daemon.Session{Engine: eng, Close: s.close}
	if s.embedded != nil {
		ds.Embedded = s.embedded.addr
	}
	return ds, nil
}

func (p *cliProfile) Erase(ctx context.Context) error { return eraseHome(ctx, p.home) }

func (p *cliProfile) Backup(ctx context.Context, eng *client.Engine, path string, pass []byte) error {
	if len(pass) < 8 {
		return errors.New("the backup passphrase must be at least 8 characters")
	}
	r, err := age.NewScryptRecipient(string(pass))
	if err != nil {
		return err
	}
	r.SetWorkFactor(scryptWorkFactor())
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating the backup: %w", errors.Unwrap(err))
	}
	err = eng.Backup(ctx, f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
