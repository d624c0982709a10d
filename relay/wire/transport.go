package wire

import (
	"encoding/binary"
	"errors"

	"veil/crypto"
)

var (
	errFingerprint = errors.New("wire: relay identity does not match the address fingerprint")
	errHelloSig    = errors.New("wire: bad relay hello signature")
	errVersion     = errors.New("wire: no common protocol version")
	// ErrBlockAuth is returned when a block fails to open (§5.1); the
	// connection must be closed.
	ErrBlockAuth = errors.New("wire: block failed to open")
)

// SessionKeys are the two directional keys of one connection (§4.4). They
// must be kept secret.
type SessionKeys struct {
	ClientToRelay crypto.SymKey
	RelayToClient crypto.SymKey
}

// Wipe zeroes both keys (best effort).
func (k *SessionKeys) Wipe() {
	k.ClientToRelay.Wipe()
	k.RelayToClient.Wipe()
}

// DeriveKeys computes the session keys of §4.4 from the X25519 output and
// the two hellos exactly as they were sent.
func DeriveKeys(shared *crypto.SymKey, relayHello, clientHello []byte) SessionKeys {
	th := crypto.Hash(relayHello, clientHello)
	var okm [64]byte
	crypto.HKDF(okm[:], shared[:], th[:], keysLabel)
	var k SessionKeys
	copy(k.ClientToRelay[:], okm[:32])
	copy(k.RelayToClient[:], okm[32:])
	crypto.Wipe(okm[:])
	return k
}

// Sealer seals the blocks of one direction (§5.1). It is not safe for
// concurrent use: one writer owns it.
type Sealer struct {
	key crypto.SymKey
	n   uint64
}

// NewSealer returns a Sealer whose first block uses counter 0.
func NewSealer(key crypto.SymKey) *Sealer { return &Sealer{key: key} }

// Seal appends the sealed block for pt, which must be BlockPlainSize bytes
// (a caller bug otherwise), to dst and advances the counter.
func (s *Sealer) Seal(dst, pt []byte) []byte {
	if len(pt) != BlockPlainSize {
		panic("wire: Seal: plaintext is not BlockPlainSize bytes")
	}
	nonce := counterNonce(s.n)
	s.n++
	return crypto.Seal(dst, &s.key, &nonce, pt, nil)
}

// Opener opens the blocks of one direction in order (§5.1). It is not
// safe for concurrent use: one reader owns it.
type Opener struct {
	key    crypto.SymKey
	n      uint64
	broken bool
}

// NewOpener returns an Opener expecting counter 0 first.
func NewOpener(key crypto.SymKey) *Opener { return &Opener{key: key} }

// Open appends the plaintext of block to dst. Any failure is ErrBlockAuth
// (or a malformed-size error), after which every later Open fails too:
// the connection must be closed.
func (o *Opener) Open(dst, block []byte) ([]byte, error) {
	if o.broken {
		return nil, ErrBlockAuth
	}
	if len(block) != BlockSize {
		o.broken = true
		return nil, malformed("block is %d bytes, want %d", len(block), BlockSize)
	}
	nonce := counterNonce(o.n)
	pt, err := crypto.Open(dst, &o.key, &nonce, block, nil)
	if err != nil {
		o.broken = true
		return nil, ErrBlockAuth
	}
	o.n++
	return pt, nil
}

func counterNonce(n uint64) [crypto.NonceSize]byte {
	var nonce [crypto.NonceSize]byte
	binary.BigEndian.PutUint64(nonce[4:], n)
	return nonce
}
