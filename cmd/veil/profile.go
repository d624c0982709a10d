package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/term"

	"veil/client"
	"veil/crypto"
	"veil/daemon"
	"veil/relay/wire"
	"veil/vault"
)

// Profile layout under the home directory (spec/client.md §10.1).
const (
	vaultDirName = "vault"
	relayDirName = "relay"

	// settingEmbedded holds the address of the profile's embedded relay.
	settingEmbedded = "embedded-relay"
)

func (g *globals) engineConfig(home string, events chan<- client.Event) client.Config {
	return client.Config{Dir: filepath.Join(home, vaultDirName), Vault: vaultOptions(), SOCKS5: g.socks5, Events: events}
}

// readSecret reads a PIN or passphrase from file, or from the terminal
// without echo (confirm: ask twice).
func readSecret(io *stdio, file, prompt string, confirm bool) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", prompt, errors.Unwrap(err))
		}
		// The first line is the secret, so a trailing newline or a comment
		// line after it changes nothing.
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			crypto.Wipe(b[i:])
			b = b[:i]
		}
		return bytes.TrimSuffix(b, []byte("\r")), nil
	}
	fd := int(io.in.Fd())
	if !term.IsTerminal(fd) {
		return nil, usagef("no terminal to ask for the %s: pass it with a file flag", prompt)
	}
	fmt.Fprintf(io.err, "%s: ", prompt)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(io.err)
	if err != nil {
		return nil, err
	}
	if confirm {
		fmt.Fprintf(io.err, "%s again: ", prompt)
		b2, err := term.ReadPassword(fd)
		fmt.Fprintln(io.err)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(b, b2) {
			return nil, errors.New("the two entries differ")
		}
	}
	return b, nil
}

// session is an unlocked profile for one command, with its embedded relay
// running when the profile uses one.
type session struct {
	home     string
	eng      *client.Engine
	embedded *embeddedRelay
}

func (s *session) close() {
	s.eng.Close()
	if s.embedded != nil {
		s.embedded.stop()
	}
}

