package client

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"veil/client/internal/format"
	"veil/relay/conn"
	"veil/relay/wire"
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
	ErrGroupTimer error = &userError{kind: errBadInput, msg: "a group's disappearing timer is one of its settings: an admin changes it with group set"}
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

// RelayError is the error of an operation on one relay: it could not be
// reached, the connection to it failed, or it answered with an error code
// (a *wire.Error inside Err). Relay is host:port, never the fingerprint.
type RelayError struct {
	Relay string
	Err   error
}

func (e *RelayError) Error() string {
	if _, ok := relayCode(e.Err); ok {
		return "client: relay " + e.Relay + " refused: " + e.Err.Error()
	}
	return "client: relay " + e.Relay + " unreachable: " + e.Err.Error()
}

// Unwrap returns the relay's or the connection's error, so errors.Is and
// errors.As see a *wire.Error or a context error through a RelayError.
func (e *RelayError) Unwrap() error { return e.Err }

// relayCode returns the code of the relay's ERR reply in err's chain.
func relayCode(err error) (wire.Code, bool) {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code, true
	}
	return 0, false
}

// relayErr returns err, the error of a command on the relay at addr (a
// relay address), as a *RelayError; nil stays nil, and an error that
// already names its relay is returned as it is.
func relayErr(addr string, err error) error {
	var re *RelayError
	if err == nil || errors.As(err, &re) {
		return err
	}
	return &RelayError{Relay: shortRelay(addr), Err: err}
}

// userError is a refusal said in the user's words: Error gives the text
// with the package prefix, and errors.Is matches its kind (errBadInput,
// errNotAllowed or errTooLong), which Explain reports.
type userError struct {
	kind error
	msg  string // a sentence without prefix; peer strings in it sanitised
	err  error  // what the refusal comes from, or nil
}

func (u *userError) Error() string        { return "client: " + u.msg }
func (u *userError) Is(target error) bool { return target == u.kind }
func (u *userError) Unwrap() error        { return u.err }
func userErrorf(kind error, format string, args ...any) error {
	return &userError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Kinds of userError.
var (
	errBadInput   = errors.New("client: bad input")
	errNotAllowed = errors.New("client: not allowed")
	errTooLong    = errors.New("client: message too long")
)

// badInput is a mistake in what the user gave: a duration, a name, an
// address.
func badInput(format string, args ...any) error { return userErrorf(errBadInput, format, args...) }

// badAddress is the error for a relay address that does not parse.
func badAddress(err error) error {
	return &userError{kind: errBadInput, msg: "not a relay address: " + lastSegment(err.Error()), err: err}
}

// lastSegment is the text after the last ": " of s: the detail of a
// wrapped error.
func lastSegment(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// notAllowed is a group change the member's role does not allow.
func notAllowed(format string, args ...any) error { return userErrorf(errNotAllowed, format, args...) }

// relayCause is relayErr for an error that may or may not come from the
// relay at addr (a group operation fails on the relay or on the group's
// state): only an error code, a broken or closed connection or a network
// failure in err's chain makes it a *RelayError.
func relayCause(addr string, err error) error {
	var (
		we *wire.Error
		ne net.Error
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &we), errors.As(err, &ne),
		errors.Is(err, conn.ErrClosed), errors.Is(err, conn.ErrBadReply),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return relayErr(addr, err)
	}
	return err
}

// noChatError is ErrNoChat for the chat the user named.
type noChatError struct{ ref string }

func (e *noChatError) Error() string        { return ErrNoChat.Error() }
func (e *noChatError) Is(target error) bool { return target == ErrNoChat }
