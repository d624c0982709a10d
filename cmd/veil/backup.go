package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"
	"golang.org/x/term"

	"veil/client"
	"veil/crypto"
	"veil/vault"
)

func cmdBackup(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "backup", "FILE [--passphrase-file FILE]", "Write the whole profile to FILE as an age file encrypted with a passphrase")
	passFile := fs.String("passphrase-file", "", "read the backup passphrase from `FILE` instead of the terminal")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	name, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
		pass, err := readSecret(io, *passFile, "backup passphrase", true)
		if err != nil {
			return err
		}
		defer crypto.Wipe(pass)
		if len(pass) < 8 {
			return errors.New("the backup passphrase must be at least 8 characters")
		}
		if err := c.Call(ctx, "backup", map[string]any{"path": name, "passphrase": string(pass)}, nil); err != nil {
			return err
		}
		if st, err := os.Stat(name); err == nil {
			fmt.Fprintf(io.err, "backup written to %s (%d bytes)\n", name, st.Size())
		}
		return nil
	})
}

// restoreExplained is what veil restore says before it runs
// (spec/client.md §13).
const restoreExplained = `The restored profile is a copy of the moment of the backup. When it first
opens, each chat restarts its session with its contact inside the same
chat (same safety code); both sides are told, and messages sent between
the backup and now may be lost. Stop using the old copy of this profile:
once a chat restarts, the old copy can no longer read or send in it.
Groups get fresh keys at your first message in them. Chats made by an
older veil cannot be restarted: burn them and invite again.
`

func cmdRestore(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "restore", "FILE [--passphrase-file FILE]", "Restore a backup into a directory without a profile; the new PIN comes from the terminal or --pin-file")
	passFile := fs.String("passphrase-file", "", "read the backup passphrase from `FILE` instead of the terminal")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	home, err := g.homeDir()
	if err != nil {
		return err
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return fmt.Errorf("opening the backup: %w", errors.Unwrap(err))
	}
	defer f.Close()
	fmt.Fprint(io.err, restoreExplained)
	st, err := f.Stat()
	if err != nil {
		return err
	}
	pass, err := readSecret(io, *passFile, "backup passphrase", false)
	if err != nil {
		return err
	}
	id, err := age.NewScryptIdentity(string(pass))
	crypto.Wipe(pass)
	if err != nil {
		return err
	}
	pin, err := readSecret(io, g.pinFile, "new PIN", true)
	if err != nil {
		return err
	}
	defer crypto.Wipe(pin)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	pr := newProgress(io, nil, "restoring", st.Size())
	pr.r = f
	err = client.Restore(ctx, g.engineConfig(home, nil), pr, pin, id)
	pr.finish()
	if errors.Is(err, vault.ErrExists) {
		return fmt.Errorf("%s already holds a profile: restore into an empty --home", home)
	}
	if err != nil {
		return err
	}
	// The embedded relay of the backed-up profile does not travel with it:
	// opening the profile gives it a new one.
	s, err := openWith(ctx, g, io, home, pin, nil)
	if err == nil {
		s.close()
	}
	fmt.Fprintf(io.err, "restored into %s\n", home)
	return err
}

// progress counts bytes through a reader or writer and, on a terminal,
// shows them on stderr.
type progress struct {
	w     io.Writer
	r     io.Reader
	out   io.Writer
	label string
	total int64
	n     int64
	tty   bool
	last  time.Time
}

func newProgress(io *stdio, w io.Writer, label string, total int64) *progress {
	p := &progress{w: w, out: io.err, label: label, total: total}
	if f, ok := io.err.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

func (p *progress) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.add(n)
	return n, err
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.add(n)
	return n, err
}

func (p *progress) add(n int) {
	p.n += int64(n)
	if !p.tty || time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.draw()
}

func (p *progress) draw() {
	if p.total > 0 {
		const width = 30
		done := int(min(p.n, p.total) * width / p.total)
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = '.'
			if i < done {
				bar[i] = '#'
			}
		}
		fmt.Fprintf(p.out, "\r%s [%s] %3d%%", p.label, bar, min(p.n, p.total)*100/p.total)
		return
	}
	fmt.Fprintf(p.out, "\r%s %d KiB", p.label, p.n>>10)
}

func (p *progress) finish() {
	if p.tty {
		p.draw()
		fmt.Fprintln(p.out)
	}
}
