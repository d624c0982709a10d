package crypto

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
)

// IDSize is the size of every random identifier veil creates (mailbox IDs,
// log IDs, blob IDs): 192 bits, like SimpleX's queue IDs, so guessing one is
// hopeless.
const IDSize = 24

// ID is a random 24-byte identifier. It is not a secret in the sense of a
// key, but knowing one can grant a capability, so its String is shortened.
type ID [IDSize]byte

// String returns the first four bytes in hex, enough to tell IDs apart in a
// debugger, never enough to use one.
func (id ID) String() string { return fmt.Sprintf("ID(%x…)", id[:4]) }

// IsZero reports whether id is all zeroes.
func (id ID) IsZero() bool { return id == ID{} }

// ParseID returns the ID in b, which must be exactly IDSize bytes.
func ParseID(b []byte) (ID, error) {
	var id ID
	if len(b) != IDSize {
		return id, fmt.Errorf("crypto: id must be %d bytes, got %d", IDSize, len(b))
	}
	copy(id[:], b)
	return id, nil
}

// Reader returns r, or crypto/rand.Reader when r is nil. Every function
// here that needs randomness takes an io.Reader so tests can be
// deterministic; production code passes nil.
func Reader(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// RandomBytes fills b from r (crypto/rand when r is nil).
func RandomBytes(r io.Reader, b []byte) error {
	if _, err := io.ReadFull(Reader(r), b); err != nil {
		return fmt.Errorf("crypto: reading randomness: %w", err)
	}
	return nil
}

// NewID returns a fresh random ID from r (crypto/rand when r is nil).
func NewID(r io.Reader) (ID, error) {
	var id ID
	err := RandomBytes(r, id[:])
	return id, err
}

// Equal reports whether a and b are equal, in time that depends only on
// their lengths. Use it for every comparison of a secret, MAC or capability.
func Equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}

// Wipe zeroes b. Best effort only: Go cannot guarantee that no copy of the
// bytes remains elsewhere in memory.
func Wipe(b []byte) { clear(b) }
