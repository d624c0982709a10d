package ratchet

import "errors"

// Errors a caller branches on (spec/session.md §8). Every other failure
// wraps one of them or is a local problem (randomness, a corrupt state).
var (
	// ErrAuth means the message does not authenticate under this session:
	// tampered, truncated, of another session, or malformed. It carries no
	// detail on purpose.
	ErrAuth = errors.New("ratchet: message authentication failed")
	// ErrDuplicate means the message belongs to this session but its key is
	// no longer held: it was already decrypted (or, rarely, its skipped key
	// was evicted or expired). The caller acks and drops it.
	ErrDuplicate = errors.New("ratchet: duplicate message")
	// ErrTooFarAhead means the message is more than MaxSkip messages ahead
	// of its chain; accepting it would cost unbounded work and memory.
	ErrTooFarAhead = errors.New("ratchet: message too far ahead")
	// ErrConflictingInitial means an initial message arrived at an inviter
	// whose session already exists, with a different handshake prefix: a
	// second party is trying to join through the same invite. It is not
	// authenticated (anyone who can send to the mailbox can cause it), but
	// it is the one visible sign that the invite channel may have been
	// intercepted, so the caller should warn the user to compare safety
	// codes (spec/session.md §8, §9). It does not wrap ErrAuth.
	ErrConflictingInitial = errors.New("ratchet: initial message of a different handshake")
)
