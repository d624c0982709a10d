package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/term"

	"veil/crypto"
	"veil/daemon"
)

const daemonUsage = "[--lock-after DUR] [--locked]"

// cmdDaemon unlocks the profile once and serves its API until SIGTERM or
// SIGINT (spec/api.md §2): the engine runs, with the embedded relay when
// the profile has one, and every other veil command of this profile talks
// to it instead of opening the vault.
func cmdDaemon(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "daemon", daemonUsage,
		"Unlock the profile once and keep it running in the foreground: receive, send, run timers and serve the local API\non a socket in the profile directory, which every other veil command of this profile then uses (no PIN asked).\nIt logs nothing about chats or contacts; SIGTERM or Ctrl-C stops it after sending what is queued")
	lockAfter := durationFlag(fs, "lock-after", 0, "lock the profile after `DUR` without a command or API call (0: never); veil unlock opens it again")
	locked := fs.Bool("locked", false, "start locked, without asking the PIN: veil unlock gives it later (a service started with no terminal)")
	if _, err := parse(fs, argv, 0, 0); err != nil {
		return err
	}
	home, err := g.homeDir()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(home, vaultDirName, vaultKeyFile)); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no profile in %s: run veil init first", home)
	} else if err != nil {
		return fmt.Errorf("the profile's key file could not be read: %w", err)
	}
	ln, err := daemon.Listen(home)
	if errors.Is(err, daemon.ErrRunning) {
		return errors.New("a veil daemon (or the TUI) already runs for this profile; veil status asks it")
	}
	if err != nil {
		return err
	}
	defer func() {
		ln.Close()
		if _, err := os.Stat(filepath.Join(home, vaultDirName, vaultKeyFile)); errors.Is(err, os.ErrNotExist) {
			// Erased (panic, or a duress PIN at the start): nothing of
			// the profile stays, the socket's directory included. A key
			// file that only fails to read is no erase.
			removeRemains(home)
		}
	}()
	cfg := daemon.Config{Profile: &cliProfile{g: g, io: io, home: home}, RunEngine: true, LockAfter: *lockAfter, UID: -1}
	if g.verbose {
		// Locks, unlocks and refused connections, with --verbose only: a
		// service's journal would otherwise keep when the profile was
		// used and locked.
		cfg.Log = func(s string) { fmt.Fprintf(io.err, "veil daemon: %s\n", s) }
	}
	srv := daemon.New(cfg)
	// Serve before the PIN is read: while the daemon waits for it, the
	// server already answers erase (veil panic); every other call waits
	// for the unlock to be tried and gets what it leads to.
	release := func() {}
	if !*locked {
		release = srv.Starting()
	}
	defer release()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer srv.Shutdown()
	if !*locked {
		type secret struct {
			pin []byte
			err error
		}
		// A read abandoned below leaves the terminal as it found it.
		fd := int(io.in.Fd())
		if g.pinFile == "" && term.IsTerminal(fd) {
			if st, err := term.GetState(fd); err == nil {
				defer term.Restore(fd, st)
			}
		}
		got := make(chan secret, 1)
		go func() {
			pin, err := readSecret(io, g.pinFile, "PIN", false)
			got <- secret{pin, err}
		}()
		select {
		case <-ctx.Done():
			return nil
		case <-srv.Done():
			// Erased while waiting: the read is abandoned with the process.
			return nil
		case serr := <-served:
			return serr
		case p := <-got:
			if p.err != nil {
				return p.err
			}
			err := srv.Unlock(ctx, p.pin)
			crypto.Wipe(p.pin)
			if err != nil {
				return plain(err)
			}
		}
	}
	release()
	state := "unlocked"
	if srv.Locked() {
		state = "locked: veil unlock opens it"
	}
	fmt.Fprintf(io.err, "veil daemon: serving (%s); Ctrl-C or SIGTERM stops it\n", state)
	var serr error
	select {
	case <-ctx.Done():
	case <-srv.Done():
	case serr = <-served:
	}
	ln.Close()
	return serr
}

// dialDaemon connects to the profile's daemon, saying so when none runs.
func dialDaemon(ctx context.Context, g *globals) (*daemon.Client, error) {
	home, err := g.homeDir()
	if err != nil {
		return nil, err
	}
	c, err := daemon.Dial(ctx, home)
	if errors.Is(err, daemon.ErrNotRunning) {
		return nil, errors.New("no veil daemon runs for this profile (veil daemon starts one)")
	}
	return c, err
}

// daemonRuns reports whether a daemon (or the TUI) serves the profile.
func daemonRuns(ctx context.Context, g *globals) bool {
	home, err := g.homeDir()
	if err != nil {
		return false
	}
	c, err := daemon.Dial(ctx, home)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func cmdLock(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "lock", "", "Lock the running daemon's profile: its keys are zeroed and only veil unlock answers")
	if _, err := parse(fs, argv, 0, 0); err != nil {
		return err
	}
	c, err := dialDaemon(ctx, g)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Call(ctx, "lock", nil, nil); err != nil {
		return err
	}
	fmt.Fprintln(io.err, "locked")
	return nil
}

func cmdUnlock(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "unlock", "", "Unlock the running daemon's profile with the PIN (from the terminal or --pin-file)")
	if _, err := parse(fs, argv, 0, 0); err != nil {
		return err
	}
	c, err := dialDaemon(ctx, g)
	if err != nil {
		return err
	}
	defer c.Close()
	var st daemon.Status
	if err := c.Call(ctx, "status", nil, &st); err != nil {
		return err
	}
	if !st.Locked {
		fmt.Fprintln(io.err, "already unlocked")
		return nil
	}
	pin, err := readSecret(io, g.pinFile, "PIN", false)
	if err != nil {
		return err
	}
	defer crypto.Wipe(pin)
	return c.Call(context.WithoutCancel(ctx), "unlock", map[string]string{"pin": string(pin)}, nil)
}

func cmdStatus(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "status", "[--json]", "Say whether a veil daemon serves this profile and whether it is locked")
	asJSON := fs.Bool("json", false, "JSON output")
	if _, err := parse(fs, argv, 0, 0); err != nil {
		return err
	}
	home, err := g.homeDir()
	if err != nil {
		return err
	}
	c, err := daemon.Dial(ctx, home)
	if errors.Is(err, daemon.ErrNotRunning) {
		if *asJSON {
			return writeJSON(io, map[string]bool{"running": false})
		}
		fmt.Fprintln(io.out, "no daemon runs for this profile")
		return nil
	}
	if err != nil {
		return err
	}
	defer c.Close()
	var st daemon.Status
	if err := c.Call(ctx, "status", nil, &st); err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(io, struct {
			Running bool `json:"running"`
			daemon.Status
		}{true, st})
	}
	if st.Locked {
		fmt.Fprintln(io.out, "daemon running, locked (veil unlock)")
	} else {
		fmt.Fprintln(io.out, "daemon running, unlocked")
	}
	return nil
}
