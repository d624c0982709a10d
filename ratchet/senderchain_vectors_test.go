package ratchet

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"veil/crypto"
)

// TestGroupVectors replays spec/vectors/groups/groups.json
// (spec/groups.md §10) from its seeds: the keys, every message's wire
// bytes, every sealed epoch secret and every final state come out byte for
// byte, and every delivery has the recorded result.
func TestGroupVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "spec", "vectors", "groups", "groups.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		KeySeed     string   `json:"key_seed"`
		MemberSeeds []string `json:"member_seeds"`
		ClockUnix   int64    `json:"clock_unix"`
		GroupID     string   `json:"group_id"`
		Members     []struct {
			SignSeed  string `json:"sign_seed"`
			DHPrivate string `json:"dh_private"`
			KEMSeed   string `json:"kem_seed"`
		} `json:"members"`
		Epochs []struct {
			Epoch    uint64 `json:"epoch"`
			Secret   string `json:"secret"`
			Roster   []int  `json:"roster"`
			WriteCap string `json:"write_cap"`
			ReadCap  string `json:"read_cap"`
			Sealed   string `json:"sealed"`
		} `json:"epochs"`
		Events []struct {
			Op        string `json:"op"`
			Member    int    `json:"member"`
			ID        int    `json:"id"`
			Epoch     uint64 `json:"epoch"`
			Plaintext string `json:"plaintext"`
			Wire      string `json:"wire"`
			Result    string `json:"result"`
		} `json:"events"`
		FinalStates []string `json:"final_states"`
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
	seed := func(s string) [32]byte {
		if len(s) != 32 {
			t.Fatalf("seed %q is not 32 bytes (spec/groups.md §10)", s)
		}
		return [32]byte([]byte(s))
	}
	keys := rand.NewChaCha8(seed(v.KeySeed))
	var id [GroupIDSize]byte
	crypto.RandomBytes(keys, id[:])
	if hex.EncodeToString(id[:]) != v.GroupID {
		t.Fatal("group ID")
	}
	clock := time.Unix(v.ClockUnix, 0)
	n := len(v.Members)
	sign := make([]crypto.SignPrivate, n)
	dh := make([]crypto.DHPrivate, n)
	kem := make([]crypto.KEM768Private, n)
	cfg := make([]Config, n)
	for i, m := range v.Members {
		sign[i], _ = crypto.GenerateSign(keys)
		dh[i], _ = crypto.GenerateDH(keys)
		kem[i], _ = crypto.GenerateKEM768(keys)
		if !bytes.Equal(sign[i].Seed(), unhex(m.SignSeed)) || !bytes.Equal(dh[i].Bytes(), unhex(m.DHPrivate)) ||
			!bytes.Equal(kem[i].Seed(), unhex(m.KEMSeed)) {
			t.Fatalf("member %d's keys", i)
		}
		cfg[i] = Config{Rand: rand.NewChaCha8(seed(v.MemberSeeds[i])), Now: func() time.Time { return clock }}
	}
	state := make([]*GroupEpoch, n)
	var wires [][]byte
	epochs := 0
	for k, ev := range v.Events {
		switch ev.Op {
		case "epoch":
			e := v.Epochs[epochs]
			epochs++
			secret, _ := crypto.NewSymKey(keys)
			if hex.EncodeToString(secret[:]) != e.Secret {
				t.Fatalf("event %d: epoch %d secret", k, e.Epoch)
			}
			pubs := make([]crypto.SignPublic, len(e.Roster))
			dhs := make([]SealRecipient, len(e.Roster))
			for j, m := range e.Roster {
				pubs[j] = sign[m].Public()
				dhs[j] = SealRecipient{DH: dh[m].Public(), KEM: kem[m].Public()}
			}
			ctx := EpochContext(id, e.Epoch)
			var sealed []byte
			if e.Sealed != "" {
				sealed, _ = SealEpochSecret(&secret, ctx, dhs, keys)
				if !bytes.Equal(sealed, unhex(e.Sealed)) {
					t.Fatalf("event %d: sealed epoch %d", k, e.Epoch)
				}
			}
			for j, m := range e.Roster {
				s := secret
				if sealed != nil {
					var err error
					if s, err = OpenEpochSecret(sealed, ctx, j, dh[m], &kem[m]); err != nil || s != secret {
						t.Fatalf("event %d: member %d opens epoch %d: %v", k, m, e.Epoch, err)
					}
				}
				var err error
				if state[m], err = NewGroupEpoch(cfg[m], &s, id, e.Epoch, sign[m], pubs); err != nil {
					t.Fatal(err)
				}
				w, r := state[m].Caps()
				if hex.EncodeToString(w[:]) != e.WriteCap || hex.EncodeToString(r[:]) != e.ReadCap {
					t.Fatalf("event %d: member %d's capabilities", k, m)
				}
			}
		case "send":
			w, err := state[ev.Member].Encrypt([]byte(ev.Plaintext))
			if err != nil || hex.EncodeToString(w) != ev.Wire || ev.ID != len(wires) {
				t.Fatalf("event %d: message %d differs (%v)", k, ev.ID, err)
			}
			wires = append(wires, w)
		case "deliver":
			pt, _, err := state[ev.Member].Decrypt(wires[ev.ID])
			if got := groupResult(err); got != ev.Result || (err == nil && string(pt) != ev.Plaintext) {
				t.Fatalf("event %d: member %d reading %d: %s %q, want %s %q", k, ev.Member, ev.ID, got, pt, ev.Result, ev.Plaintext)
			}
		default:
			t.Fatalf("event %d: unknown op %q", k, ev.Op)
		}
	}
	for i, s := range state {
		if hex.EncodeToString(s.Marshal()) != v.FinalStates[i] {
			t.Fatalf("member %d's final state", i)
		}
	}
}

func groupResult(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrOwnMessage):
		return "own"
	case errors.Is(err, ErrDuplicate):
		return "duplicate"
	case errors.Is(err, ErrAuth):
		return "auth"
	}
	return "error: " + err.Error()
}
