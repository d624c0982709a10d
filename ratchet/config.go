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
}

func (c *Config) rand() io.Reader { return crypto.Reader(c.Rand) }

func (c *Config) now() int64 {
	if c.Now == nil {
		return time.Now().Unix()
	}
	return c.Now().Unix()
}
