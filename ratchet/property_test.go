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
	bp, start := scheduleStart(t, 1<<40, bundleVersionPQ)
	for run := range runs {
		if err := runSchedule(uint64(run), steps, bp, start); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
}

// scheduleStart makes a bundle of the given version from seed and the
// serialised state of alice right after Initiate on it, which every run
// of a schedule restores.
func scheduleStart(t *testing.T, seed uint64, version byte) (*BundlePrivate, []byte) {
	t.Helper()
	cfg, _ := seeded(seed)
	bp, err := newBundleVersion(cfg, version)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := Initiate(cfg, bp.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	return bp, alice.Marshal()
}

// runSchedule is one random schedule of steps operations, then delivery
// of everything still in flight, checked against the model.
func runSchedule(seed uint64, steps int, bp *BundlePrivate, start []byte) error {
	sc := newSchedule(seed, 0x7665696c, bp)
	if err := sc.begin(start); err != nil {
		return err
	}
	sc.text = func(head string) string {
		n := sc.rng.IntN(40)
		if sc.rng.IntN(20) == 0 {
			n = 1000 + sc.rng.IntN(4000) // sometimes a bigger bucket
		}
		return head + string(bytes.Repeat([]byte{'.'}, n))
	}
	if err := sc.random(steps); err != nil {
		return err
	}
	if err := sc.drain(steps); err != nil {
		return err
	}
	if sc.bob != nil && sc.alice.SafetyCode() != sc.bob.SafetyCode() {
		return sc.fail("safety codes differ")
	}
	return nil
}

// schedule is a conversation between alice and bob over a network that
// loses, reorders, duplicates and tampers with messages, while the
// sessions are saved and restored. It checks every outcome against the
// model of TestPropertyInterleavings; a variant adds its own checks through
// the hooks, of which only text is required.
type schedule struct {
	rng        *rand.Rand
	cfgA, cfgB Config
	bp         *BundlePrivate
	alice, bob *Session  // bob is nil until the initial message arrives
	ab, ba     direction // alice→bob, bob→alice
	nextID     int
	trace      []string

	// text makes the plaintext of a random send from its head, which
	// names the sender and the message.
	text func(head string) string
	// size is the exact length a message carrying pt from from must have;
	// nil accepts any bucket.
	size func(from *Session, pt string) int
	// sent runs after from encrypted message id under its ratchet key key.
	sent func(from *Session, id int, key crypto.DHPublic)
	// receiving runs before side (0 alice, 1 bob) decrypts a delivered
	// message, received after it decrypted f correctly.
	receiving func(side int)
	received  func(side int, f inflight) error
	// odds: of a random operation drawn in [0, 100), one that is no send
	// or delivery loses a message below odds.lose, replays one below
	// odds.replay, tampers with one below odds.tamper, runs extra (when
	// set) below odds.extra, and saves and restores both sessions above.
	odds  struct{ lose, replay, tamper, extra int }
	extra func() error
	// after runs after every operation with its step; the final
	// deliveries pass drain's step.
	after func(step int) error
}

// newSchedule returns a schedule whose randomness derives from seed and
// stream; begin starts it.
func newSchedule(seed, stream uint64, bp *BundlePrivate) *schedule {
	sc := &schedule{rng: rand.New(rand.NewPCG(seed, stream)), bp: bp}
	sc.cfgA, _ = seeded(seed*2 + 1)
	sc.cfgB, _ = seeded(seed*2 + 2)
	sc.odds.lose, sc.odds.replay, sc.odds.tamper, sc.odds.extra = 90, 95, 98, 98
	return sc
}

// begin restores alice from start, a session that has not sent yet.
func (sc *schedule) begin(start []byte) error {
	var err error
	sc.alice, err = ParseSession(sc.cfgA, start)
	return err
}

// fail is an error with the trace of the schedule so far.
func (sc *schedule) fail(format string, args ...any) error {
	return fmt.Errorf("%s\ntrace: %v", fmt.Sprintf(format, args...), sc.trace)
}

// send encrypts the plaintext text makes from the head and puts it in
// flight on d.
func (sc *schedule) send(from *Session, d *direction, name string, text func(head string) string) error {
	pt := text(fmt.Sprintf("%s#%d:", name, sc.nextID))
	key := from.dhsPub
	m, err := from.Encrypt([]byte(pt))
	if err != nil {
		return sc.fail("%s encrypt: %v", name, err)
	}
	if sc.sent != nil {
		sc.sent(from, sc.nextID, key)
	}
	if sc.size != nil {
		if want := sc.size(from, pt); len(m) != want {
			return sc.fail("%s sent %d bytes for %d, want %d", name, len(m), len(pt), want)
		}
	} else if !crypto.IsBucket(len(m)) {
		return sc.fail("%s sent %d bytes, not a bucket", name, len(m))
	}
	d.pending = append(d.pending, inflight{msg: m, pt: pt, id: sc.nextID})
	sc.trace = append(sc.trace, fmt.Sprintf("%s>%d", name, sc.nextID))
	sc.nextID++
	return nil
}

// deliver decrypts pending message i at the receiver; to is nil for bob
// before the handshake completes.
func (sc *schedule) deliver(to **Session, d *direction, i int, name string) error {
	f := d.pending[i]
	d.pending = append(d.pending[:i], d.pending[i+1:]...)
	sc.trace = append(sc.trace, fmt.Sprintf("%s<%d", name, f.id))
	side := 0
	if to == &sc.bob {
		side = 1
	}
	if sc.receiving != nil {
		sc.receiving(side)
	}
	var pt []byte
	var err error
	if *to == nil {
		if !IsInitial(f.msg) {
			return sc.fail("bob has no session and message %d is not initial", f.id)
		}
		*to, pt, err = Respond(sc.cfgB, sc.bp, f.msg)
	} else {
		pt, err = (*to).Decrypt(f.msg)
	}
	if err != nil {
		return sc.fail("%s decrypt %d: %v", name, f.id, err)
	}
	if string(pt) != f.pt {
		return sc.fail("%s decrypt %d: wrong plaintext", name, f.id)
	}
	d.delivered = append(d.delivered, f)
	if sc.received != nil {
		return sc.received(side, f)
	}
	return nil
}

// failing checks that s refuses m with target and keeps its state.
func (sc *schedule) failing(s *Session, m []byte, target error, what string) error {
	before := s.Marshal()
	pt, err := s.Decrypt(m)
	if !errors.Is(err, target) || pt != nil {
		return sc.fail("%s: got (%q, %v), want %v", what, pt, err, target)
	}
	if !bytes.Equal(before, s.Marshal()) {
		return sc.fail("%s: failed decrypt changed the state", what)
	}
	return nil
}

// random runs steps random operations.
func (sc *schedule) random(steps int) error {
	rng := sc.rng
	for step := range steps {
		var err error
		switch op := rng.IntN(100); {
		case op < 25: // alice sends
			err = sc.send(sc.alice, &sc.ab, "a", sc.text)
		case op < 45 && sc.bob != nil: // bob sends
			err = sc.send(sc.bob, &sc.ba, "b", sc.text)
		case op < 65 && len(sc.ab.pending) > 0: // deliver to bob, any order
			err = sc.deliver(&sc.bob, &sc.ab, rng.IntN(len(sc.ab.pending)), "b")
		case op < 85 && len(sc.ba.pending) > 0: // deliver to alice
			err = sc.deliver(&sc.alice, &sc.ba, rng.IntN(len(sc.ba.pending)), "a")
		case op < sc.odds.lose: // lose a message
			d := &sc.ab
			if rng.IntN(2) == 0 {
				d = &sc.ba
			}
			if len(d.pending) > 0 {
				i := rng.IntN(len(d.pending))
				sc.trace = append(sc.trace, fmt.Sprintf("lost%d", d.pending[i].id))
				d.pending = append(d.pending[:i], d.pending[i+1:]...)
			}
		case op < sc.odds.replay: // replay one of the last three delivered messages
			s, d := sc.bob, &sc.ab
			if rng.IntN(2) == 0 {
				s, d = sc.alice, &sc.ba
			}
			if s != nil && len(d.delivered) > 0 {
				k := min(3, len(d.delivered))
				f := d.delivered[len(d.delivered)-1-rng.IntN(k)]
				sc.trace = append(sc.trace, fmt.Sprintf("replay%d", f.id))
				err = sc.failing(s, f.msg, ErrDuplicate, fmt.Sprintf("replay of %d", f.id))
			}
		case op < sc.odds.tamper: // tamper with a pending message, then deliver it intact later
			s, d := sc.bob, &sc.ab
			if rng.IntN(2) == 0 {
				s, d = sc.alice, &sc.ba
			}
			if s != nil && len(d.pending) > 0 {
				f := d.pending[rng.IntN(len(d.pending))]
				c := bytes.Clone(f.msg)
				c[rng.IntN(len(c))] ^= byte(1 + rng.IntN(255))
				sc.trace = append(sc.trace, fmt.Sprintf("tamper%d", f.id))
				err = sc.failing(s, c, tamperErr(s, c), fmt.Sprintf("tampered %d", f.id))
			}
		case op < sc.odds.extra && sc.extra != nil:
			err = sc.extra()
		default: // save and restore both sessions, as the vault does
			sc.trace = append(sc.trace, "restore")
			if sc.alice, err = ParseSession(sc.cfgA, sc.alice.Marshal()); err != nil {
				return sc.fail("restore alice: %v", err)
			}
			if sc.bob != nil {
				if sc.bob, err = ParseSession(sc.cfgB, sc.bob.Marshal()); err != nil {
					return sc.fail("restore bob: %v", err)
				}
			}
		}
		if err != nil {
			return err
		}
		if sc.after != nil {
			if err := sc.after(step); err != nil {
				return err
			}
		}
	}
	return nil
}

// drain delivers everything still in flight, in random order; after is
// told step.
func (sc *schedule) drain(step int) error {
	for len(sc.ab.pending) > 0 || len(sc.ba.pending) > 0 {
		if len(sc.ab.pending) > 0 {
			if err := sc.deliver(&sc.bob, &sc.ab, sc.rng.IntN(len(sc.ab.pending)), "b"); err != nil {
				return err
			}
		}
		if len(sc.ba.pending) > 0 {
			if err := sc.deliver(&sc.alice, &sc.ba, sc.rng.IntN(len(sc.ba.pending)), "a"); err != nil {
				return err
			}
		}
		if sc.after != nil {
			if err := sc.after(step); err != nil {
				return err
			}
		}
	}
	return nil
}
