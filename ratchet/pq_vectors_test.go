package ratchet

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPQVectors replays spec/vectors/session/pq.json (spec/session.md §14)
// from its seeds, byte for byte: the bundle, its secret half and the
// joiner's first state; every message encrypts to the recorded bytes and
// decrypts to the recorded plaintext; a duplicate fails and changes
// nothing; after every event the acting side's KEM ratchet is as recorded;
// both sides end in the recorded states.
func TestPQVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "spec", "vectors", "session", "pq.json"))
	if err != nil {
		t.Fatal(err)
	}
	type note struct {
		Phase  string `json:"phase"`
		Epoch  uint32 `json:"epoch"`
		Epochs uint32 `json:"epochs"`
	}
	var v struct {
		InviterSeed   string `json:"inviter_seed"`
		JoinerSeed    string `json:"joiner_seed"`
		ClockUnix     int64  `json:"clock_unix"`
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
		Events []struct {
			Event  string `json:"event"`
			Side   string `json:"side"`
			PQ     note   `json:"pq"`
			Change string `json:"change"`
		} `json:"events"`
		SafetyCode string `json:"safety_code"`
		FinalPQ    struct {
			Joiner  note `json:"joiner"`
			Inviter note `json:"inviter"`
		} `json:"final_pq"`
		FinalStates struct {
			Joiner  string `json:"joiner"`
			Inviter string `json:"inviter"`
		} `json:"final_states"`
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
	clock := time.Unix(v.ClockUnix, 0)
	cfgFor := func(seed string) Config {
		var b [32]byte
		if copy(b[:], seed) != 32 || len(seed) != 32 {
			t.Fatal("seed is not 32 bytes")
		}
		return Config{Rand: rand.NewChaCha8(b), Now: func() time.Time { return clock }}
	}
	invCfg, joinCfg := cfgFor(v.InviterSeed), cfgFor(v.JoinerSeed)
	bp, err := NewBundle(invCfg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bp.Bundle().Marshal(), unhex(v.Bundle)) || !bytes.Equal(bp.Marshal(), unhex(v.BundlePrivate)) {
		t.Fatal("bundle differs from the vectors")
	}
	bundle, err := ParseBundle(unhex(v.Bundle))
	if err != nil || !bundle.PQ() {
		t.Fatalf("the vectors' bundle is not of version 0x02: %v", err)
	}
	joiner, err := Initiate(joinCfg, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(joiner.Marshal(), unhex(v.JoinerInitial)) {
		t.Fatal("joiner state after Initiate differs from the vectors")
	}
	if len(v.Messages) < 20 || len(v.Events) < 2*len(v.Messages) {
		t.Fatal("vector file incomplete")
	}
	var inviter *Session
	side := func(name string) *Session {
		if name == "joiner" {
			return joiner
		}
		return inviter
	}
	status := func(s *Session) note {
		st := s.PQ()
		n := note{Phase: st.Phase, Epochs: st.Epochs}
		if st.On {
			n.Epoch = st.Epochs + 1
		}
		return n
	}
	sent := 0
	// The cursor of each message's sender before and after it, to show
	// that the dropped ct chunks of epoch 1 were replaced by parity.
	cursors := map[int][2]byte{}
	parityRecovery := false
	for i, ev := range v.Events {
		var op string
		var id int
		if _, err := fmt.Sscanf(ev.Event, "%s %d", &op, &id); err != nil || id < 0 || id >= len(v.Messages) {
			t.Fatalf("bad event %q", ev.Event)
		}
		m := v.Messages[id]
		wire := unhex(m.Wire)
		switch op {
		case "send":
			if id != sent || ev.Side != m.From {
				t.Fatalf("event %d: message %d sent out of order", i, id)
			}
			sent++
			c0 := side(m.From).pq.cursor
			got, err := side(m.From).Encrypt([]byte(m.Plaintext))
			cursors[id] = [2]byte{c0, side(m.From).pq.cursor}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, wire) || IsInitial(got) != m.Initial {
				t.Fatalf("message %d encrypts to other bytes than the vectors", id)
			}
		case "deliver":
			if strings.HasPrefix(ev.Change, "ct of epoch 1 complete") {
				// The receiver lacks a data chunk, and this message
				// carries parity chunks only: the ct is rebuilt from parity.
				s := side(ev.Side)
				got := s.pq.dec.got
				missing := len(got) == 0 || got[0].x > 0 // data chunk 0 is not held
				c := cursors[id]
				parityRecovery = missing && c[0] >= pqCTBlocks && c[1] > c[0]
			}
			var pt []byte
			if inviter == nil {
				inviter, pt, err = Respond(invCfg, bp, wire)
			} else {
				pt, err = side(ev.Side).Decrypt(wire)
			}
			if err != nil || string(pt) != m.Plaintext {
				t.Fatalf("message %d: %v", id, err)
			}
		case "duplicate":
			s := side(ev.Side)
			before := s.Marshal()
			expectFail(t, s, wire, ErrDuplicate)
			if !bytes.Equal(before, s.Marshal()) {
				t.Fatalf("a duplicate of message %d changed the state", id)
			}
		case "drop":
		default:
			t.Fatalf("unknown event %q", ev.Event)
		}
		if ev.Side == m.From && op != "send" {
			t.Fatalf("event %d: %q acted by the sender", i, ev.Event)
		}
		if s := side(ev.Side); s != nil && status(s) != ev.PQ {
			t.Fatalf("event %d (%s): %s's KEM ratchet is %+v, want %+v", i, ev.Event, ev.Side, status(s), ev.PQ)
		}
	}
	if !parityRecovery {
		t.Fatal("the vectors do not rebuild the ct of epoch 1 from parity chunks")
	}
	if status(joiner) != v.FinalPQ.Joiner || status(inviter) != v.FinalPQ.Inviter {
		t.Fatal("final KEM ratchet status differs from the vectors")
	}
	if joiner.SafetyCode() != v.SafetyCode || inviter.SafetyCode() != v.SafetyCode {
		t.Fatal("safety code differs from the vectors")
	}
	if !bytes.Equal(joiner.Marshal(), unhex(v.FinalStates.Joiner)) || !bytes.Equal(inviter.Marshal(), unhex(v.FinalStates.Inviter)) {
		t.Fatal("final states differ from the vectors")
	}
}
