// Package filevectors builds the file-chunk test vectors of spec/files.md
// from a fixed secret: the key schedule (§3.1), the first chunks' IDs and
// capabilities, three sealed chunks including the last (§3.2), the upload
// order of ten chunks (§5.1) and the chunk counts of §3.3. It derives keys
// and seals chunks from the spec's labels and nonce layout with veil/crypto's
// HKDF and AEAD alone, and computes Padmé itself; only the order comes from
// crypto.FileKeys (a keystream is a primitive, chosen in crypto/ only), so
// the vector pins it against change.
//
// The committed file is spec/vectors/files/chunks.json. Rebuild it with
//
//	go test ./internal/gen/filevectors -update
//
// and check it, byte for byte, with the same test without -update.
// crypto's TestFileVectors replays every entry with crypto/file.go.
package filevectors

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/bits"

	"veil/crypto"
)

// File is the committed vector file, relative to the repository root.
const File = "spec/vectors/files/chunks.json"

// Sizes of spec/files.md §3.3.
const (
	chunkPlain = 15984
	maxSize    = 2_000_000_000
)

// Doc is the JSON document of File.
type Doc struct {
	Comment string  `json:"comment"`
	Secret  string  `json:"secret"`
	Key     string  `json:"key"`         // K
	Delete  string  `json:"delete_root"` // D
	Order   string  `json:"order_seed"`  // O
	IDRoot  string  `json:"id_root"`     // N
	Chunks  []Chunk `json:"chunks"`
	// N is the chunk count the sealed chunks belong to.
	N uint32 `json:"n"`
	// Sealed are chunks 0, 1 and N−1 of a file of N chunks whose chunk i
	// is FileChunkPlain bytes of (i + j) mod 256 at offset j.
	Sealed  []Sealed  `json:"sealed"`
	Order10 []uint32  `json:"order_10"`
	Counts  []Count   `json:"chunk_counts"`
	Local   LocalSeal `json:"local"`
}

// Chunk is one chunk's relay names.
type Chunk struct {
	Index      uint32 `json:"index"`
	ID         string `json:"id"`
	ReadCap    string `json:"read_cap"`
	DeleteCap  string `json:"delete_cap"`
	ReadHash   string `json:"read_hash"`
	DeleteHash string `json:"delete_hash"`
}

// Sealed is one chunk sealed for the relay: its nonce and the SHA-256 of
// the 16,000 ciphertext bytes, plus the first and last 32 bytes.
type Sealed struct {
	Index  uint32 `json:"index"`
	Nonce  string `json:"nonce"`
	Head   string `json:"ct_head"`
	Tail   string `json:"ct_tail"`
	SHA256 string `json:"ct_sha256"`
}

// LocalSeal is one chunk sealed under a local key with associated data.
type LocalSeal struct {
	Key    string `json:"key"`
	AD     string `json:"ad"`
	Index  uint32 `json:"index"`
	N      uint32 `json:"n"`
	SHA256 string `json:"ct_sha256"`
}

// Count is one row of the chunk-count table.
type Count struct {
	Size   int64  `json:"size"`
	Chunks uint32 `json:"chunks"`
}

func fill(n int, b byte) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b + byte(i)
	}
	return out
}

func be32(i uint32) string { return string(binary.BigEndian.AppendUint32(nil, i)) }

func kdf(secret []byte, info string) []byte {
	out := make([]byte, 32)
	crypto.HKDF(out, secret, nil, info)
	return out
}

func nonce(i, n uint32) [crypto.NonceSize]byte {
	var nc [crypto.NonceSize]byte
	binary.BigEndian.PutUint64(nc[3:11], uint64(i))
	if i == n-1 {
		nc[11] = 1
	}
	return nc
}

func plain(i uint32) []byte {
	pt := make([]byte, chunkPlain)
	for j := range pt {
		pt[j] = byte(int(i) + j)
	}
	return pt
}

// padme is spec/files.md §3.3's rounding.
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

func count(size int64) uint32 {
	n := max(1, (size+chunkPlain-1)/chunkPlain)
	return uint32(padme(uint64(n)))
}

// Generate returns the vector file's bytes.
func Generate() ([]byte, error) {
	h := hex.EncodeToString
	s := fill(32, 0x20)
	k, d, o := kdf(s, "veil-file/v1/key"), kdf(s, "veil-file/v1/delete"), kdf(s, "veil-file/v1/order")
	n := kdf(s, "veil-file/v1/ids")
	doc := Doc{
		Comment: "veil file chunks, spec/files.md §3 and §5.1; built by internal/gen/filevectors from the labels and nonce layout; bytes in hex",
		Secret:  h(s), Key: h(k), Delete: h(d), Order: h(o), IDRoot: h(n), N: 5,
	}
	for _, i := range []uint32{0, 1, 2, 65535} {
		id := kdf(n, "veil-file/v1/id"+be32(i))[:crypto.IDSize]
		rc, dc := kdf(s, "veil-file/v1/read"+be32(i)), kdf(d, "veil-file/v1/del"+be32(i))
		rh, dh := sha256.Sum256(rc), sha256.Sum256(dc)
		doc.Chunks = append(doc.Chunks, Chunk{Index: i, ID: h(id), ReadCap: h(rc), DeleteCap: h(dc), ReadHash: h(rh[:]), DeleteHash: h(dh[:])})
	}
	var key crypto.SymKey
	copy(key[:], k)
	for _, i := range []uint32{0, 1, doc.N - 1} {
		nc := nonce(i, doc.N)
		ct := crypto.Seal(nil, &key, &nc, plain(i), nil)
		sum := sha256.Sum256(ct)
		doc.Sealed = append(doc.Sealed, Sealed{Index: i, Nonce: h(nc[:]), Head: h(ct[:32]), Tail: h(ct[len(ct)-32:]), SHA256: h(sum[:])})
	}
	var fs crypto.FileSecret
	copy(fs[:], s)
	fk := crypto.NewFileKeys(&fs)
	doc.Order10 = fk.Order(10)
	fk.Wipe()
	for _, size := range []int64{0, 1, chunkPlain, chunkPlain + 1, 8 * chunkPlain, 8*chunkPlain + 1, 1_000_000, 100_000_000, maxSize} {
		doc.Counts = append(doc.Counts, Count{Size: size, Chunks: count(size)})
	}
	var lk crypto.SymKey
	copy(lk[:], fill(32, 0x70))
	ad := []byte("veil/vault/file/v1 example")
	nc := nonce(2, 3)
	lct := crypto.Seal(nil, &lk, &nc, plain(2), ad)
	lsum := sha256.Sum256(lct)
	doc.Local = LocalSeal{Key: h(lk[:]), AD: h(ad), Index: 2, N: 3, SHA256: h(lsum[:])}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
