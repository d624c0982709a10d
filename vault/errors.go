package vault

import (
	"errors"
	"fmt"
	"time"
)

// Errors callers branch on. Every other error is wrapped with context and
// the "vault: " prefix.
var (
	// ErrWrongPIN is returned when no slot of the key file opens with the
	// given PIN. It says nothing about which slots exist.
	ErrWrongPIN = errors.New("vault: wrong PIN")
	// ErrBackoff is returned (inside a *BackoffError) when too many wrong
	// PINs were entered recently; no PIN was tried and the counter did not move.
	ErrBackoff = errors.New("vault: too many wrong PINs, wait before trying again")
	// ErrErased is returned when the profile was erased: the duress PIN in
	// reset mode, the wrong-PIN limit, or the dead-man timer.
	ErrErased = errors.New("vault: the vault was erased")
	// ErrNoProfile is returned by Open when the directory holds no key file.
	ErrNoProfile = errors.New("vault: no vault in this directory")
	// ErrExists is returned by Create when the directory already holds a vault.
	ErrExists = errors.New("vault: a vault already exists in this directory")
	// ErrBusy is returned when another process (or another Vault in this
	// one) has the profile open.
	ErrBusy = errors.New("vault: the profile is open elsewhere")
	// ErrCorrupt is returned for a damaged or unknown-format key file, state
	// file, key table or data directory. Nothing is changed or removed.
	ErrCorrupt = errors.New("vault: corrupt or unknown vault file")
	// ErrLocked is returned by every method of a Vault after Lock.
	ErrLocked = errors.New("vault: the vault is locked")
	// ErrNotFound is returned when a record does not exist.
	ErrNotFound = errors.New("vault: record not found")
	// ErrBadPIN is returned when a new PIN is unacceptable (too short, or
	// equal to the vault's other PIN).
	ErrBadPIN = errors.New("vault: unacceptable PIN")
)

// BackoffError reports how long the caller must wait before the next PIN
// attempt is accepted. errors.Is(err, ErrBackoff) is true.
type BackoffError struct {
	Wait time.Duration
}

func (e *BackoffError) Error() string {
	return fmt.Sprintf("%v (retry in %v)", ErrBackoff, e.Wait.Round(time.Second))
}

// Unwrap lets errors.Is match ErrBackoff.
func (e *BackoffError) Unwrap() error { return ErrBackoff }

// corrupt wraps a detail as ErrCorrupt.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}
