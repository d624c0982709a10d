package ratchet

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"veil/crypto"
)

// TestSessionVectors replays the committed vectors
// (spec/vectors/session/handshake.json, spec/session.md §11) from their
// seeds: the bundle, its secret half and the joiner's first state come out
// byte for byte; every message encrypts to exactly the recorded bytes and
// decrypts, in the recorded delivery order, to the recorded plaintext; a
// second delivery of each is a duplicate; both sides compute the recorded
// safety code and end in the recorded states.
func TestSessionVectors(t *testing.T) {
	replayHandshakeVectors(t, filepath.Join("..", "spec", "vectors", "session", "handshake.json"), NewBundle, sameState)
}

// TestSessionVectorsV1 replays the frozen vectors of bundle version 0x01
// (spec/vectors/session/v1/handshake.json): a session without the KEM
// ratchet sends exactly the bytes it sent before the ratchet existed, and
// the recorded states, of state version 0x01, parse to the replayed ones.
func TestSessionVectorsV1(t *testing.T) {
	v1 := func(cfg Config) (*BundlePrivate, error) { return newBundleVersion(cfg, bundleVersion1) }
	replayHandshakeVectors(t, filepath.Join("..", "spec", "vectors", "session", "v1", "handshake.json"), v1, sameStateV1)
}

// sameState reports whether s marshals to the recorded state.
func sameState(t *testing.T, s *Session, recorded []byte) bool {
	return bytes.Equal(s.Marshal(), recorded)
}

// sameStateV1 reports whether the recorded state, of state version 0x01,
// parses to a session that marshals as s does.
func sameStateV1(t *testing.T, s *Session, recorded []byte) bool {
	t.Helper()
	if len(recorded) == 0 || recorded[0] != 0x01 {
		t.Fatal("a frozen state is not of state version 0x01")
	}
	old, err := ParseSession(s.cfg, recorded)
	if err != nil {
		t.Fatalf("a frozen state does not parse: %v", err)
	}
	return bytes.Equal(old.Marshal(), s.Marshal())
}

func replayHandshakeVectors(t *testing.T, path string, newBundle func(Config) (*BundlePrivate, error),
	same func(*testing.T, *Session, []byte) bool) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Bundle        string `json:"bundle"`
		BundlePrivate string `json:"bundle_private"`
		JoinerInitial string `json:"joiner_state_after_initiate"`
		Messages      []struct {
			ID        int    `json:"id"`
			From      string `json:"from"`
			Plaintext string `json:"plaintext"`
			Wire      string `json:"wire"`
			Initial   bool   `json:"initial"`
		} `json:"messages"`
		Delivery    []int    `json:"delivery"`
		Events      []string `json:"events"`
		SafetyCode  string   `json:"safety_code"`
		InviterSeed string   `json:"inviter_seed"`
		JoinerSeed  string   `json:"joiner_seed"`
		ClockUnix   int64    `json:"clock_unix"`
		FinalStates struct {
			Joiner  string `json:"joiner"`
			Inviter string `json:"inviter"`
		} `json:"final_states"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	clock := time.Unix(v.ClockUnix, 0)
	cfgFor := func(seed string) Config {
		var b [32]byte
		if copy(b[:], seed) != 32 {
			t.Fatal("seed is not 32 bytes")
		}
		return Config{Rand: rand.NewChaCha8(b), Now: func() time.Time { return clock }}
	}
	invCfg, joinCfg := cfgFor(v.InviterSeed), cfgFor(v.JoinerSeed)
	bp, err := newBundle(invCfg)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(bp.Bundle().Marshal()) != v.Bundle || hex.EncodeToString(bp.Marshal()) != v.BundlePrivate {
		t.Fatal("bundle differs from the vector")
	}
	bundle, err := ParseBundle(unhex(v.Bundle))
	if err != nil {
		t.Fatal(err)
	}
	joiner, err := Initiate(joinCfg, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if !same(t, joiner, unhex(v.JoinerInitial)) {
		t.Fatal("joiner state after Initiate differs from the vector")
	}
	if len(v.Delivery) != len(v.Messages) || len(v.Events) != 2*len(v.Messages) || len(v.Messages) < 6 {
		t.Fatal("vector file incomplete")
	}
	var inviter *Session
	for _, ev := range v.Events {
		var kind string
		var id int
		if _, err := fmt.Sscanf(ev, "%s %d", &kind, &id); err != nil || id < 0 || id >= len(v.Messages) {
			t.Fatalf("bad event %q", ev)
		}
		m := v.Messages[id]
		wire := unhex(m.Wire)
		if kind == "send" {
			from := joiner
			if m.From == "inviter" {
				from = inviter
			}
			got, err := from.Encrypt([]byte(m.Plaintext))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, wire) {
				t.Fatalf("message %d encrypts to other bytes than the vector", id)
			}
			continue
		}
		if !crypto.IsBucket(len(wire)) || IsInitial(wire) != m.Initial {
			t.Fatalf("message %d: size %d or type wrong", id, len(wire))
		}
		var pt []byte
		switch {
		case m.From == "joiner" && inviter == nil:
			inviter, pt, err = Respond(invCfg, bp, wire)
		case m.From == "joiner":
			pt, err = inviter.Decrypt(wire)
		default:
			pt, err = joiner.Decrypt(wire)
		}
		if err != nil {
			t.Fatalf("message %d: %v", id, err)
		}
		if string(pt) != m.Plaintext {
			t.Fatalf("message %d: got %q, want %q", id, pt, m.Plaintext)
		}
		// A second delivery is a duplicate.
		s := inviter
		if m.From == "inviter" {
			s = joiner
		}
		expectFail(t, s, wire, ErrDuplicate)
	}
	if joiner.SafetyCode() != v.SafetyCode || inviter.SafetyCode() != v.SafetyCode {
		t.Fatal("safety code differs from the vector")
	}
	if !same(t, joiner, unhex(v.FinalStates.Joiner)) || !same(t, inviter, unhex(v.FinalStates.Inviter)) {
		t.Fatal("final states differ from the vector")
	}
}
