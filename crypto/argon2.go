package crypto

import (
	"golang.org/x/crypto/argon2"
)

// Argon2Params are the Argon2id cost parameters (RFC 9106).
type Argon2Params struct {
	Time    uint32 // passes
	MemKiB  uint32 // memory in KiB
	Threads uint8  // lanes
}

// PINKey derives a 32-byte key from a PIN or passphrase with Argon2id.
// The salt must be at least 16 random bytes, unique per slot.
func PINKey(pin, salt []byte, p Argon2Params) SymKey {
	var k SymKey
	b := argon2.IDKey(pin, salt, p.Time, p.MemKiB, p.Threads, KeySize)
	copy(k[:], b)
	clear(b)
	return k
}
