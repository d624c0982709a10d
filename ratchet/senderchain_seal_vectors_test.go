package ratchet

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"veil/crypto"
)

// TestHybridSealVectors replays the hybrid seal of
// spec/vectors/groups/encodings.json (spec/groups.md §5.3, §10) from its
// seed: the sealed list comes out byte for byte and every member opens it.
func TestHybridSealVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "spec", "vectors", "groups", "encodings.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		GroupID string `json:"group_id"`
		Members []struct {
			DHPrivate string `json:"dh_private"`
			KEMSeed   string `json:"kem_seed"`
		} `json:"members"`
		SealSeed string `json:"seal_seed"`
		Seal     struct {
			Epoch  uint64 `json:"epoch"`
			Secret string `json:"secret"`
			Sealed string `json:"sealed"`
		} `json:"seal"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	unhex := func(s string) []byte {
		t.Helper()
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var id [GroupIDSize]byte
	copy(id[:], unhex(v.GroupID))
	ctx := EpochContext(id, v.Seal.Epoch)
	keys := make([]testSealKey, len(v.Members))
	rcpt := make([]SealRecipient, len(v.Members))
	for i, m := range v.Members {
		d, err1 := crypto.ParseDHPrivate(unhex(m.DHPrivate))
		q, err2 := crypto.ParseKEM768Private(unhex(m.KEMSeed))
		if err1 != nil || err2 != nil {
			t.Fatal("bad keys in the vectors")
		}
		keys[i] = testSealKey{d, q}
		rcpt[i] = keys[i].recipient()
	}
	if len(v.SealSeed) != 32 {
		t.Fatal("seal seed is not 32 bytes")
	}
	r := rand.NewChaCha8([32]byte([]byte(v.SealSeed)))
	secret, _ := crypto.NewSymKey(r)
	if hex.EncodeToString(secret[:]) != v.Seal.Secret {
		t.Fatal("secret")
	}
	sealed, err := SealEpochSecret(&secret, ctx, rcpt, r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sealed, unhex(v.Seal.Sealed)) || len(sealed) != SealedEpochSize(len(rcpt)) {
		t.Fatal("sealed list differs")
	}
	for i := range keys {
		if s, err := keys[i].open(sealed, ctx, i); err != nil || s != secret {
			t.Fatalf("member %d: %v", i, err)
		}
	}
}
