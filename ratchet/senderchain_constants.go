package ratchet

import "veil/crypto"

// Group labels: spec/groups.md §2. Each use has its own.
const (
	labelGroupEpoch = "veil/group/v2/epoch"
	labelGroupChain = "veil/group/v2/chain"
	labelGroupSig   = "veil/group/v2/message-signature"
	labelGroupSeal  = "veil/group/v2/epoch-seal"
)

// Group encodings and sizes: spec/groups.md §4 and §5.
const (
	// GroupIDSize is the size of a group ID (32 random bytes).
	GroupIDSize = 32
	// EpochContextSize is the size of an epoch context: group ID || epoch.
	EpochContextSize = GroupIDSize + 8
	// GroupCapSize is the size of the log's write and read capabilities
	// (spec/relay.md §7.5).
	GroupCapSize = 32

	// typeGroup is the first byte of every group message (§4.1); it
	// differs from the 1:1 message types of spec/session.md §5.1.
	typeGroup = 0x03

	groupHeaderSize    = crypto.KeySize + 4                                    // signing key || n, §4.2
	groupEncHeaderSize = crypto.XNonceSize + groupHeaderSize + crypto.Overhead // 76
	groupBodyOff       = 1 + groupEncHeaderSize
	// groupOverhead is everything in a group message but the padded
	// plaintext: type, encrypted header, body tag, signature (§4.1).
	groupOverhead = groupBodyOff + crypto.Overhead + crypto.SignatureSize

	// MaxGroupPlaintext is the largest plaintext of a group message.
	MaxGroupPlaintext = crypto.MaxBody - groupOverhead - 1

	groupStateVersion = 0x01
	// sealedSecretSize is one recipient's share of a sealed epoch secret:
	// an ML-KEM-768 ciphertext and the wrapped secret (§5.3), 1136 bytes.
	sealedSecretSize = crypto.KEM768CiphertextSize + crypto.KeySize + crypto.Overhead
	// MaxSealedEpochSize is an epoch secret sealed to MaxGroupMembers.
	MaxSealedEpochSize = crypto.KeySize + MaxGroupMembers*sealedSecretSize
)

// Group limits: spec/groups.md §8.
const (
	// MaxGroupMembers is the largest roster, the sender included.
	MaxGroupMembers = 1000
	// MaxGroupSkip is the largest forward jump within one sender chain.
	MaxGroupSkip = 1000
	// MaxGroupSkippedKeys is how many skipped message keys one sender
	// chain keeps; past it the oldest are evicted. Per chain, not per
	// group, so one noisy member cannot evict the keys of the others.
	MaxGroupSkippedKeys = 256
)
