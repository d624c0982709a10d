package ratchet

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// randomSchedule drives a joiner a and an inviter b through a random schedule
// with losses, reorders, duplicates and a save/restore of both sides after
// every operation, checks that every failed decrypt leaves the state
// byte-identical, then settles over a reliable network and requires two
// more completed epochs on each side. sat shifts both epoch counters next
// to 2^32 − 1 first; legacy starts off and turns the sides on at random.
func randomSchedule(t *testing.T, seed uint64, steps int, sat, legacy bool) error {
	version := 2
	if legacy {
		version = 1
	}
	a, b := pqPairVersion(t, seed, version)
	rng := rand.New(rand.NewPCG(seed, 0x7276))
	if sat {
		c := &pqConv{t: t, a: a, b: b}
		for i := range 6 {
			c.step(balanced, i, textEnvelope+100)
		}
		shift := uint32(math.MaxUint32-3) - max(a.s.pq.epoch, b.s.pq.epoch)
		shift &^= 1
		a.s.pq.epoch += shift
		b.s.pq.epoch += shift
		a.s.pq.done += shift
		b.s.pq.done += shift
	}
	sides := [2]*pqSide{a, b}
	var queue [2][][]byte // queue[i]: messages in flight to side i
	var delivered [][]byte
	enabled := [2]bool{!legacy, !legacy}
	trace := []string{}
	fail := func(f string, args ...any) error {
		return fmt.Errorf("seed %d: %s; trace %v", seed, fmt.Sprintf(f, args...), trace)
	}
	reload := func() error {
		for i, p := range sides {
			s, err := ParseSession(p.cfg, p.s.Marshal())
			if err != nil {
				return fail("restore of side %d in %s epoch %d: %v", i, p.s.pq.phase, p.s.pq.epoch, err)
			}
			p.s = s
		}
		return nil
	}
	deliver := func(to int, m []byte) error {
		s := sides[to].s
		before := s.Marshal()
		_, err := s.Decrypt(m)
		if err != nil {
			if !bytes.Equal(before, s.Marshal()) {
				return fail("failed decrypt (%v) changed side %d", err, to)
			}
			if !errors.Is(err, ErrDuplicate) && !errors.Is(err, ErrTooFarAhead) {
				return fail("decrypt at side %d: %v", to, err)
			}
		}
		return nil
	}
	for step := range steps {
		op := rng.IntN(100)
		from := rng.IntN(2)
		switch {
		case op < 45:
			n := textEnvelope + rng.IntN(900)
			if rng.IntN(scheduleBig) == 0 {
				n = 2000 + rng.IntN(1200)
			}
			m, err := sides[from].s.Encrypt(textOf(step, n))
			if err != nil {
				return fail("encrypt: %v", err)
			}
			queue[1-from] = append(queue[1-from], m)
			trace = append(trace, fmt.Sprintf("s%d", from))
		case op < 85:
			q := &queue[from]
			if len(*q) == 0 {
				continue
			}
			i := rng.IntN(len(*q))
			if rng.IntN(3) != 0 {
				i = 0
			}
			m := (*q)[i]
			*q = append((*q)[:i], (*q)[i+1:]...)
			trace = append(trace, fmt.Sprintf("d%d", from))
			if err := deliver(from, m); err != nil {
				return err
			}
			delivered = append(delivered, m)
		case op < 90:
			if len(queue[from]) > 0 {
				queue[from] = queue[from][1:]
				trace = append(trace, "lose")
			}
		case op < 95:
			if len(delivered) > 0 {
				m := delivered[rng.IntN(len(delivered))]
				_ = deliver(0, m)
				_ = deliver(1, m)
				trace = append(trace, "dup")
			}
		default:
			if !enabled[from] {
				enabled[from] = true
				trace = append(trace, fmt.Sprintf("on%d", from))
				if err := sides[from].s.EnablePQ(); err != nil {
					return fail("EnablePQ: %v", err)
				}
			}
		}
		if err := reload(); err != nil {
			return err
		}
	}
	// Settle: everything in flight, in order, then reliable alternation.
	for i := range 2 {
		for _, m := range queue[i] {
			if err := deliver(i, m); err != nil {
				return err
			}
		}
		if !enabled[i] {
			if err := sides[i].s.EnablePQ(); err != nil {
				return fail("EnablePQ: %v", err)
			}
		}
	}
	if err := reload(); err != nil {
		return err
	}
	ea, eb := a.s.pq.done, b.s.pq.done
	for n := 0; n < 120; n++ {
		from := n % 2
		m, err := sides[from].s.Encrypt(textOf(n, textEnvelope+rng.IntN(800)))
		if err != nil {
			return fail("settle encrypt: %v", err)
		}
		if _, err := sides[1-from].s.Decrypt(m); err != nil {
			return fail("settle message %d to side %d: %v (phases %s/%s)", n, 1-from, err, a.s.pq.phase, b.s.pq.phase)
		}
		if err := reload(); err != nil {
			return err
		}
		if a.s.pq.done >= ea+2 && b.s.pq.done >= eb+2 {
			return nil
		}
	}
	return fail("no progress: epochs %d→%d, %d→%d; phases %s/%s", ea, a.s.pq.done, eb, b.s.pq.done, a.s.pq.phase, b.s.pq.phase)
}

