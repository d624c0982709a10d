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
	errSuite       = errors.New("wire: the relay offers no block cipher this client speaks")
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

// RekeyInterval is the number of blocks sealed under one key in one
// direction (§5.1): after block n with n+1 a multiple of RekeyInterval,
// both sides replace the direction's key with NextKey of it. 2^20 blocks
// (16 GiB) is far inside AES-GCM's limit for 16 KiB records (RFC 8446
// §5.5: 2^24.5), and an old key cannot open later blocks.
const RekeyInterval = 1 << 20

// NextKey is the key that follows k in one direction (§5.1).
func NextKey(k *crypto.SymKey) crypto.SymKey { return crypto.NextBlockKey(k, rekeyLabel) }

// stream is one direction's suite, key and block counter.
type stream struct {
	suite Suite
	key   crypto.SymKey
	aead  *crypto.BlockAEAD // nil after idle, until the next block
	n     uint64
	wiped bool
}

// cipher returns the direction's AEAD, expanding the key again after
// idle (nil once wiped).
func (s *stream) cipher() *crypto.BlockAEAD {
	if s.aead == nil && !s.wiped {
		s.aead = crypto.NewBlockAEAD(s.suite, &s.key)
	}
	return s.aead
}

// idle drops the expanded key and keeps the key itself.
func (s *stream) idle() { s.aead = nil }

func newStream(suite Suite, key crypto.SymKey) stream {
	return stream{suite: suite, key: key, aead: crypto.NewBlockAEAD(suite, &key)}
}

// next returns the nonce of the current block and advances the counter,
// moving to the next key at the end of an interval (§5.1).
func (s *stream) next() (*crypto.BlockAEAD, [crypto.NonceSize]byte) {
	a, nonce := s.cipher(), counterNonce(s.n)
	s.n++
	if s.n%RekeyInterval == 0 {
		k := NextKey(&s.key)
		s.key.Wipe()
		s.key = k
		k.Wipe()
		s.aead = crypto.NewBlockAEAD(s.suite, &s.key)
	}
	return a, nonce
}

// wipe forgets the key (best effort: the expanded key inside the AEAD is
// left to the garbage collector).
func (s *stream) wipe() {
	s.key.Wipe()
	s.aead = nil
	s.wiped = true
}

// Sealer seals the blocks of one direction (§5.1). It is not safe for
// concurrent use: one writer owns it.
type Sealer struct{ s stream }

// NewSealer returns a Sealer whose first block uses counter 0. suite must
// be one of the two suites (a caller bug otherwise).
func NewSealer(suite Suite, key crypto.SymKey) *Sealer {
	return &Sealer{s: newStream(suite, key)}
}

// Seal appends the sealed block for pt, which must be BlockPlainSize bytes
// (a caller bug otherwise), to dst and advances the counter.
func (s *Sealer) Seal(dst, pt []byte) []byte {
	if len(pt) != BlockPlainSize {
		panic("wire: Seal: plaintext is not BlockPlainSize bytes")
	}
	a, nonce := s.s.next()
	return a.Seal(dst, &nonce, pt, nil)
}

// Opener opens the blocks of one direction in order (§5.1). It is not
// safe for concurrent use: one reader owns it.
type Opener struct {
	s      stream
	broken bool
}

// Wipe forgets the Sealer's key; it must not be used afterwards.
func (s *Sealer) Wipe() { s.s.wipe() }

// Idle drops the expanded key (about 1.3 KiB with AES-256-GCM) and keeps
// the 32-byte key: the next Seal expands it again, which costs about as
// much as sealing 3 KiB. For a connection that waits.
func (s *Sealer) Idle() { s.s.idle() }

// Idle drops the expanded key as Sealer.Idle does; the next Open expands
// it again.
func (o *Opener) Idle() { o.s.idle() }

// Wipe forgets the Opener's key; every later Open fails.
func (o *Opener) Wipe() {
	o.s.wipe()
	o.broken = true
}

// NewOpener returns an Opener expecting counter 0 first.
func NewOpener(suite Suite, key crypto.SymKey) *Opener {
	return &Opener{s: newStream(suite, key)}
}

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
	a, nonce := o.s.cipher(), counterNonce(o.s.n)
	pt, err := a.Open(dst, &nonce, block, nil)
	if err != nil {
		o.broken = true
		return nil, ErrBlockAuth
	}
	o.s.next()
	return pt, nil
}

func counterNonce(n uint64) [crypto.NonceSize]byte {
	var nonce [crypto.NonceSize]byte
	binary.BigEndian.PutUint64(nonce[4:], n)
	return nonce
}
