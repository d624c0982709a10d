package ratchet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"veil/crypto"
)

// The thief of spec/session.md §14.6 steals a full session state at some
// moment and then reads, passively, every message sent to its victim. A
// quantum thief also knows every X25519 secret: in these tests it gets each
// ratchet key its victim draws (Config.dhRand is a tee on the victim and a
// replay on the thief's copy), but not the victim's other draws, so the KEM
// seeds the victim makes after the theft stay secret.

// theftPhases are the phases a theft can happen in; "off" is a legacy session
// that the peer turns on right after the theft.
var theftPhases = []string{"off", "send-ek", "recv-ek", "send-ct", "mix-pending"}

// healing is what a theft run measured.
type healing struct {
	found bool // the victim was in the theft phase at some point
	// Counted from the theft up to and including the first message to the
	// victim that its stolen copy failed to decrypt (zero: never healed):
	total    int    // messages either way
	toVictim int    // messages to the victim
	quiet    int    // messages by the quiet side of a one-sided pattern
	epochs   uint32 // epochs the victim completed (PQStatus.Epochs)
	// rootAt counts the messages either way up to the one after which the
	// stolen root first differed from the victim's (a quantum thief: it
	// may still read that message, whose chain came from the old root).
	rootAt int
}

func (h healing) String() string {
	return fmt.Sprintf("root differs after %d messages; healed after %d (%d to the victim, %d by the quiet side, victim completed %d epochs)",
		h.rootAt, h.total, h.toVictim, h.quiet, h.epochs)
}

// thiefRun is one theft: victim (joiner if victimA), theft phase, pattern,
// and whether the thief is quantum (replays the victim's X25519 draws).
type thiefRun struct {
	seed    uint64
	victimA bool
	phase   string // one of theftPhases, or "legacy": a legacy session that stays off
	pat     pattern
	quantum bool
	textLen int // plaintext bytes of the talking side's messages
	// early steals at the first time the victim is in the phase, from the
	// handshake on; otherwise once it completed two epochs.
	early bool
}

// run plays the conversation, steals the victim's state when it is first
// in the theft phase (unless early, once it completed two epochs, so roles
// have swapped at least once), and has the stolen copy decrypt every later
// message to the victim. Once the copy fails, every later message must
// fail too.
func (r thiefRun) run(t *testing.T) healing {
	t.Helper()
	version := 2
	if r.phase == "off" || r.phase == "legacy" {
		version = 1
	}
	a, b := pqPairVersion(t, r.seed, version)
	c := &pqConv{t: t, a: a, b: b}
	victim, peer := a, b
	if !r.victimA {
		victim, peer = b, a
	}
	i := 0
	if version == 1 {
		for ; i < 7; i++ {
			c.step(r.pat, i, r.textLen)
		}
	} else {
		warm := uint32(2)
		if r.early {
			warm = 0
		}
		for ; victim.s.PQ().Epochs < warm || victim.s.PQ().Phase != r.phase; i++ {
			if i == 600 {
				return healing{}
			}
			c.step(r.pat, i, r.textLen)
		}
	}

	cfg, _ := seeded(r.seed ^ 0x7468696566) // the thief's own randomness
	replay := &replayReader{}
	if r.quantum {
		cfg.dhRand = replay
	}
	shadow, err := ParseSession(cfg, victim.s.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if r.phase == "off" {
		if err := peer.s.EnablePQ(); err != nil {
			t.Fatal(err)
		}
	}
	epochs0 := victim.s.PQ().Epochs
	h := healing{found: true}
	var total, toVictim, quiet int
	c.onDeliver = func(e pqEvent) {
		total++
		if (r.pat == aTalks && !e.fromA) || (r.pat == bTalks && e.fromA) {
			quiet++
		}
		if e.fromA == r.victimA {
			return // the victim's own messages: its copy does not read them
		}
		toVictim++
		replay.buf = e.dh
		before := shadow.Marshal()
		pt, err := shadow.Decrypt(e.msg)
		if r.quantum && h.rootAt == 0 && shadow.rk != victim.s.rk {
			h.rootAt = total
		}
		if r.quantum && h.rootAt != 0 && shadow.rk == victim.s.rk {
			t.Fatalf("message %d: the stolen root equals the victim's again", c.sent-1)
		}
		if h.total == 0 {
			if err == nil {
				if !bytes.Equal(pt, e.pt) {
					t.Fatalf("message %d: the stolen copy decrypted it wrongly", c.sent-1)
				}
				return
			}
			h.total, h.toVictim, h.quiet, h.epochs = total, toVictim, quiet, victim.s.PQ().Epochs-epochs0
		}
		if err == nil {
			t.Fatalf("message %d: the stolen copy read it after it had failed (%s)", c.sent-1, h)
		}
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("message %d: the stolen copy: %v, want ErrAuth", c.sent-1, err)
		}
		if !bytes.Equal(before, shadow.Marshal()) {
			t.Fatalf("message %d: a failed decrypt changed the stolen copy", c.sent-1)
		}
		if shadow.rk == victim.s.rk {
			t.Fatalf("message %d: healed (%v), but the stolen root equals the victim's", c.sent-1, err)
		}
	}
	// Run until three more epochs completed after the healing (a legacy
	// session: 200 messages).
	for n := 0; n < 600; n, i = n+1, i+1 {
		if r.phase != "legacy" && h.total != 0 && c.bothDone(epochs0+h.epochs+3) {
			break
		}
		if r.phase == "legacy" && n == 200 {
			break
		}
		c.step(r.pat, i, r.textLen)
	}
	if r.phase != "legacy" && h.total != 0 && !c.bothDone(epochs0+h.epochs+3) {
		ea, eb := c.epochs()
		t.Fatalf("%s, but then epochs stalled at %d/%d", h, ea, eb)
	}
	return h
}

