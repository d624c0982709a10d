package client

import (
	"veil/client/internal/format"
	"veil/ratchet"
)

// Text limits, spec/client.md §5.7 and spec/groups.md §6.3. A TEXT
// envelope is version (1) · type (1) · wire ID (16) · TTL (4) · text, so
// the largest text is the largest plaintext of the message that carries it
// less those 22 bytes. The CLI, the TUI and the engine all use these
// constants.
const (
	textHeader = 1 + 1 + 16 + 4 // version, type, wire ID, TTL

	// MaxText is the largest text, in bytes of UTF-8, of a 1:1 message or
	// an edit: ratchet.MaxPlaintext (15,902) − 22 = 15,880.
	MaxText = ratchet.MaxPlaintext - textHeader

	// MaxInitialText is the largest text a joiner can send before the
	// inviter's first message reaches it, while every message it sends
	// is an initial message (spec/session.md §5.3):
	// ratchet.MaxInitialPlaintext (14,238) − 22 = 14,216.
	MaxInitialText = ratchet.MaxInitialPlaintext - textHeader

	// MaxGroupText is the largest text of a group message:
	// ratchet.MaxGroupPlaintext (15,842) − 38 = 15,804 (a group TEXT
	// also carries its sender's 16-byte confirmation tag).
	MaxGroupText = format.MaxGroupText
)

// tooLong is the error for a text of n bytes over limit.
func tooLong(n, limit int) error {
	return userErrorf(errTooLong, "message too long (%d bytes, at most %d)", n, limit)
}

// checkTextLen refuses a text that a TEXT envelope in sess's next message
// cannot carry (spec/client.md §5.7).
func checkTextLen(text string, sess *ratchet.Session) error {
	if len(text) > MaxText {
		return tooLong(len(text), MaxText)
	}
	if sess.MaxPlaintext() < ratchet.MaxPlaintext && len(text) > MaxInitialText {
		return userErrorf(errTooLong, "message too long (%d bytes, at most %d until the inviter's first message arrives)", len(text), MaxInitialText)
	}
	return nil
}
