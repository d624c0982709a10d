package daemon

import (
	"context"

	"veil/client"
)

// Session is an unlocked profile: its engine, and what closes it.
type Session struct {
	Engine *client.Engine
	// Close closes the engine (locking the vault: its keys are zeroed)
	// and whatever runs beside it, such as an embedded relay.
	Close func()
	// Embedded is the address of the profile's embedded relay, if it has
	// one ("" otherwise), so relay.list can mark it.
	Embedded string
}

// Profile opens and erases the profile a Server serves. cmd/veil provides
// it, so the daemon shares the CLI's unlock, set-up and erase exactly.
type Profile interface {
	// Unlock opens the profile with pin, sending the engine's events to
	// events. A duress PIN erases the profile during the call and opens
	// what an erased profile opens (a fresh decoy profile, or an error
	// wrapping client.ErrErased). Errors wrap client.ErrUnlockPIN,
	// client.ErrBackoff, client.ErrNoProfile, client.ErrErased or
	// client.ErrBusy where they apply. The caller wipes pin.
	Unlock(ctx context.Context, pin []byte, events chan<- client.Event) (*Session, error)
	// Erase crypto-erases the profile and removes what is left of it. It
	// is called with no session open.
	Erase(ctx context.Context) error
	// Backup writes the profile to the new file path, encrypted with
	// passphrase (an age file); the caller wipes passphrase.
	Backup(ctx context.Context, eng *client.Engine, path string, passphrase []byte) error
}
