package client

import (
	"errors"

	"veil/client/internal/format"
	"veil/vault"
)

// Errors callers branch on.
var (
	// ErrInviteUsed is returned by Join when the invite's blob is gone: it
	// was taken by someone else (the key leaked) or it expired.
	ErrInviteUsed = errors.New("client: invite already used or expired")
	// ErrNoChat is returned when no chat has the given ID or name.
	ErrNoChat = errors.New("client: no such chat")
	// ErrGroupTimer is returned by SetTimer for a group: a group's
	// disappearing timer is part of its settings, which an admin changes
	// for every member with GroupSet (spec/groups.md §7.5); a local change
	// would only be overwritten.
	ErrGroupTimer = errors.New("client: a group's disappearing timer is one of its settings: an admin changes it with group set")
	// ErrGroupWaiting is returned for a group we asked to join whose admin
	// has not let us in yet (spec/groups.md §9.3).
	ErrGroupWaiting = errors.New("client: waiting for an admin to let you in")
	// ErrGroupRemoved is wrapped by the error a command on a group we were
	// removed from returns: its history is kept read-only (spec/groups.md
	// §7.4).
	ErrGroupRemoved = errors.New("client: you were removed from this group")
	// ErrNotJoined is returned for a chat whose invite nobody has used yet.
	ErrNotJoined = errors.New("client: nobody has joined this chat yet")
	// ErrNoRelay is returned by operations that need a configured relay
	// on a profile that has none.
	ErrNoRelay = errors.New("client: no relay configured (veil relay add URL)")
	// ErrNoMessage is returned when a chat has no message with the given ID.
	ErrNoMessage = errors.New("client: no such message")
	// ErrWrongPIN is returned by ChangePIN, SetDuressPIN and
	// RemoveDuressPIN when the current PIN given is not the unlock PIN
	// (the duress PIN included); nothing was changed.
	ErrWrongPIN = errors.New("client: the current PIN is wrong; nothing was changed")
	// ErrErased is returned by Open when the profile was erased while
	// opening: the duress PIN in reset mode, the wrong-PIN limit or the
	// dead-man timer (the vault does not say which). The directory then
	// holds no profile.
	ErrErased = vault.ErrErased
	// ErrNoProfile is returned by Open when the directory holds no profile.
	ErrNoProfile = vault.ErrNoProfile
	// ErrBadInviteKey is returned for an invite key that does not parse or
	// whose checksum is wrong (a typo).
	ErrBadInviteKey = format.ErrBadInviteKey
)

// BackoffError is returned by Open while wrong PINs have made the vault
// wait: Wait says for how long (spec/vault.md §5). errors.Is(err,
// ErrBackoff) matches it.
type BackoffError = vault.BackoffError

// Unlock failures Open returns besides ErrErased and ErrNoProfile.
var (
	// ErrUnlockPIN: no slot of the key file opens with the PIN given.
	ErrUnlockPIN = vault.ErrWrongPIN
	// ErrBackoff: too many wrong PINs; wait (see BackoffError).
	ErrBackoff = vault.ErrBackoff
	// ErrBusy: another process has the profile open.
	ErrBusy = vault.ErrBusy
)
