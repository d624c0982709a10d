package ratchet

import (
	"bytes"
	"fmt"
	"testing"

	"veil/crypto"
)

// pqStateLimit is the contract's bound on the KEM ratchet's section of a
// serialised state (spec/session.md §10).
const pqStateLimit = 2400

// pqStateBound is the most a serialised state may hold for s: the legacy
// fields as they are now plus the largest PQ section.
func pqStateBound(s *Session) int {
	return stateFixedSize + len(s.prefix) + 1 + len(s.retired)*retiredSize + 2 + len(s.skipped)*skippedSize + pqStateLimit
}

// pqScheduleOpts chooses a variant of the random schedule.
type pqScheduleOpts struct {
	legacy bool    // both sides start as legacy sessions
	enable [2]bool // legacy: which sides (joiner, inviter) call EnablePQ
	// thief: a quantum thief steals one side's state at a random step and
	// reads every message that side decrypts (see TestPQHealingQuantumThief).
	thief bool
}

// TestPQPropertyInterleavings runs random schedules of sends (TEXT-sized
// and some 4 KiB), deliveries in any order, losses, replays, tampering and
// save/restore mid-epoch with the KEM ratchet on, then lets everything
// arrive and has the sides alternate. It checks the model of
// TestPropertyInterleavings, that failures leave the state byte for byte
// unchanged, that at most one epoch is in flight and the state stays
// bounded, and that epochs complete once the network is reliable.
func TestPQPropertyInterleavings(t *testing.T) {
	runs, steps := 600, 300
	if testing.Short() {
		runs, steps = 40, 200
	}
	for _, v := range []struct{ legacy, thief bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		legacy := v.legacy
		t.Run(fmt.Sprintf("legacy=%v/thief=%v", v.legacy, v.thief), func(t *testing.T) {
			version := byte(bundleVersionPQ)
			if legacy {
				version = bundleVersion1
			}
			bp, start := scheduleStart(t, 1<<41, version)
			var withEpochs, maxSettle, sumSettle, maxPQ, healed int
			for run := range runs {
				o := pqScheduleOpts{thief: v.thief}
				if legacy {
					o.legacy = true
					o.enable = [...][2]bool{{true, false}, {false, true}, {true, true}}[run%3]
				}
				var st pqScheduleStats
				if err := runPQSchedule(uint64(run), steps, bp, start, o, &st); err != nil {
					t.Fatalf("run %d: %v", run, err)
				}
				if st.randomEpochs > 0 {
					withEpochs++
				}
				maxSettle = max(maxSettle, st.settle)
				maxPQ = max(maxPQ, st.maxPQ)
				healed += st.healedChecked
				sumSettle += st.settle
			}
			// The schedule must exercise the ratchet, not only the settling.
			t.Logf("%d runs: %d completed an epoch before settling; settling took %d reliable messages at most, %.1f on average; states at most %d bytes past the legacy fields",
				runs, withEpochs, maxSettle, float64(sumSettle)/float64(runs), maxPQ)
			if v.thief {
				t.Logf("%d messages on chains past the healing were refused to the thief", healed)
				if healed < runs {
					t.Errorf("only %d messages checked the healing in %d runs", healed, runs)
				}
			}
			if maxPQ > pqStateMaxSize {
				t.Errorf("a PQ section of %d bytes, more than the %d the layout allows", maxPQ, pqStateMaxSize)
			}
			if withEpochs < runs/4 {
				t.Errorf("only %d of %d runs completed an epoch under the random schedule", withEpochs, runs)
			}
		})
	}
}

// pqScheduleStats is what one schedule measured.
type pqScheduleStats struct {
	randomEpochs uint32 // epochs both sides completed under the random schedule
	settle       int    // reliable messages until both had completed two more
	maxPQ        int    // largest state size beyond the legacy fields
	// healedChecked counts messages to a robbed side on chains created
	// after it healed, each refused to the thief.
	healedChecked int
}

