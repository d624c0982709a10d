package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"runtime"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/sys/cpu"
)

// BlockCipher names the AEAD of a BlockAEAD.
type BlockCipher uint8

// The two block ciphers (spec/relay.md §5.1). Both take a 32-byte key, a
// 12-byte nonce and add a 16-byte tag.
const (
	BlockAES256GCM        BlockCipher = 1 // fastest where the CPU has AES instructions
	BlockChaCha20Poly1305 BlockCipher = 2 // constant-time everywhere
)

// HasAESHardware reports whether this CPU runs AES-GCM in hardware (AES
// and carry-less multiplication instructions), where Go's AES is both
// fast and constant-time. Without them Go's AES uses lookup tables, and
// ChaCha20-Poly1305 is the safer and faster choice.
func HasAESHardware() bool {
	switch runtime.GOARCH {
	case "amd64":
		return cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ
	case "arm64":
		return cpu.ARM64.HasAES && cpu.ARM64.HasPMULL
	case "s390x":
		return cpu.S390X.HasAES && cpu.S390X.HasAESGCM
	}
	return false
}

// BlockAEAD is one AEAD under one fixed key, for a stream of messages
// numbered by the caller (the relay transport's 16 KiB blocks,
// spec/relay.md §5). The key is expanded once, so each message costs only
// the AEAD pass. Nonces must never repeat under one key: callers use a
// message counter. GCM's safety margin shrinks with the number of
// messages under one key (RFC 8446 §5.5 allows 2^24.5 full 16 KiB
// records), so callers rekey well before that (NextBlockKey).
type BlockAEAD struct {
	aead cipher.AEAD
}

// NewBlockAEAD returns the AEAD c under key. It keeps the expanded key,
// not key itself; the caller may wipe key afterwards. An unknown c is a
// caller bug (callers check what they parse).
func NewBlockAEAD(c BlockCipher, key *SymKey) *BlockAEAD {
	switch c {
	case BlockAES256GCM:
		b, err := aes.NewCipher(key[:])
		if err != nil {
			panic("crypto: aes.NewCipher: " + err.Error()) // key size is fixed by type
		}
		a, err := cipher.NewGCM(b)
		if err != nil {
			panic("crypto: cipher.NewGCM: " + err.Error())
		}
		return &BlockAEAD{aead: a}
	case BlockChaCha20Poly1305:
		a, err := chacha20poly1305.New(key[:])
		if err != nil {
			panic("crypto: chacha20poly1305.New: " + err.Error())
		}
		return &BlockAEAD{aead: a}
	}
	panic("crypto: unknown block cipher")
}

// Seal encrypts and authenticates pt under nonce, appending the result
// (len(pt) + Overhead bytes) to dst.
func (b *BlockAEAD) Seal(dst []byte, nonce *[NonceSize]byte, pt, ad []byte) []byte {
	return b.aead.Seal(dst, nonce[:], pt, ad)
}

// Open authenticates and decrypts ct, appending the plaintext to dst. Any
// failure is ErrAuth.
func (b *BlockAEAD) Open(dst []byte, nonce *[NonceSize]byte, ct, ad []byte) ([]byte, error) {
	out, err := b.aead.Open(dst, nonce[:], ct, ad)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}

// NextBlockKey returns the key that follows key in a stream that rekeys
// (spec/relay.md §5.1): HKDF-SHA256(secret = key, salt = empty,
// info = label).
func NextBlockKey(key *SymKey, label string) SymKey {
	return HKDFKey(key[:], nil, label)
}
