package ratchet

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"veil/crypto"
)

// inflight is a message on its way from one side to the other.
type inflight struct {
	msg []byte
	pt  string
	id  int
}

// direction is one way of the conversation: messages sent but not yet
// delivered, and those delivered (kept for replays).
type direction struct {
	pending   []inflight
	delivered []inflight // most recent last
}

// TestPropertyInterleavings runs thousands of random schedules of sends,
// deliveries, losses, reorders, duplicates, tampering and save/restore in
// both directions, and checks every outcome against a model: an
// undelivered message decrypts to what was sent, a recent replay is
// ErrDuplicate, a tampered message is ErrAuth, and no failure changes the
// state.
func TestPropertyInterleavings(t *testing.T) {
	runs, steps := 2000, 50
	if testing.Short() {
		runs = 200
	}
	// One handshake start serves every run (each run restores it with its
	// own randomness, so keys diverge from the first message on).
	cfg, _ := seeded(1 << 40)
	bp, err := NewBundle(cfg)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := Initiate(cfg, bp.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	start := alice.Marshal()
	for run := range runs {
		if err := runSchedule(uint64(run), steps, bp, start); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
}

func runSchedule(seed uint64, steps int, bp *BundlePrivate, start []byte) error {
	rng := rand.New(rand.NewPCG(seed, 0x7665696c))
	cfgA, _ := seeded(seed*2 + 1)
	cfgB, _ := seeded(seed*2 + 2)
	alice, err := ParseSession(cfgA, start)
	if err != nil {
		return err
	}
	var bob *Session
	var ab, ba direction // alice→bob, bob→alice
	nextID := 0
	var trace []string
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s\ntrace: %v", fmt.Sprintf(format, args...), trace)
	}

	send := func(from *Session, d *direction, name string) error {
		n := rng.IntN(40)
		if rng.IntN(20) == 0 {
			n = 1000 + rng.IntN(4000) // sometimes a bigger bucket
		}
		pt := fmt.Sprintf("%s#%d:", name, nextID) + string(bytes.Repeat([]byte{'.'}, n))
		m, err := from.Encrypt([]byte(pt))
		if err != nil {
			return fail("%s encrypt: %v", name, err)
		}
		if !crypto.IsBucket(len(m)) {
			return fail("%s sent %d bytes, not a bucket", name, len(m))
		}
		d.pending = append(d.pending, inflight{msg: m, pt: pt, id: nextID})
		trace = append(trace, fmt.Sprintf("%s>%d", name, nextID))
		nextID++
		return nil
	}

	// deliver decrypts pending message i at the receiver; to is nil for
	// bob before the handshake completes.
	deliver := func(to **Session, d *direction, i int, name string) error {
		f := d.pending[i]
		d.pending = append(d.pending[:i], d.pending[i+1:]...)
		trace = append(trace, fmt.Sprintf("%s<%d", name, f.id))
		var pt []byte
		var err error
		if *to == nil {
			if !IsInitial(f.msg) {
				return fail("bob has no session and message %d is not initial", f.id)
			}
			*to, pt, err = Respond(cfgB, bp, f.msg)
		} else {
			pt, err = (*to).Decrypt(f.msg)
		}
		if err != nil {
			return fail("%s decrypt %d: %v", name, f.id, err)
		}
		if string(pt) != f.pt {
			return fail("%s decrypt %d: wrong plaintext", name, f.id)
		}
		d.delivered = append(d.delivered, f)
		return nil
	}

	failing := func(s *Session, m []byte, target error, what string) error {
		before := s.Marshal()
		pt, err := s.Decrypt(m)
		if !errors.Is(err, target) || pt != nil {
			return fail("%s: got (%q, %v), want %v", what, pt, err, target)
		}
		if !bytes.Equal(before, s.Marshal()) {
			return fail("%s: failed decrypt changed the state", what)
		}
		return nil
	}

	for range steps {
		switch op := rng.IntN(100); {
		case op < 25: // alice sends
			if err := send(alice, &ab, "a"); err != nil {
				return err
			}
		case op < 45 && bob != nil: // bob sends
			if err := send(bob, &ba, "b"); err != nil {
				return err
			}
		case op < 65 && len(ab.pending) > 0: // deliver to bob, any order
			if err := deliver(&bob, &ab, rng.IntN(len(ab.pending)), "b"); err != nil {
				return err
			}
		case op < 85 && len(ba.pending) > 0: // deliver to alice
			if err := deliver(&alice, &ba, rng.IntN(len(ba.pending)), "a"); err != nil {
				return err
			}
		case op < 90: // lose a message
			d := &ab
			if rng.IntN(2) == 0 {
				d = &ba
			}
			if len(d.pending) > 0 {
				i := rng.IntN(len(d.pending))
				trace = append(trace, fmt.Sprintf("lost%d", d.pending[i].id))
				d.pending = append(d.pending[:i], d.pending[i+1:]...)
			}
		case op < 95: // replay one of the last three delivered messages
			s, d := bob, &ab
			if rng.IntN(2) == 0 {
				s, d = alice, &ba
			}
			if s != nil && len(d.delivered) > 0 {
				k := min(3, len(d.delivered))
				f := d.delivered[len(d.delivered)-1-rng.IntN(k)]
				trace = append(trace, fmt.Sprintf("replay%d", f.id))
				if err := failing(s, f.msg, ErrDuplicate, fmt.Sprintf("replay of %d", f.id)); err != nil {
					return err
				}
			}
		case op < 98: // tamper with a pending message, then deliver it intact later
			s, d := bob, &ab
			if rng.IntN(2) == 0 {
				s, d = alice, &ba
			}
			if s != nil && len(d.pending) > 0 {
				f := d.pending[rng.IntN(len(d.pending))]
				c := bytes.Clone(f.msg)
				c[rng.IntN(len(c))] ^= byte(1 + rng.IntN(255))
				if err := failing(s, c, tamperErr(s, c), fmt.Sprintf("tampered %d", f.id)); err != nil {
					return err
				}
			}
		default: // save and restore both sessions, as the vault does
			var err error
			if alice, err = ParseSession(cfgA, alice.Marshal()); err != nil {
				return fail("restore alice: %v", err)
			}
			if bob != nil {
				if bob, err = ParseSession(cfgB, bob.Marshal()); err != nil {
					return fail("restore bob: %v", err)
				}
			}
		}
	}
	// Finally everything still in flight arrives, in random order.
	for len(ab.pending) > 0 || len(ba.pending) > 0 {
		if len(ab.pending) > 0 {
			if err := deliver(&bob, &ab, rng.IntN(len(ab.pending)), "b"); err != nil {
				return err
			}
		}
		if len(ba.pending) > 0 {
			if err := deliver(&alice, &ba, rng.IntN(len(ba.pending)), "a"); err != nil {
				return err
			}
		}
	}
	if bob != nil && alice.SafetyCode() != bob.SafetyCode() {
		return fail("safety codes differ")
	}
	return nil
}
