package crypto

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestFileVectors replays spec/vectors/files/chunks.json (built by
// internal/gen/filevectors from spec/files.md §3 and §5.1) with this
// file's code, byte for byte.
func TestFileVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "spec", "vectors", "files", "chunks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Secret, Key, Order string
		Delete             string `json:"delete_root"`
		IDRoot             string `json:"id_root"`
		OrderSeed          string `json:"order_seed"`
		Chunks             []struct {
			Index      uint32
			ID         string
			ReadCap    string `json:"read_cap"`
			DeleteCap  string `json:"delete_cap"`
			ReadHash   string `json:"read_hash"`
			DeleteHash string `json:"delete_hash"`
		}
		N      uint32
		Sealed []struct {
			Index  uint32
			Nonce  string
			Head   string `json:"ct_head"`
			Tail   string `json:"ct_tail"`
			SHA256 string `json:"ct_sha256"`
		}
		Order10 []uint32 `json:"order_10"`
		Counts  []struct {
			Size   int64
			Chunks uint32
		} `json:"chunk_counts"`
		Local struct {
			Key, AD  string
			Index, N uint32
			SHA256   string `json:"ct_sha256"`
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatalf("bad hex %q", s)
		}
		return b
	}
	eq := func(what string, got []byte, want string) {
		t.Helper()
		if hex.EncodeToString(got) != want {
			t.Errorf("%s = %x, want %s", what, got, want)
		}
	}
	var s FileSecret
	copy(s[:], unhex(doc.Secret))
	k := NewFileKeys(&s)
	defer k.Wipe()
	eq("K", k.k[:], doc.Key)
	d := k.DeleteRoot()
	eq("D", d[:], doc.Delete)
	nr := k.IDRoot()
	eq("N", nr[:], doc.IDRoot)
	eq("O", k.o[:], doc.OrderSeed)
	if len(doc.Chunks) == 0 || len(doc.Sealed) != 3 || len(doc.Counts) == 0 {
		t.Fatal("vector file is missing entries")
	}
	for _, c := range doc.Chunks {
		id, rc, dc := k.ChunkID(c.Index), k.ReadCap(c.Index), FileDeleteCap(&d, c.Index)
		rh, dh := CapHash(&rc), CapHash(&dc)
		eq("id", id[:], c.ID)
		eq("read cap", rc[:], c.ReadCap)
		eq("delete cap", dc[:], c.DeleteCap)
		eq("read hash", rh[:], c.ReadHash)
		eq("delete hash", dh[:], c.DeleteHash)
	}
	for _, c := range doc.Sealed {
		pt := make([]byte, FileChunkPlain)
		for j := range pt {
			pt[j] = byte(int(c.Index) + j)
		}
		nonce := streamNonce(c.Index, doc.N)
		eq("nonce", nonce[:], c.Nonce)
		ct := k.SealChunk(nil, c.Index, doc.N, pt)
		sum := sha256.Sum256(ct)
		eq("ct head", ct[:32], c.Head)
		eq("ct tail", ct[len(ct)-32:], c.Tail)
		eq("ct sha256", sum[:], c.SHA256)
		if back, err := k.OpenChunk(nil, c.Index, doc.N, ct); err != nil || !slices.Equal(back, pt) {
			t.Errorf("chunk %d does not open", c.Index)
		}
	}
	if got := k.Order(uint32(len(doc.Order10))); !slices.Equal(got, doc.Order10) {
		t.Errorf("Order(10) = %v, want %v", got, doc.Order10)
	}
	for _, c := range doc.Counts {
		if got, err := FileChunks(c.Size); err != nil || got != c.Chunks {
			t.Errorf("FileChunks(%d) = %d, %v; want %d", c.Size, got, err, c.Chunks)
		}
	}
	var lk LocalFileKey
	copy(lk[:], unhex(doc.Local.Key))
	pt := make([]byte, FileChunkPlain)
	for j := range pt {
		pt[j] = byte(int(doc.Local.Index) + j)
	}
	lct := SealLocalChunk(&lk, nil, doc.Local.Index, doc.Local.N, pt, unhex(doc.Local.AD))
	lsum := sha256.Sum256(lct)
	eq("local ct sha256", lsum[:], doc.Local.SHA256)
}
