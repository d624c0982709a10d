package crypto

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math/bits"

	"golang.org/x/crypto/chacha20"
)

// File attachments (spec/files.md §3): a file is cut into chunks of
// FileChunkPlain bytes, each sealed alone with ChaCha20-Poly1305 under a
// key derived from a 32-byte file secret, with age's STREAM nonce layout
// (a big-endian chunk counter and a last-chunk flag), so every chunk can be
// checked, fetched again and resumed on its own while truncation and
// reordering still fail.
const (
	// FileChunkPlain is the plaintext carried by one chunk (§3.2).
	FileChunkPlain = FileChunkSize - Overhead // 15,984
	// FileChunkSize is the sealed size of one chunk: the largest padding
	// bucket, so every chunk looks like every other relay body.
	FileChunkSize = MaxBody
	// MaxFileSize is the largest file veil sends (§9).
	MaxFileSize int64 = 2_000_000_000
	// MaxFileChunks bounds the chunk count of any descriptor: Padmé of
	// MaxFileSize's chunks (126,976) rounded up to a power of two.
	MaxFileChunks = 131072
)

// Labels of the file key schedule (spec/files.md §3.1).
const (
	fileKeyLabel    = "veil-file/v1/key"
	fileDeleteLabel = "veil-file/v1/delete"
	fileOrderLabel  = "veil-file/v1/order"
	fileIDsLabel    = "veil-file/v1/ids"
	fileIDLabel     = "veil-file/v1/id"
	fileReadLabel   = "veil-file/v1/read"
	fileDelLabel    = "veil-file/v1/del"
)

// ErrFileSize is returned by FileChunks for a size outside 0…MaxFileSize.
var ErrFileSize = errors.New("crypto: file size out of range")

// FileChunks returns the number of chunks a file of size bytes is sent in:
// Padmé(max(1, ⌈size/FileChunkPlain⌉)) (spec/files.md §3.3). The chunks
// past the data carry zero plaintext.
func FileChunks(size int64) (uint32, error) {
	if size < 0 || size > MaxFileSize {
		return 0, ErrFileSize
	}
	n := (size + FileChunkPlain - 1) / FileChunkPlain
	if n < 1 {
		n = 1
	}
	return uint32(padme(uint64(n))), nil
}

// padme rounds l up as Padmé does (Nikitin et al., "Reducing Metadata
// Leakage from Encrypted Files and Communication with PURBs", 2019):
// E = ⌊log2 l⌋, S = ⌊log2 E⌋+1, and the last E−S bits are rounded up.
func padme(l uint64) uint64 {
	if l < 3 {
		return l
	}
	e := uint64(bits.Len64(l) - 1)
	s := uint64(bits.Len64(e))
	if e <= s {
		return l
	}
	mask := uint64(1)<<(e-s) - 1
	return (l + mask) &^ mask
}

// FileSecret is the 32-byte secret S a file descriptor carries; every key,
// chunk ID and capability of the file derives from it. It must be kept
// secret.
type FileSecret [KeySize]byte

// String redacts the secret.
func (FileSecret) String() string { return "FileSecret(redacted)" }

// GoString redacts the secret for %#v.
func (s FileSecret) GoString() string { return s.String() }

// Wipe zeroes the secret (best effort; see package doc).
func (s *FileSecret) Wipe() { clear(s[:]) }

// NewFileSecret returns a fresh random file secret.
func NewFileSecret() (FileSecret, error) {
	var s FileSecret
	err := RandomBytes(nil, s[:])
	return s, err
}

// FileKeys is the key schedule of one file (spec/files.md §3.1). It holds a
// copy of the secret; Wipe it when done.
type FileKeys struct {
	s FileSecret // per-chunk read caps derive from S
	k SymKey     // STREAM key K
	d [KeySize]byte
	o [KeySize]byte
	n [KeySize]byte // ID root N: per-chunk IDs derive from it
}

// String redacts the keys.
func (*FileKeys) String() string { return "FileKeys(redacted)" }

// GoString redacts the keys for %#v.
func (k *FileKeys) GoString() string { return k.String() }

// NewFileKeys derives K, D, O and N from s.
func NewFileKeys(s *FileSecret) *FileKeys {
	k := &FileKeys{s: *s}
	HKDF(k.k[:], s[:], nil, fileKeyLabel)
	HKDF(k.d[:], s[:], nil, fileDeleteLabel)
	HKDF(k.o[:], s[:], nil, fileOrderLabel)
	HKDF(k.n[:], s[:], nil, fileIDsLabel)
	return k
}

