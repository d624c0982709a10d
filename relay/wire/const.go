package wire

import "veil/crypto"

// Protocol constants (spec/relay.md). Tuning defaults that an operator may
// change live in package relay, not here.
const (
	// Version is the only protocol version this package speaks (§4).
	Version uint16 = 1

	// BlockSize is the size of every WebSocket message after the hellos (§2.2).
	BlockSize = 16384
	// BlockPlainSize is the plaintext of one block (§5.2).
	BlockPlainSize = BlockSize - crypto.Overhead
	// MaxItemSize is the largest item a block can carry (§5.2).
	MaxItemSize = BlockPlainSize - 2 - 2

	// NonceSize is the size of the relay's connection nonce (§4.1).
	NonceSize = 32
	// IDSize is the size of mailbox, sender, log and blob IDs (§7.2).
	IDSize = crypto.IDSize
	// CapSize is the size of sender, write and read capabilities and of
	// their hashes (§7.2).
	CapSize = 32
	// SigSize is the size of an Ed25519 signature.
	SigSize = crypto.SignatureSize
	// MaxPassword is the longest relay password (§7.2: one length byte).
	MaxPassword = 255
	// PutPasswordSize is the size of a long-form PUT's password (§7.2):
	// the first bytes of the chunk password (§7.7), as many as make such
	// a PUT the size of a SEND with the same body, so that the two look
	// alike forwarded (§7.6.3). No two buckets (§6) differ by it, which
	// tells the long form from the short one by length.
	PutPasswordSize = 28
	// MaxReadLimit is the largest LREAD limit (§7.2).
	MaxReadLimit = 1000

	// ChunkSize is the size of every chunk body, CPUT's and CHUNK's
	// (§7.7): the largest end-to-end bucket. A CPUT item is 5 + 24 + 32 +
	// 32 + 4 + 32 + 16,000 = 16,129 bytes, within MaxItemSize, also
	// forwarded (§7.6.3).
	ChunkSize = crypto.MaxBody
	// MaxChunks is the largest CROOM count (§7.7): the chunks of the
	// largest file.
	MaxChunks = 131072

	// RouteIDSize is the size of a forwarding route ID (§7.6).
	RouteIDSize = 8
	// MaxAddress is the longest relay address a reader accepts, in any of
	// its forms (§3.2); a canonical form is never longer than the text it
	// was read from.
	MaxAddress = 1024
	// MaxDest is the longest FKEY destination address (§7.6.2): any
	// relay address.
	MaxDest = MaxAddress
	// ForwardPeriod is the period of a relay's forward keys: one day, in
	// seconds; a key is valid for its own period and the next (§7.6.1).
	ForwardPeriod = 86400
	// ForwardSkew is how far the time inside a forwarded item may be from
	// the destination's clock, in seconds (§7.6.4).
	ForwardSkew = 600
	// ForwardTimeSize is the time that starts a forwarded item's
	// plaintext (§7.6.3).
	ForwardTimeSize = 8
	// ForwardLenSize is the item length after the time (§7.6.3).
	ForwardLenSize = 2
	// ForwardPaddedSize is the size of a forwarded item's plaintext,
	// zero-padded, unless its item is longer (§7.6.3): that of a SEND
	// whose body is the smallest bucket, so SKEY, TAKE and such a SEND
	// have one size on the forwarder. 8 + 2 + 5 + 24 + 32 + 1,024 =
	// 1,095 bytes.
	ForwardPaddedSize = ForwardTimeSize + ForwardLenSize + headerSize + IDSize + CapSize + MinBucket

	// MinBucket is the smallest end-to-end body size (§6,
	// crypto.Buckets).
	MinBucket = 1024

	// RelayHelloSize and ClientHelloSize are the sizes of the hellos (§4.1, §4.2).
	RelayHelloSize  = 4 + 2 + 2 + 4 + NonceSize + 32 + 32 + 1 + SigSize
	ClientHelloSize = 4 + 2 + 32 + 1

	headerSize = 5 // type + cid (§7.1)
)

// Domain-separation labels (§4.1, §4.4, §5.1, §7.4).
const (
	helloLabel = "veil-relay/v1/hello"
	keysLabel  = "veil-relay/v1/transport keys"
	rekeyLabel = "veil-relay/v1/next block key"
	cmdLabel   = "veil-relay/v1/cmd"

	forwardKeyLabel  = "veil-relay/v1/forward key"  // §7.6.1: key derivation and its signature
	forwardKeysLabel = "veil-relay/v1/forward keys" // §7.6.3: item and reply keys
	forwardADLabel   = "veil-relay/v1/fwd"          // §7.6.3: associated data
)

// magic starts both hellos (§4.1).
var magic = [4]byte{'V', 'E', 'I', 'L'}

// Close codes of §4.5.
const (
	CloseBadHello    = 4001
	CloseBadBlock    = 4002
	CloseShutdown    = 4003
	CloseHelloTimout = 4004
)

// IsBucket reports whether n is one of the end-to-end body sizes (§6).
func IsBucket(n int) bool { return crypto.IsBucket(n) }
