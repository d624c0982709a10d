// Package tui is veil's terminal user interface (architecture §6): the
// first-run and unlock screens, the chat list, the chat view, compose with
// slash commands, the dialogs, and the safety features (alternate screen,
// lock, auto-lock, panic erase, content-free notifications).
//
// It is a Bubble Tea v1 program over the client engine only: it never
// links the vault, the ratchet, the relay or crypto. cmd/veil hands it a
// Profile, which opens and erases the profile on disk and owns the
// embedded relay. Every string from a peer passes through client.Sanitize
// (again) before it is drawn.
package tui

import (
	"context"
	"io"
	"time"

	"veil/client"
)

// Profile opens, creates and erases the profile on disk. cmd/veil
// implements it; it also runs the embedded relay beside an open session.
type Profile interface {
	// Exists reports whether a profile has been created.
	Exists() (bool, error)
	// Create makes a new profile and opens it.
	Create(ctx context.Context, s Setup, events chan<- client.Event) (*Session, error)
	// Open unlocks the profile with pin. A duress PIN opens like any other.
	// When opening erased the profile (spec/client.md §10.5) the error
	// wraps client.ErrErased, and the Profile has removed what was left of
	// it; with no profile, client.ErrNoProfile. The TUI then shows the
	// first-run screen.
	Open(ctx context.Context, pin []byte, events chan<- client.Event) (*Session, error)
	// Erase destroys the profile (the panic command). Every Session must
	// be closed first.
	Erase(ctx context.Context) error
}

// Setup is what the first-run screens collect. The PINs must be kept
// secret; the Profile wipes them when done.
type Setup struct {
	PIN         []byte
	Duress      []byte // nil: no duress PIN
	DuressReset bool   // the duress PIN says the data is gone instead of opening a decoy
	Relay       string // a relay address, or "" for the embedded relay on 127.0.0.1
}

// Session is an unlocked profile.
type Session struct {
	Engine *client.Engine
	// Close closes the engine (locking the vault) and whatever runs
	// beside it; it is called once.
	Close func()
}

// Config configures the TUI.
type Config struct {
	Profile Profile
	// Notify receives the notification escapes (bell, OSC 9, OSC 777);
	// nil discards them. They never carry a name or a text.
	Notify io.Writer
	// Now is the clock (time.Now when nil); Loc the zone times are shown
	// in (time.Local when nil).
	Now func() time.Time
	Loc *time.Location
	// Tick is how often countdowns and the auto-lock are checked (1 s
	// when zero).
	Tick time.Duration
	// Getenv reads the environment (os.Getenv when nil): the image
	// preview picks its graphics protocol from it.
	Getenv func(string) string
}

// Tuning.
const (
	defaultAutoLock = 5 * time.Minute
	eventBuffer     = 64
	networkTimeout  = 45 * time.Second
	localTimeout    = 10 * time.Second
	messageWindow   = 500 // messages loaded into a chat view
	minWidth        = 60
	minHeight       = 20
	historyLen      = 50
)

// Settings the TUI stores in the profile (client SetSetting).
const (
	settingNotify   = "tui.notify"    // bell | osc9 | osc777 | off
	settingAutoLock = "tui.auto-lock" // a duration, or off
	settingEnter    = "tui.enter"     // send (default) | newline
	settingPanicKey = "tui.panic-key" // on | off (default)
	// settingKeyPrefix + an action's name holds the key it is bound to
	// ("ctrl+o"); unset means its default (keys.go remapActions).
	settingKeyPrefix = "tui.key."
	settingPreview   = "tui.preview" // auto (default) | kitty | sixel | off
	// settingAutoDownload is the engine's auto-download limit as the
	// settings dialog shows it; it is no stored string (files.go).
	settingAutoDownload = "files.auto"
)