func victimName(a bool) string {
	if a {
		return "joiner"
	}
	return "inviter"
}

// TestPQHealingQuantumThief: a legacy session never heals from a quantum
// thief; with the KEM ratchet on, the stolen copy fails for good within
// two epochs of the theft, whatever the phase and the pattern.
func TestPQHealingQuantumThief(t *testing.T) {
	const textLen = textEnvelope + 100
	t.Run("control", func(t *testing.T) {
		for _, victimA := range []bool{true, false} {
			for _, pat := range []pattern{balanced, aTalks, bTalks} {
				t.Run(victimName(victimA)+"/"+pat.String(), func(t *testing.T) {
					r := thiefRun{seed: 40, victimA: victimA, phase: "legacy", pat: pat, quantum: true, textLen: textLen}
					if h := r.run(t); h.total != 0 || h.rootAt != 0 {
						t.Fatalf("a legacy session healed from a quantum thief: %s", h)
					}
				})
			}
		}
	})
	for _, victimA := range []bool{true, false} {
		for _, phase := range theftPhases {
			for _, pat := range []pattern{balanced, aTalks, bTalks} {
				for _, early := range []bool{false, true} {
					if early && phase == "off" {
						continue
					}
					name := fmt.Sprintf("%s/%s/%s", victimName(victimA), phase, pat)
					if early {
						name += "/early"
					}
					t.Run(name, func(t *testing.T) {
						r := thiefRun{seed: 41, victimA: victimA, phase: phase, pat: pat, quantum: true, textLen: textLen, early: early}
						h := r.run(t)
						if !h.found {
							t.Skipf("the victim is never in %s in this pattern", phase)
						}
						if h.total == 0 {
							t.Fatal("the stolen copy never failed")
						}
						t.Logf("%s", h)
						checkHealingBound(t, r, h)
					})
				}
			}
		}
	}
}

// TestPQHealingLongTexts: with 790-byte texts (3 chunks a message, L = 49)
// a quantum thief still loses the session within two epochs, 2L + 2 = 100
// messages of a balanced conversation.
func TestPQHealingLongTexts(t *testing.T) {
	for _, victimA := range []bool{true, false} {
		for _, phase := range theftPhases[1:] {
			t.Run(victimName(victimA)+"/"+phase, func(t *testing.T) {
				r := thiefRun{seed: 44, victimA: victimA, phase: phase, pat: balanced, quantum: true, textLen: textEnvelope + 790}
				h := r.run(t)
				if !h.found {
					t.Skipf("the victim is never in %s", phase)
				}
				t.Logf("%s", h)
				if h.total == 0 || h.total > 100 || h.epochs > 2 {
					t.Fatalf("%s, want ≤ 100 messages and ≤ 2 epochs", h)
				}
			})
		}
	}
}

// checkHealingBound holds a measured healing to the claim of
// spec/session.md §14.6: at most two epochs, that is at most 2L + 2 = 16
// messages in a balanced conversation of short texts (L = 7), and at most
// 2·(k_ek + 2) = 8 messages of the quiet side in a one-sided one.
func checkHealingBound(t *testing.T, r thiefRun, h healing) {
	t.Helper()
	if h.epochs > 2 {
		t.Errorf("the victim completed %d epochs before the thief lost it, want ≤ 2", h.epochs)
	}
	switch r.pat {
	case balanced:
		if h.total > 16 {
			t.Errorf("%d messages before healing, want ≤ 16", h.total)
		}
	default:
		if h.quiet > 8 {
			t.Errorf("%d quiet-side messages before healing, want ≤ 8", h.quiet)
		}
	}
}

