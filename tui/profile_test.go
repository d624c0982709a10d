package tui

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"veil/client"
	"veil/crypto"
	"veil/vault"
)

// The tests link vault (test files only, which the import rules of
// architecture §1 do not cover) for one thing: a tiny Argon2id cost, so a
// real profile opens in milliseconds. The package itself never does.

func TestMain(m *testing.M) {
	// Golden screens are compared as plain text: no colours or styles.
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Setenv("NO_COLOR", "1")
	os.Exit(m.Run())
}

// testRelayAddr is a relay nobody listens on: the TUI's screens need none
// until a chat exists.
const testRelayAddr = "veil+ws://127.0.0.1:1#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// fixedNow is the clock of every test screen.
var fixedNow = time.Date(2026, 11, 2, 14, 30, 0, 0, time.UTC)

// dirProfile is a real profile in a directory: client.Create and
// client.Open on a real vault, as cmd/veil does, without the embedded relay.
type dirProfile struct {
	dir string
}

func (p *dirProfile) cfg(events chan<- client.Event) client.Config {
	return client.Config{Dir: p.dir, Events: events, Now: func() time.Time { return fixedNow },
		Vault: vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1}}
}

func (p *dirProfile) Exists() (bool, error) {
	_, err := os.Stat(filepath.Join(p.dir, "vault.key"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (p *dirProfile) Create(ctx context.Context, s Setup, events chan<- client.Event) (*Session, error) {
	mode := client.DuressDecoy
	if s.DuressReset {
		mode = client.DuressReset
	}
	eng, err := client.Create(ctx, p.cfg(events), s.PIN, client.CreateOptions{DuressPIN: s.Duress, DuressMode: mode})
	if err != nil {
		return nil, err
	}
	relay := s.Relay
	if relay == "" {
		relay = testRelayAddr
	}
	if err := eng.Setup(ctx, relay); err != nil {
		eng.Close()
		return nil, err
	}
	return &Session{Engine: eng, Close: func() { eng.Close() }}, nil
}

func (p *dirProfile) Open(ctx context.Context, pin []byte, events chan<- client.Event) (*Session, error) {
	eng, err := client.Open(ctx, p.cfg(events), pin)
	if errors.Is(err, vault.ErrWrongPIN) {
		return nil, errors.New("wrong PIN")
	}
	if err != nil {
		return nil, err
	}
	if ok, err := eng.Initialized(ctx); err == nil && !ok {
		err = eng.Setup(ctx, testRelayAddr) // the decoy, set up like a new profile
		if err != nil {
			eng.Close()
			return nil, err
		}
	}
	return &Session{Engine: eng, Close: func() { eng.Close() }}, nil
}

func (p *dirProfile) Erase(ctx context.Context) error {
	return vault.WipeProfile(ctx, p.dir, nil)
}

func testConfig(t *testing.T) (Config, *dirProfile) {
	p := &dirProfile{dir: filepath.Join(t.TempDir(), "vault")}
	return Config{Profile: p, Now: func() time.Time { return fixedNow }, Loc: time.UTC}, p
}
