package ratchet

import (
	"time"

	"veil/crypto"
)

// Domain-separation labels: spec/session.md §4.1. Each use has its own.
const (
	labelBundleSig  = "veil/session/v1/bundle-signature"
	labelPQXDH      = "veil/session/v1/pqxdh"
	labelInit       = "veil/session/v1/init"
	labelRootStep   = "veil/session/v1/root"
	labelSafetyCode = "veil/session/v1/safety-code"
	labelPQEpoch    = "veil/session/v1/pq-epoch"  // E_e of the KEM ratchet, §14.5
	labelRootPQ     = "veil/session/v1/root-pq"   // KDF_RK_PQ, §14.5
	labelPQDigest   = "veil/session/v1/pq-digest" // a KEM ratchet payload's digest, §14.4
)

// Chain-step inputs: spec/session.md §4.4 (Signal's recommended constants).
const (
	chainMessageByte = 0x01
	chainNextByte    = 0x02
)

// Encodings and sizes: spec/session.md §1–§3 and §5.
const (
	// IdentitySize is the encoding of an IdentityPublic: Ed25519 || X25519.
	IdentitySize = 2 * crypto.KeySize

	// Bundle versions (§2): 0x02 says that sessions from the bundle run
	// the KEM ratchet (§14) from the start; 0x01 is the version before it.
	bundleVersion1  = 0x01
	bundleVersionPQ = 0x02
	// BundleSize is the size of a marshalled Bundle (spec/session.md §2).
	BundleSize = 1 + IdentitySize + crypto.KeySize + crypto.KEMPublicSize + crypto.SignatureSize

	// A BundlePrivate records its bundle's version in its first byte.
	// BundlePrivateSize is the size of a marshalled BundlePrivate.
	BundlePrivateSize = 1 + crypto.KeySize + crypto.KeySize + crypto.KeySize + crypto.KEMSeedSize

	// Message types, the first byte of every message (spec/session.md §5.1).
	typeMessage = 0x01
	typeInitial = 0x02

	headerSize    = crypto.KeySize + 4 + 4                           // dh || pn || n, §5.2
	encHeaderSize = crypto.XNonceSize + headerSize + crypto.Overhead // 80
	// initialPrefixSize is what follows the type byte of an initial message
	// before the encrypted header: IK_A || EK_A || CT (§5.3).
	initialPrefixSize = IdentitySize + crypto.KeySize + crypto.KEMCiphertextSize

	// messageOverhead is everything in a normal message but the padded
	// plaintext: type byte, encrypted header, body tag (§6).
	messageOverhead = 1 + encHeaderSize + crypto.Overhead
	// initialOverhead is the same for an initial message.
	initialOverhead = messageOverhead + initialPrefixSize

	// MaxPlaintext is the largest plaintext a normal message carries: the
	// largest bucket minus the overhead and the one padding marker byte.
	MaxPlaintext = crypto.MaxBody - messageOverhead - 1
	// MaxInitialPlaintext is the largest plaintext of an initial message,
	// which the joiner sends until it has heard from the inviter.
	MaxInitialPlaintext = crypto.MaxBody - initialOverhead - 1

	adSize = 2 * IdentitySize // IK_A || IK_B, §4.3
)

// Limits: spec/session.md §7.
const (
	// MaxSkip is the largest forward jump within one receiving chain: a
	// message more than MaxSkip past the next expected number is refused
	// with ErrTooFarAhead. It bounds the work one message can cause.
	MaxSkip = 1000
	// MaxSkippedKeys is how many skipped message keys a session keeps in
	// all; past it the oldest are evicted.
	MaxSkippedKeys = 2000
	// MaxRetiredChains is how many previous receiving chains a session
	// remembers, only to tell a replay (ErrDuplicate) from garbage.
	MaxRetiredChains = 8
	// SkippedKeyTTL is how long a skipped message key is kept. It is twice
	// the relay's default message TTL (21 days) plus margin: past it the
	// message cannot be on any default relay any more.
	SkippedKeyTTL = 45 * 24 * time.Hour
)
