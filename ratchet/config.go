package ratchet

import (
	"io"
	"time"

	"veil/crypto"
)

// Config carries a session's sources of randomness and time. The zero
// Config uses crypto/rand and time.Now; tests and vector generators pass
// deterministic ones.
type Config struct {
	// Rand supplies every random byte the session uses (keys, nonces).
	Rand io.Reader
	// Now returns the current time; it dates skipped message keys.
	Now func() time.Time

	// dhRand, when set, supplies the X25519 ratchet keys (DHs) and only
	// them; every other draw still comes from Rand, in the same order.
	// Tests use it to hand every X25519 secret to a simulated thief.
	dhRand io.Reader
}

func (c *Config) rand() io.Reader { return crypto.Reader(c.Rand) }

// ratchetRand is the source of the X25519 ratchet keys: dhRand when set,
// Rand otherwise.
func (c *Config) ratchetRand() io.Reader {
	if c.dhRand != nil {
		return c.dhRand
	}
	return c.rand()
}

func (c *Config) now() int64 {
	if c.Now == nil {
		return time.Now().Unix()
	}
	return c.Now().Unix()
}
