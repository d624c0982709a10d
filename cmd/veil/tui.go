package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	tea "github.com/charmbracelet/bubbletea"
	"golang.org/x/term"

	"veil/client"
	"veil/crypto"
	"veil/daemon"
	"veil/relay/wire"
	"veil/tui"
	"veil/vault"
)

// vaultKeyFile is the file whose presence means a profile was created
// (vault/files.go).
const vaultKeyFile = "vault.key"

// isTerminal reports whether stdin and stdout are both terminals.
func isTerminal(io *stdio) bool {
	out, ok := io.out.(*os.File)
	return ok && io.in != nil && term.IsTerminal(int(io.in.Fd())) && term.IsTerminal(int(out.Fd()))
}

// runTUI runs the terminal UI (architecture §6) until the user quits.
func runTUI(ctx context.Context, g *globals, io *stdio) int {
	home, err := g.homeDir()
	if err != nil {
		return report(io, g, "tui", err)
	}
	api := newTUIAPI(g, io, home)
	app := tui.New(tui.Config{Profile: &tuiProfile{g: g, home: home, api: api}, Notify: io.out})
	opts := append(tui.Options(), tea.WithContext(ctx), tea.WithInput(io.in), tea.WithOutput(io.out))
	api.prog = tea.NewProgram(app, opts...)
	// The TUI serves the profile's API while it runs; a profile made on
	// its first-run screen gets the socket once it exists.
	if _, err := os.Stat(home); err == nil {
		err := api.listen()
		if errors.Is(err, daemon.ErrRunning) {
			err = errors.New("a veil daemon (or another veil TUI) already runs for this profile: stop it, or use the CLI")
		}
		if err != nil {
			return report(io, g, "tui", err)
		}
	}
	_, err = api.prog.Run()
	app.Close()
	api.stop()
	switch {
	case errors.Is(err, tea.ErrProgramPanic):
		return report(io, g, "tui", errors.New("stopped after an internal error (a bug; the trace above helps to fix it)"))
	case err != nil && !errors.Is(err, tea.ErrProgramKilled) && ctx.Err() == nil:
		return report(io, g, "tui", err)
	}
	return 0
}

// tuiProfile is the TUI's view of the profile directory: it creates and
// opens the vault exactly as init and the other commands do, and runs the
// embedded relay beside an open session.
type tuiProfile struct {
	g    *globals
	home string
	api  *tuiAPI
}

var _ tui.Profile = (*tuiProfile)(nil)

func (p *tuiProfile) Exists() (bool, error) {
	_, err := os.Stat(filepath.Join(p.home, vaultDirName, vaultKeyFile))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

func (p *tuiProfile) Create(ctx context.Context, st tui.Setup, events chan<- client.Event) (*tui.Session, error) {
	defer crypto.Wipe(st.PIN)
	defer crypto.Wipe(st.Duress)
	if err := vault.CheckPIN(st.PIN); err != nil {
		return nil, fmt.Errorf("the PIN must be at least %d characters (a passphrase is far stronger)", vault.MinPINLen)
	}
	if st.Duress != nil {
		if err := checkDuressPIN(st.PIN, st.Duress); err != nil {
			return nil, err
		}
	}
	if st.Relay != "" {
		if _, err := wire.ParseCredentialed(st.Relay); err != nil {
			return nil, fmt.Errorf("relay address: %v", err)
		}
	}
	var opts client.CreateOptions
	if st.Duress != nil {
		opts.DuressPIN, opts.DuressMode = st.Duress, client.DuressDecoy
		if st.DuressReset {
			opts.DuressMode = client.DuressReset
		}
	}
	in, stopTee := p.api.teeEvents(events)
	s, err := create(ctx, p.g, p.home, st.PIN, st.Relay, opts, in)
	if err != nil {
		stopTee()
		return nil, err
	}
	return p.api.attach(s, stopTee), nil
}

// Open unlocks the profile like every other command (see openWith): a
// vault without a profile record (the decoy a duress PIN opens) is set up
// with an embedded relay, so the screen that follows looks the same. When
// opening erased the profile, what is left of it is removed and the error
// wraps client.ErrErased; with no profile, client.ErrNoProfile. The TUI
// shows the first-run screen after either.
func (p *tuiProfile) Open(ctx context.Context, pin []byte, events chan<- client.Event) (*tui.Session, error) {
	defer crypto.Wipe(pin)
	in, stopTee := p.api.teeEvents(events)
	eng, err, rerr := unlock(ctx, p.g, p.home, pin, in)
	if err != nil {
		stopTee()
	}
	if errors.Is(err, client.ErrErased) || errors.Is(err, client.ErrNoProfile) {
		p.api.profileGone()
	}
	switch {
	case errors.Is(err, vault.ErrWrongPIN):
		return nil, errors.New("wrong PIN")
	case errors.Is(err, client.ErrErased) && rerr != nil:
		return nil, fmt.Errorf("%w; removing what was left failed: %v", err, rerr)
	case errors.Is(err, client.ErrErased):
		return nil, err
	case errors.Is(err, client.ErrNoProfile) && rerr != nil:
		return nil, fmt.Errorf("no profile in %s: %w; removing what an erase left failed: %v", p.home, err, rerr)
	case errors.Is(err, client.ErrNoProfile):
		return nil, fmt.Errorf("no profile in %s: %w", p.home, err)
	case errors.Is(err, vault.ErrBusy):
		return nil, errors.New("the profile is open in another veil process; close it first")
	case err != nil:
		return nil, err
	}
	s := &session{home: p.home, eng: eng}
	// The TUI owns the screen: a replaced relay directory is not reported.
	if err := s.bringUp(ctx, func() {}); err != nil {
		s.close()
		stopTee()
		return nil, err
	}
	return p.api.attach(s, stopTee), nil
}

// Erase erases the profile in this process: the TUI serves its socket, so
// there is no daemon to ask.
func (p *tuiProfile) Erase(ctx context.Context) error {
	err := eraseHome(ctx, p.home)
	p.api.tuiErased(err)
	return err
}