// runPQSchedule is runSchedule's model with the KEM ratchet's checks.
func runPQSchedule(seed uint64, steps int, bp *BundlePrivate, start []byte, o pqScheduleOpts, st *pqScheduleStats) error {
	sc := newSchedule(seed, 0x7071, bp)
	dh := [2]*drawLog{{r: chacha(seed*2 + 1)}, {r: chacha(seed*2 + 2)}} // X25519 draws of alice, bob
	sc.cfgA.dhRand, sc.cfgB.dhRand = dh[0], dh[1]
	if err := sc.begin(start); err != nil {
		return err
	}
	rng, fail := sc.rng, sc.fail
	// The thief (o.thief): its copy of the victim's state, the victim's
	// completed epochs at the theft, and once the victim completed two
	// more, the peer's ratchet keys of chains that may predate the healing
	// (every one it had sent under, and its current one).
	var (
		shadow    *Session
		victim    int // 0 alice, 1 bob
		done0     uint32
		replay    = &replayReader{}
		oldKeys   map[crypto.DHPublic]bool
		senderKey = map[int]crypto.DHPublic{} // message id → its chain's ratchet key
		sentKeys  [2][]crypto.DHPublic        // ratchet keys alice and bob sent under
	)
	stealAt := rng.IntN(steps)
	sessions := func() [2]*Session { return [2]*Session{sc.alice, sc.bob} }
	// watch runs after every operation: it makes the theft and notes the
	// healing point.
	watch := func(step int) error {
		if !o.thief {
			return nil
		}
		if shadow == nil && step >= stealAt && sc.bob != nil {
			victim = rng.IntN(2)
			cfg, _ := seeded(seed ^ 0x7468696566)
			cfg.dhRand = replay
			var err error
			if shadow, err = ParseSession(cfg, sessions()[victim].Marshal()); err != nil {
				return fail("theft: %v", err)
			}
			done0 = sessions()[victim].PQ().Epochs
			sc.trace = append(sc.trace, fmt.Sprintf("theft%d", victim))
		}
		if shadow != nil && oldKeys == nil && sessions()[victim].PQ().Epochs >= done0+2 {
			oldKeys = map[crypto.DHPublic]bool{sessions()[1-victim].dhsPub: true}
			for _, k := range sentKeys[1-victim] {
				oldKeys[k] = true
			}
			sc.trace = append(sc.trace, "healed")
		}
		if oldKeys != nil && shadow.rk == sessions()[victim].rk {
			return fail("the victim completed two epochs since the theft, but the stolen root is its root")
		}
		return nil
	}
	// robbed runs after the victim decrypted message f: the stolen copy
	// tries it too, with the victim's X25519 draws.
	robbed := func(f inflight, draws []byte) error {
		replay.buf = draws
		pt, err := shadow.Decrypt(f.msg)
		if err == nil && string(pt) != f.pt {
			return fail("the thief decrypted %d wrongly", f.id)
		}
		if oldKeys != nil && !oldKeys[senderKey[f.id]] {
			if err == nil {
				return fail("the thief read %d, on a chain the peer made after the victim healed", f.id)
			}
			st.healedChecked++
		}
		return nil
	}

	enabled := [2]bool{}
	enable := func(i int) error {
		s := sessions()[i]
		if s == nil || enabled[i] || !o.enable[i] {
			return nil
		}
		sc.trace = append(sc.trace, fmt.Sprintf("enable%d", i))
		enabled[i] = true
		if err := s.EnablePQ(); err != nil {
			return fail("EnablePQ: %v", err)
		}
		if !s.PQ().On {
			return fail("EnablePQ left the session off")
		}
		return nil
	}

	// check holds the invariants after every operation.
	check := func() error {
		for _, s := range sessions() {
			if s == nil {
				continue
			}
			n, bound := len(s.Marshal()), pqStateBound(s)
			if n > bound {
				return fail("state of %d bytes, bound %d", n, bound)
			}
			st.maxPQ = max(st.maxPQ, n-(bound-pqStateLimit))
		}
		if sc.bob == nil {
			return nil
		}
		alice, bob := sc.alice, sc.bob
		pa, pb := alice.PQ(), bob.PQ()
		if !o.legacy && (!pa.On || !pb.On) {
			return fail("a session from a v2 bundle is off")
		}
		if pa.On && pb.On && pa.Phase == pb.Phase {
			return fail("both sides in %s: two epochs in flight", pa.Phase)
		}
		if d := int64(pa.Epochs) - int64(pb.Epochs); d > 1 || d < -1 {
			return fail("epochs %d and %d completed", pa.Epochs, pb.Epochs)
		}
		if d := int64(alice.pq.epoch) - int64(bob.pq.epoch); pa.On && pb.On && (d > 1 || d < -1) {
			return fail("epochs %d and %d in progress", alice.pq.epoch, bob.pq.epoch)
		}
		return nil
	}

	textLen := func() int {
		if rng.IntN(20) == 0 {
			return 2900 + rng.IntN(300) // a 4 KiB message
		}
		return textEnvelope + rng.IntN(901)
	}
	sc.text = func(head string) string { return padText(head, textLen()) }
	sc.size = func(from *Session, pt string) int { return crypto.BucketFor(len(pt) + 1 + overheadOf(from)) }
	sc.sent = func(from *Session, id int, key crypto.DHPublic) {
		senderKey[id] = key
		if from == sc.alice {
			sentKeys[0] = append(sentKeys[0], key)
		} else {
			sentKeys[1] = append(sentKeys[1], key)
		}
	}
	sc.receiving = func(side int) { dh[side].take() }
	sc.received = func(side int, f inflight) error {
		if shadow != nil && side == victim {
			return robbed(f, dh[side].take())
		}
		return nil
	}
	sc.odds.lose, sc.odds.replay, sc.odds.tamper, sc.odds.extra = 89, 93, 96, 98
	if o.legacy {
		sc.extra = func() error { return enable(rng.IntN(2)) }
	}
	sc.after = func(step int) error {
		if err := check(); err != nil {
			return err
		}
		return watch(step)
	}

	if err := sc.random(steps); err != nil {
		return err
	}
	if sc.bob != nil {
		st.randomEpochs = min(sc.alice.PQ().Epochs, sc.bob.PQ().Epochs)
	}

	// Settle: everything in flight arrives, in random order; then the
	// sides alternate over a reliable network.
	sc.trace = append(sc.trace, "settle")
	if err := sc.drain(steps); err != nil {
		return err
	}
	if sc.bob == nil {
		if err := sc.send(sc.alice, &sc.ab, "a", fixedText(textEnvelope)); err != nil {
			return err
		}
		if err := sc.deliver(&sc.bob, &sc.ab, 0, "b"); err != nil {
			return err
		}
	}
	if o.legacy {
		for i := range 2 {
			if err := enable(i); err != nil {
				return err
			}
		}
	}
	if err := watch(steps); err != nil { // the theft, if it has not happened yet
		return err
	}
	alice, bob := sc.alice, sc.bob
	ea, eb := alice.PQ().Epochs, bob.PQ().Epochs
	const settle = 2 * 50
	n, after := 0, 0 // after: reliable messages since the victim healed
	settled := func() bool {
		return alice.PQ().Epochs >= ea+2 && bob.PQ().Epochs >= eb+2 && (!o.thief || after >= 4)
	}
	for ; n < settle && !settled(); n++ {
		from, to, d, name, toName := bob, &sc.alice, &sc.ba, "b", "a"
		if n%2 == 1 {
			from, to, d, name, toName = alice, &sc.bob, &sc.ab, "a", "b"
		}
		if err := sc.send(from, d, name, fixedText(textEnvelope+rng.IntN(799))); err != nil {
			return err
		}
		if err := sc.deliver(to, d, 0, toName); err != nil {
			return err
		}
		if err := sc.after(steps); err != nil {
			return err
		}
		if oldKeys != nil {
			after++
		}
	}
	st.settle = n
	if o.thief && after < 4 {
		return fail("the victim did not complete two epochs after the theft in %d reliable messages", n)
	}
	if alice.PQ().Epochs < ea+2 || bob.PQ().Epochs < eb+2 {
		return fail("after %d reliable messages epochs went %d→%d and %d→%d, want +2 each",
			n, ea, alice.PQ().Epochs, eb, bob.PQ().Epochs)
	}
	if alice.SafetyCode() != bob.SafetyCode() {
		return fail("safety codes differ")
	}
	return nil
}

// padText is head padded with dots to n bytes (head alone when longer).
func padText(head string, n int) string {
	return head + string(bytes.Repeat([]byte{'.'}, max(0, n-len(head))))
}

// fixedText makes plaintexts of n bytes for schedule.send.
func fixedText(n int) func(head string) string {
	return func(head string) string { return padText(head, n) }
}
