package client

import (
	"context"
	"errors"

	"veil/vault"
)

// DuressMode is what unlocking with the duress PIN does after erasing the
// profile (spec/vault.md §7.3).
type DuressMode = vault.DuressMode

// The duress modes.
const (
	// DuressDecoy opens a fresh, empty profile that looks like a new
	// install, so nothing on screen says a wipe happened.
	DuressDecoy = vault.DuressDecoy
	// DuressReset says plainly that the data is gone, so coercion has no
	// point.
	DuressReset = vault.DuressReset
)

// ChangePIN replaces the unlock PIN after checking that current is the
// unlock PIN now (ErrWrongPIN otherwise, and nothing changes). A new PIN
// that is too short or equal to the duress PIN is refused with the
// vault's reason. The caller keeps both slices and wipes them.
func (e *Engine) ChangePIN(ctx context.Context, current, pin []byte) error {
	if err := e.verifyPIN(ctx, current); err != nil {
		return err
	}
	return e.v.ChangePIN(ctx, pin)
}

// SetDuressPIN sets or replaces the duress PIN and its mode after checking
// current as ChangePIN does. A duress PIN equal to the unlock PIN is
// refused with the vault's reason. Whether a duress PIN existed before is
// not reported: the key file cannot tell (spec/vault.md §3.4).
func (e *Engine) SetDuressPIN(ctx context.Context, current, duress []byte, mode DuressMode) error {
	if err := e.verifyPIN(ctx, current); err != nil {
		return err
	}
	return e.v.SetDuressPIN(ctx, duress, mode)
}

// RemoveDuressPIN removes the duress PIN, if there is one, after checking
// current as ChangePIN does.
func (e *Engine) RemoveDuressPIN(ctx context.Context, current []byte) error {
	if err := e.verifyPIN(ctx, current); err != nil {
		return err
	}
	return e.v.RemoveDuressPIN(ctx)
}

// Policy is the profile's erase policy: wipe after this many wrong PINs in
// a row, and the dead-man timer (spec/vault.md §5). Zero turns either off.
type Policy = vault.Policy

// Policy returns the erase policy. It is no secret: the vault keeps it in
// the plain state file, read before unlock (spec/vault.md §5).
func (e *Engine) Policy(ctx context.Context) (Policy, error) {
	if err := ctx.Err(); err != nil {
		return Policy{}, err
	}
	return e.v.Policy()
}

// SetPolicy replaces the erase policy after checking current as ChangePIN
// does, since it changes what erases the profile. A negative or absurdly
// large value is refused and nothing changes. Turning the dead-man timer
// on starts it now.
func (e *Engine) SetPolicy(ctx context.Context, current []byte, p Policy) error {
	if err := e.verifyPIN(ctx, current); err != nil {
		return err
	}
	return e.v.SetPolicy(p)
}

func (e *Engine) verifyPIN(ctx context.Context, pin []byte) error {
	err := e.v.VerifyPIN(ctx, pin)
	if errors.Is(err, vault.ErrWrongPIN) {
		return ErrWrongPIN
	}
	return err
}