// Wipe zeroes every key (best effort; see package doc).
func (k *FileKeys) Wipe() {
	k.s.Wipe()
	k.k.Wipe()
	clear(k.d[:])
	clear(k.o[:])
	clear(k.n[:])
}

// chunkInfo returns label || be32(i), the HKDF info of a per-chunk value.
func chunkInfo(label string, i uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], i)
	return label + string(b[:])
}

// ChunkID returns chunk i's relay ID: HKDF(N, ∅, "veil-file/v1/id" ||
// be32(i)), first 24 bytes. IDs of different chunks are unlinkable.
func (k *FileKeys) ChunkID(i uint32) ID { return FileChunkID(&k.n, i) }

// IDRoot returns N, from which every chunk's relay ID derives
// (FileChunkID). With D it is all a deletion needs; it reveals neither
// the content nor any read capability.
func (k *FileKeys) IDRoot() [32]byte { return k.n }

// FileChunkID returns chunk i's relay ID from the ID root n.
func FileChunkID(n *[32]byte, i uint32) ID {
	var id ID
	HKDF(id[:], n[:], nil, chunkInfo(fileIDLabel, i))
	return id
}

// ReadCap returns chunk i's read capability, which CGET presents. It must
// be kept secret.
func (k *FileKeys) ReadCap(i uint32) [32]byte {
	var c [32]byte
	HKDF(c[:], k.s[:], nil, chunkInfo(fileReadLabel, i))
	return c
}

// DeleteRoot returns D, from which every chunk's delete capability derives
// (FileDeleteCap). D lets its holder delete the file's chunks and nothing
// else: it reveals neither content nor the chunk IDs' read caps.
func (k *FileKeys) DeleteRoot() [32]byte { return k.d }

// DeleteCap returns chunk i's delete capability.
func (k *FileKeys) DeleteCap(i uint32) [32]byte { return FileDeleteCap(&k.d, i) }

// FileDeleteCap returns chunk i's delete capability from the delete root d:
// HKDF(D, ∅, "veil-file/v1/del" || be32(i)).
func FileDeleteCap(d *[32]byte, i uint32) [32]byte {
	var c [32]byte
	HKDF(c[:], d[:], nil, chunkInfo(fileDelLabel, i))
	return c
}

// CapHash returns SHA-256(c), what a relay stores in place of a capability
// so that a copy of its store grants nothing.
func CapHash(c *[32]byte) [32]byte { return sha256.Sum256(c[:]) }

// NewFileHash returns the hash a descriptor names the plaintext by
// (SHA-256), so callers never choose it.
func NewFileHash() hash.Hash { return sha256.New() }

// streamNonce returns age's STREAM nonce for chunk i of n:
// 0x000000 || be64(i) || last, last = 1 only for i = n−1.
func streamNonce(i, n uint32) [NonceSize]byte {
	var nonce [NonceSize]byte
	binary.BigEndian.PutUint64(nonce[3:11], uint64(i))
	if i == n-1 {
		nonce[11] = 1
	}
	return nonce
}

func checkChunkArgs(i, n uint32, pt []byte) {
	if n == 0 || n > MaxFileChunks || i >= n {
		panic(fmt.Sprintf("crypto: file chunk %d of %d", i, n))
	}
	if len(pt) != FileChunkPlain {
		panic(fmt.Sprintf("crypto: file chunk plaintext is %d bytes, want %d", len(pt), FileChunkPlain))
	}
}

func openChunk(key *SymKey, dst []byte, i, n uint32, ct, ad []byte) ([]byte, error) {
	if n == 0 || n > MaxFileChunks || i >= n {
		return nil, fmt.Errorf("crypto: file chunk %d of %d: %w", i, n, ErrAuth)
	}
	if len(ct) != FileChunkSize {
		return nil, fmt.Errorf("crypto: file chunk is %d bytes, want %d: %w", len(ct), FileChunkSize, ErrAuth)
	}
	nonce := streamNonce(i, n)
	return Open(dst, key, &nonce, ct, ad)
}