// TestPQRandomSchedules runs random schedules with losses, reorders,
// duplicates and big messages, saving and loading both sides after every
// step, in three modes: plain, at the saturated epoch counter, and legacy
// sessions turned on at random times.
func TestPQRandomSchedules(t *testing.T) {
	runs := 40
	if testing.Short() {
		runs = 10
	}
	for _, v := range []struct{ sat, legacy bool }{{false, false}, {true, false}, {false, true}} {
		t.Run(fmt.Sprintf("sat=%v/legacy=%v", v.sat, v.legacy), func(t *testing.T) {
			for run := range runs {
				if err := randomSchedule(t, uint64(9000+run), 250, v.sat, v.legacy); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// scheduleBig is the odds (one in scheduleBig) that a random schedule
// sends a message of a larger bucket.
const scheduleBig = 15

// TestPQRollbackAfterCompletionRecovers: the resumed copy of
// TestPQRollbackInChainRecovers, when the peer already rebuilt the lost
// state's ct. The legacy control recovers; with the KEM ratchet on, the
// copy encapsulates to the lost state's ct with the seed drawn on entering
// RecvEK, so alice mixes a secret the copy holds and the session goes on
// (spec/session.md §14.6).
func TestPQRollbackAfterCompletionRecovers(t *testing.T) {
	if err := rollback(t, false, 2); err != nil {
		t.Fatalf("control (KEM ratchet off): %v", err)
	}
	if err := rollback(t, true, 2); err != nil {
		t.Fatalf("KEM ratchet on: the resumed copy is wedged: %v", err)
	}
}

// TestPQStalePayloadFromSkippedKeys: the decoder keeps the latest payload
// received, not the latest sent. Bob's lost state sent two replies that
// are late; his resumed copy sends three. Alice gets the copy's third
// reply first (two skipped keys), then the two late replies through the
// skipped keys. Both states encapsulated with the seed drawn on entering
// RecvEK, so the late chunks are of the same ct and whichever completes
// it, alice mixes a secret the copy holds: the copy's replies 1 and 2 are
// duplicates (§5.4), and the session goes on (spec/session.md §14.6).
func TestPQStalePayloadFromSkippedKeys(t *testing.T) {
	alice, bob := legacyPair(t, 9100)
	if err := alice.EnablePQ(); err != nil {
		t.Fatal(err)
	}
	if err := bob.EnablePQ(); err != nil {
		t.Fatal(err)
	}
	text := string(bytes.Repeat([]byte{'x'}, 100)) // 23 chunks of room
	mustDecrypt(t, bob, mustEncrypt(t, alice, text), text)
	snap := bob.Marshal()
	m2 := mustEncrypt(t, alice, text)
	mustDecrypt(t, bob, m2, text)
	r1, r2 := mustEncrypt(t, bob, text), mustEncrypt(t, bob, text) // ct₁, late

	cfg, _ := seeded(9199)
	bob2, err := ParseSession(cfg, snap)
	if err != nil {
		t.Fatal(err)
	}
	mustDecrypt(t, bob2, m2, text)
	s1, s2, s3 := mustEncrypt(t, bob2, text), mustEncrypt(t, bob2, text), mustEncrypt(t, bob2, text)
	mustDecrypt(t, alice, s3, text)
	if alice.pq.held != bob2.pq.digest {
		t.Fatal("alice does not hold the copy's ct")
	}
	mustDecrypt(t, alice, r1, text)
	mustDecrypt(t, alice, r2, text)
	for _, m := range [][]byte{s1, s2} {
		if _, err := alice.Decrypt(m); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("the copy's reply: %v, want ErrDuplicate", err)
		}
	}
	for i := range 6 {
		if _, err := bob2.Decrypt(mustEncrypt(t, alice, text)); err != nil {
			t.Fatalf("round %d, alice→bob: %v (alice %+v, bob %+v): the stale ct won", i, err, alice.PQ(), bob2.PQ())
		}
		if _, err := alice.Decrypt(mustEncrypt(t, bob2, text)); err != nil {
			t.Fatalf("round %d, bob→alice: %v", i, err)
		}
	}
}