// TestPQHealingClassicalThief: a thief without the X25519 secrets loses
// the session after one round trip, as a legacy session does
// (spec/session.md §4.6): it reads the next message to the victim, and no
// message after the victim's reply.
func TestPQHealingClassicalThief(t *testing.T) {
	for _, victimA := range []bool{true, false} {
		for _, phase := range append([]string{"legacy"}, theftPhases[1:]...) {
			t.Run(victimName(victimA)+"/"+phase, func(t *testing.T) {
				r := thiefRun{seed: 42, victimA: victimA, phase: phase, pat: balanced, textLen: textEnvelope + 100}
				h := r.run(t)
				if !h.found {
					t.Skipf("the victim is never in %s", phase)
				}
				if h.toVictim != 2 {
					t.Fatalf("%s, want the second message to the victim to fail", h)
				}
			})
		}
	}
}

// recomputeEpochSecret is E_e of spec/session.md §14 recomputed from the KEM
// seeds: the ek sender's keygen seed and the encapsulator's seed.
func recomputeEpochSecret(t *testing.T, keygen, encaps []byte, e uint32) (ss, E crypto.SymKey) {
	t.Helper()
	dk, err := crypto.ParseKEM768Private(keygen)
	if err != nil {
		t.Fatal(err)
	}
	ek := dk.Public()
	ct, ss, err := crypto.Encapsulate768(ek, bytes.NewReader(encaps))
	if err != nil {
		t.Fatal(err)
	}
	salt := crypto.Hash(ek.Bytes(), ct)
	info := binary.BigEndian.AppendUint32([]byte("veil/session/v1/pq-epoch"), e)
	return ss, crypto.HKDFKey(ss[:], salt[:], string(info))
}

// TestPQForwardSecrecy: once an epoch completed on both sides, neither
// state holds its decapsulation seed, its encapsulation seed, its shared
// secret or its epoch secret (spec/session.md §14.6). The secrets are
// recomputed from the recorded draws, and seen in the states while their
// epoch is in flight, so the check can find them.
func TestPQForwardSecrecy(t *testing.T) {
	for _, pat := range []pattern{balanced, aTalks, bTalks} {
		t.Run(pat.String(), func(t *testing.T) {
			a, b := pqPairVersion(t, 43, 2)
			// Keygen seeds (64-byte draws) of epochs 1, 3, … come from the
			// joiner, of 2, 4, … from the inviter; encapsulation seeds
			// (32-byte draws) the other way round. The handshake's are the
			// last draw of Initiate and of Respond.
			keygen := map[uint32][]byte{1: a.handshake[len(a.handshake)-1]}
			encaps := map[uint32][]byte{1: b.handshake[len(b.handshake)-1]}
			next := [2][2]uint32{{3, 2}, {2, 3}} // [joiner, inviter][keygen, encaps]
			collect := func(p *pqSide, who int) {
				for _, d := range p.rand.reads {
					switch len(d) {
					case crypto.KEM768SeedSize:
						keygen[next[who][0]] = d
						next[who][0] += 2
					case 32:
						encaps[next[who][1]] = d
						next[who][1] += 2
					}
				}
				p.rand.reads = nil
			}
			c := &pqConv{t: t, a: a, b: b}
			seen := map[uint32][2]bool{} // dk seed seen, E seen, while in flight
			for i := 0; !c.bothDone(5); i++ {
				if i == 400 {
					t.Fatal("five epochs did not complete")
				}
				c.step(pat, i, textEnvelope+100)
				collect(a, 0)
				collect(b, 1)
				states := [][]byte{a.s.Marshal(), b.s.Marshal()}
				ea, eb := c.epochs()
				for e := uint32(1); e <= 6; e++ {
					k, m := keygen[e], encaps[e]
					if k == nil {
						continue
					}
					var secrets [][]byte
					secrets = append(secrets, k[:32], k[32:])
					var E crypto.SymKey
					if m != nil {
						ss, e2 := recomputeEpochSecret(t, k, m, e)
						E = e2
						secrets = append(secrets, m, ss[:], E[:])
					}
					done := ea >= e && eb >= e
					for _, st := range states {
						s := seen[e]
						if bytes.Contains(st, k) {
							s[0] = true
						}
						if m != nil && bytes.Contains(st, E[:]) {
							s[1] = true
						}
						seen[e] = s
						if !done {
							continue
						}
						for j, x := range secrets {
							if bytes.Contains(st, x) {
								t.Fatalf("after message %d: epoch %d is complete (%d/%d) but secret %d of it is still in a state", c.sent-1, e, ea, eb, j)
							}
						}
					}
				}
			}
			for e := uint32(1); e <= 5; e++ {
				if !seen[e][0] || !seen[e][1] {
					t.Errorf("epoch %d: dk seed seen %v, E seen %v in a state while in flight: the check cannot find them", e, seen[e][0], seen[e][1])
				}
			}
		})
	}
}