// SealChunk seals chunk i of n and appends the FileChunkSize bytes to dst.
// pt must be exactly FileChunkPlain bytes (the caller zero-pads the last
// data chunk and sends zero chunks up to n); anything else, or i ≥ n, is a
// programmer error and panics.
func (k *FileKeys) SealChunk(dst []byte, i, n uint32, pt []byte) []byte {
	checkChunkArgs(i, n, pt)
	nonce := streamNonce(i, n)
	return Seal(dst, &k.k, &nonce, pt, nil)
}

// OpenChunk opens chunk i of n and appends the FileChunkPlain bytes to dst.
// A chunk of another position, another file, the wrong length, or a
// non-last chunk presented as the last (truncation) fails with an error
// that wraps ErrAuth.
func (k *FileKeys) OpenChunk(dst []byte, i, n uint32, ct []byte) ([]byte, error) {
	return openChunk(&k.k, dst, i, n, ct, nil)
}

// Order returns the permutation of 0…n−1 in which the file's chunks are
// uploaded and fetched: a Fisher–Yates shuffle driven by a ChaCha20
// keystream keyed by O (spec/files.md §5.1). n above MaxFileChunks panics.
func (k *FileKeys) Order(n uint32) []uint32 {
	if n > MaxFileChunks {
		panic(fmt.Sprintf("crypto: file order of %d chunks", n))
	}
	p := make([]uint32, n)
	for i := range p {
		p[i] = uint32(i)
	}
	if n < 2 {
		return p
	}
	ks := newKeystream(&k.o)
	defer ks.wipe()
	for i := n - 1; i > 0; i-- {
		j := ks.uniform(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// keystream reads little-endian uint32s from ChaCha20(O, nonce 0).
type keystream struct {
	c   *chacha20.Cipher
	buf [1024]byte
	off int
}

func newKeystream(key *[KeySize]byte) *keystream {
	var nonce [chacha20.NonceSize]byte
	c, err := chacha20.NewUnauthenticatedCipher(key[:], nonce[:])
	if err != nil {
		panic("crypto: chacha20: " + err.Error()) // sizes are fixed by type
	}
	ks := &keystream{c: c}
	ks.off = len(ks.buf)
	return ks
}

func (ks *keystream) next() uint32 {
	if ks.off == len(ks.buf) {
		clear(ks.buf[:])
		ks.c.XORKeyStream(ks.buf[:], ks.buf[:])
		ks.off = 0
	}
	v := binary.LittleEndian.Uint32(ks.buf[ks.off:])
	ks.off += 4
	return v
}

// uniform returns an unbiased value in [0, m) by rejection: draws at or
// above the largest multiple of m below 2^32 are skipped.
func (ks *keystream) uniform(m uint32) uint32 {
	limit := uint64(1<<32) - uint64(1<<32)%uint64(m)
	for {
		v := ks.next()
		if uint64(v) < limit {
			return v % m
		}
	}
}

func (ks *keystream) wipe() { clear(ks.buf[:]) }

// LocalFileKey is L_f, the key a client seals a file's chunks under in its
// own blob file (spec/files.md §3.4): fresh per file, never sent. It must be
// kept secret.
type LocalFileKey [KeySize]byte

// String redacts the key.
func (LocalFileKey) String() string { return "LocalFileKey(redacted)" }

// GoString redacts the key for %#v.
func (k LocalFileKey) GoString() string { return k.String() }

// Wipe zeroes the key (best effort; see package doc).
func (k *LocalFileKey) Wipe() { clear(k[:]) }

// NewLocalFileKey returns a fresh random local file key.
func NewLocalFileKey() (LocalFileKey, error) {
	var k LocalFileKey
	err := RandomBytes(nil, k[:])
	return k, err
}

// SealLocalChunk seals chunk i of n under the local key with associated
// data ad (the blob's owner: chat and message), in the same STREAM layout
// as SealChunk, and appends the FileChunkSize bytes to dst. pt must be
// exactly FileChunkPlain bytes; i ≥ n panics.
func SealLocalChunk(k *LocalFileKey, dst []byte, i, n uint32, pt, ad []byte) []byte {
	checkChunkArgs(i, n, pt)
	nonce := streamNonce(i, n)
	return Seal(dst, (*SymKey)(k), &nonce, pt, ad)
}

// OpenLocalChunk opens a chunk sealed by SealLocalChunk; any failure wraps
// ErrAuth.
func OpenLocalChunk(k *LocalFileKey, dst []byte, i, n uint32, ct, ad []byte) ([]byte, error) {
	return openChunk((*SymKey)(k), dst, i, n, ct, ad)
}
