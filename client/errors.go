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
	// disappearing timer is part of its settings, fixed at creation
	// (spec/groups.md), and a local change would only be overwritten.
	ErrGroupTimer = errors.New("client: a group's disappearing timer is set when the group is created")
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
