package ratchet

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestResetVectors replays spec/vectors/session/reset.json
// (spec/session.md §13.6) from its seeds, byte for byte: both kept
// identity keys, the offer and its secret half, every message, the safety
// code before and after, and both final states.
func TestResetVectors(t *testing.T) {
	newReset := func(cfg Config, at int64) (*ResetPrivate, error) { return NewReset(cfg, at, true) }
	replayResetVectors(t, filepath.Join("..", "spec", "vectors", "session", "reset.json"), NewBundle, newReset, sameState)
}

// TestResetVectorsV1 replays the frozen vectors of bundle and offer version
// 0x01 (spec/vectors/session/v1/reset.json): the same bytes as before the
// KEM ratchet existed, and recorded states of state version 0x01 that
// parse to the replayed ones.
func TestResetVectorsV1(t *testing.T) {
	bundle := func(cfg Config) (*BundlePrivate, error) { return newBundleVersion(cfg, bundleVersion1) }
	reset := func(cfg Config, at int64) (*ResetPrivate, error) { return NewReset(cfg, at, false) }
	replayResetVectors(t, filepath.Join("..", "spec", "vectors", "session", "v1", "reset.json"), bundle, reset, sameStateV1)
}

func replayResetVectors(t *testing.T, path string, newBundle func(Config) (*BundlePrivate, error),
	newReset func(Config, int64) (*ResetPrivate, error), sameSt func(*testing.T, *Session, []byte) bool) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		InviterSeed, JoinerSeed string
		ClockUnix               int64  `json:"clock_unix"`
		InviterIdentity         string `json:"inviter_identity_private"`
		JoinerIdentity          string `json:"joiner_identity_private"`
		ResetTime               int64  `json:"reset_time_ms"`
		ResetPrivate            string `json:"reset_private"`
		Offer                   string `json:"offer"`
		Messages                []struct {
			From, Plaintext, Wire string
		} `json:"messages"`
		Before      string                           `json:"safety_code_before"`
		After       string                           `json:"safety_code_after"`
		FinalStates struct{ Joiner, Inviter string } `json:"final_states"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	v.InviterSeed, v.JoinerSeed = jsonField(t, raw, "inviter_seed"), jsonField(t, raw, "joiner_seed")
	clock := time.Unix(v.ClockUnix, 0).UTC()
	cfg := func(seed string) Config {
		var s [32]byte
		copy(s[:], seed)
		return Config{Rand: rand.NewChaCha8(s), Now: func() time.Time { return clock }}
	}
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	same := func(what string, got []byte, want string) {
		t.Helper()
		if !bytes.Equal(got, unhex(want)) {
			t.Fatalf("%s differs from the vectors", what)
		}
	}
	inv, join := cfg(v.InviterSeed), cfg(v.JoinerSeed)
	bp, err := newBundle(inv)
	if err != nil {
		t.Fatal(err)
	}
	joiner, jid, err := InitiateKeep(join, bp.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	same("inviter identity", bp.Identity.Marshal(), v.InviterIdentity)
	same("joiner identity", jid.Marshal(), v.JoinerIdentity)
	m0 := mustEncrypt(t, joiner, v.Messages[0].Plaintext)
	same("message 0", m0, v.Messages[0].Wire)
	inviter, _, err := Respond(inv, bp, m0)
	if err != nil {
		t.Fatal(err)
	}
	if inviter.SafetyCode() != v.Before {
		t.Fatal("safety code before")
	}
	rp, err := newReset(inv, v.ResetTime)
	if err != nil {
		t.Fatal(err)
	}
	same("reset private", rp.Marshal(), v.ResetPrivate)
	offer := rp.Message(&bp.Identity, jid.Public())
	same("offer", offer, v.Offer)
	o, err := ParseReset(unhex(v.Offer), joiner.Remote(), joiner.Local())
	if err != nil {
		t.Fatal(err)
	}
	if joiner, err = AcceptReset(join, jid, joiner.Remote(), o); err != nil {
		t.Fatal(err)
	}
	m1 := mustEncrypt(t, joiner, v.Messages[1].Plaintext)
	same("message 1", m1, v.Messages[1].Wire)
	inviter, pt, err := CompleteReset(inv, &bp.Identity, inviter.Remote(), rp, m1)
	if err != nil || string(pt) != v.Messages[1].Plaintext {
		t.Fatalf("complete reset: %v", err)
	}
	m2 := mustEncrypt(t, inviter, v.Messages[2].Plaintext)
	same("message 2", m2, v.Messages[2].Wire)
	mustDecrypt(t, joiner, m2, v.Messages[2].Plaintext)
	m3 := mustEncrypt(t, joiner, v.Messages[3].Plaintext)
	same("message 3", m3, v.Messages[3].Wire)
	mustDecrypt(t, inviter, m3, v.Messages[3].Plaintext)
	if joiner.SafetyCode() != v.After || v.After != v.Before {
		t.Fatal("safety code after")
	}
	if !sameSt(t, joiner, unhex(v.FinalStates.Joiner)) || !sameSt(t, inviter, unhex(v.FinalStates.Inviter)) {
		t.Fatal("final states differ from the vectors")
	}
	// The recorded offer does not verify for another chat: the same
	// offerer with another peer, or the two keys in each other's roles.
	other, err := NewBundle(cfg("another chat"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]IdentityPublic{
		{bp.Identity.Public(), other.Identity.Public()},
		{other.Identity.Public(), jid.Public()},
		{jid.Public(), bp.Identity.Public()},
	} {
		if _, err := ParseReset(unhex(v.Offer), c[0], c[1]); err == nil {
			t.Fatal("the offer verified for another chat")
		}
	}
}

func jsonField(t *testing.T, raw []byte, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[name].(string)
	return s
}