// openWith unlocks the profile in home with pin (see unlock). A vault
// without a profile record (a new vault, or the decoy a duress PIN opens)
// is set up exactly like `veil init` without --relay would, so nothing
// tells the two apart. When opening erased the profile (a duress PIN in
// reset mode, the wrong-PIN limit, the dead-man timer), what is left of it
// goes too and the error says the data is gone (see errErased).
func openWith(ctx context.Context, g *globals, io *stdio, home string, pin []byte, events chan<- client.Event) (*session, error) {
	eng, err, rerr := unlock(ctx, g, home, pin, events)
	switch {
	case errors.Is(err, client.ErrNoProfile) && rerr != nil:
		return nil, fmt.Errorf("no profile in %s (removing what an erase left failed: %v): run veil init first", home, rerr)
	case errors.Is(err, client.ErrNoProfile):
		return nil, fmt.Errorf("no profile in %s: run veil init first", home)
	case errors.Is(err, client.ErrErased) && rerr != nil:
		return nil, fmt.Errorf("%w; removing what was left failed: %v", errErased, rerr)
	case errors.Is(err, client.ErrErased):
		return nil, errErased
	case errors.Is(err, vault.ErrBusy):
		return nil, errors.New("the profile is open in another veil process (veil watch?); one command at a time")
	case err != nil:
		return nil, err
	}
	s := &session{home: home, eng: eng}
	err = s.bringUp(ctx, func() {
		fmt.Fprintln(io.err, "veil: the embedded relay's directory was replaced; starting a new embedded relay (chats that used the old one cannot reach it)")
	})
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// unlock opens the engine of the profile in home with pin, for openWith
// and the TUI. Once the PIN is tried the unlock is not cancelled: a duress
// PIN erases the profile during it, and its decoy must reach bringUp,
// which replaces the erased profile's relay directory. When there is no
// profile, or the unlock erased it, what an erase leaves in home is removed
// (removeRemains), so an earlier erase that a crash or a kill stopped
// before that step is finished now; rerr is that removal's failure. A key
// file that has appeared meanwhile (a `veil init` in another process) is
// left alone.
func unlock(ctx context.Context, g *globals, home string, pin []byte, events chan<- client.Event) (eng *client.Engine, err, rerr error) {
	if err := ctx.Err(); err != nil {
		return nil, err, nil
	}
	eng, err = client.Open(context.WithoutCancel(ctx), g.engineConfig(home, events), pin)
	switch {
	case errors.Is(err, client.ErrNoProfile):
		if _, serr := os.Stat(filepath.Join(home, vaultDirName, vaultKeyFile)); errors.Is(serr, fs.ErrNotExist) {
			rerr = removeRemains(home)
		}
	case errors.Is(err, client.ErrErased):
		rerr = removeRemains(home)
	}
	return eng, err, rerr
}

// errErased is what opening an erased profile reports, whatever erased it.
// The vault cannot tell a duress PIN in reset mode from the wrong-PIN limit
// or the dead-man timer, and the duress mode of a profile erased by its
// policy is unknowable (its slot opens only with the duress PIN), so every
// erase says the same; a profile whose duress PIN is in decoy mode never
// gets here from its duress PIN (spec/client.md §10.5).
var errErased = errors.New("this profile was erased: its data is gone for good (veil init makes a new one)")

// removeRemains removes what is left of an erased profile in home: the
// embedded relay's directory (its identity key and store would tie this
// device to every invite the profile made), each file overwritten in place
// before its unlink, the vault directory once it
// holds no key file (the erase leaves its lock file), and home itself if
// that leaves it empty, so the directory looks as if no profile ever was.
func removeRemains(home string) error {
	var errs []error
	// A socket a killed daemon left behind (nothing answers on it).
	if c, err := daemon.Dial(context.Background(), home); err == nil {
		c.Close()
	} else if errors.Is(err, daemon.ErrNotRunning) {
		if fi, err := os.Lstat(filepath.Join(home, daemon.SocketName)); err == nil && fi.Mode().Type() == fs.ModeSocket {
			os.Remove(filepath.Join(home, daemon.SocketName))
		}
	}
	if err := vault.ShredTree(filepath.Join(home, relayDirName)); err != nil {
		errs = append(errs, err)
	}
	vdir := filepath.Join(home, vaultDirName)
	if _, err := os.Stat(filepath.Join(vdir, vaultKeyFile)); errors.Is(err, fs.ErrNotExist) {
		if err := os.RemoveAll(vdir); err != nil {
			errs = append(errs, err)
		}
	}
	if ents, err := os.ReadDir(home); err == nil && len(ents) == 0 {
		if err := os.Remove(home); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// bringUp readies an unlocked profile: a vault without a profile record
// is set up with an embedded relay, and the embedded relay, if the profile
// has one, is started. When the relay directory is not the one this
// profile made (a restored backup, or a directory removed by hand),
// whatever the old relay held is gone with it: replaced is called and the
// profile gets a new embedded relay.
//
// Setting up the embedded relay, which removes the old relay directory
// first, is local work and is not cancelled: after a duress unlock that
// directory is the erased profile's, and Ctrl-C must not leave it behind.
func (s *session) bringUp(ctx context.Context, replaced func()) error {
	setup := context.WithoutCancel(ctx)
	ok, err := s.eng.Initialized(setup)
	if err == nil && !ok {
		err = s.setupEmbedded(setup)
	}
	if err == nil {
		err = s.startEmbedded(ctx)
	}
	if errors.Is(err, errEmbeddedChanged) {
		replaced()
		if err = s.setupEmbedded(setup); err == nil {
			err = s.startEmbedded(ctx)
		}
	}
	return err
}

// create makes a new profile in home protected by pin, with relayURL as
// its default relay, or else an embedded relay, which it starts: a new
// profile's directory then holds what the decoy of a duress PIN holds
// after its first unlock (the relay's store included), so the two look
// the same. A profile that cannot be completed is erased again, so a
// failed create leaves nothing behind.
func create(ctx context.Context, g *globals, home string, pin []byte, relayURL string, opts client.CreateOptions, events chan<- client.Event) (*session, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	eng, err := client.Create(ctx, g.engineConfig(home, events), pin, opts)
	if errors.Is(err, vault.ErrExists) {
		return nil, fmt.Errorf("%s already holds a profile", home)
	}
	if err != nil {
		return nil, err
	}
	s := &session{home: home, eng: eng}
	if relayURL != "" {
		err = eng.Setup(ctx, relayURL)
	} else if err = s.setupEmbedded(ctx); err == nil {
		err = s.startEmbedded(ctx)
	}
	if err != nil {
		s.close()
		werr := vault.WipeProfile(ctx, filepath.Join(home, vaultDirName), nil)
		return nil, errors.Join(err, werr, removeRemains(home))
	}
	return s, nil
}

var errEmbeddedChanged = errors.New("the embedded relay's identity changed")

// setupEmbedded gives a fresh profile its own relay on 127.0.0.1: a new
// identity and a free port, made the default. Whatever an earlier profile
// left in the relay directory is overwritten in place and removed first.
func (s *session) setupEmbedded(ctx context.Context) error {
	dir := filepath.Join(s.home, relayDirName)
	if err := vault.ShredTree(dir); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("finding a port for the embedded relay: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	addr, err := embeddedAddress(dir, port)
	if err != nil {
		return err
	}
	if ok, err := s.eng.Initialized(ctx); err != nil {
		return err
	} else if !ok {
		if err := s.eng.Setup(ctx, addr); err != nil {
			return err
		}
	} else if err := s.eng.SetDefaultRelay(ctx, addr); err != nil {
		return err
	}
	return s.eng.SetSetting(ctx, settingEmbedded, addr)
}

// startEmbedded starts the profile's embedded relay if it has one.
func (s *session) startEmbedded(ctx context.Context) error {
	addr, err := s.eng.Setting(ctx, settingEmbedded)
	if err != nil || addr == "" {
		return err
	}
	a, err := wire.ParseAddress(addr)
	if err != nil {
		return fmt.Errorf("embedded relay address: %w", err)
	}
	r, err := startEmbedded(filepath.Join(s.home, relayDirName), int(a.Port))
	if err != nil {
		return err
	}
	if r.addr != a.String() {
		r.stop()
		return errEmbeddedChanged
	}
	s.embedded = r
	return nil
}
