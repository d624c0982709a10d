package ratchet

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"veil/crypto"
)

// pqChunksFor is how many chunks ride in a 1 KiB TEXT of t bytes
// (spec/session.md §14.4): ⌊(889 − t)/33⌋.
func pqChunksFor(t int) int { return (889 - t) / 33 }

// pqPredictedL is the balanced epoch length of §14.6 for c chunks a
// message: 2(⌈37/c⌉ + ⌈34/c⌉) − 1.
func pqPredictedL(c int) int { return 2*((37+c-1)/c+(34+c-1)/c) - 1 }

// epochMarks runs the pattern until both sides completed n epochs and
// returns, for each epoch e = 1…n, the number of messages (all, and by the
// quiet side) sent by the time both sides had completed it.
func epochMarks(t *testing.T, seed uint64, p pattern, textLen, n int) (all, quiet []int) {
	t.Helper()
	a, b := pqPairVersion(t, seed, 2)
	c := &pqConv{t: t, a: a, b: b}
	quietBy := func() int {
		switch p {
		case aTalks:
			return c.sentBy[1]
		case bTalks:
			return c.sentBy[0]
		}
		return c.sent
	}
	for i := 0; len(all) < n; i++ {
		if i == 200*n {
			ea, eb := c.epochs()
			t.Fatalf("%d messages and only %d/%d epochs", i, ea, eb)
		}
		c.step(p, i, textLen)
		for len(all) < n && c.bothDone(uint32(len(all)+1)) {
			all = append(all, c.sent)
			quiet = append(quiet, quietBy())
		}
	}
	return all, quiet
}

// periods returns the differences between successive marks, from epoch 2
// on (epoch 1 starts in the handshake).
func periods(marks []int) []int {
	var out []int
	for i := 1; i < len(marks); i++ {
		out = append(out, marks[i]-marks[i-1])
	}
	return out
}

// TestPQEpochBound measures epoch lengths against spec/session.md §14.6: in
// a balanced conversation an epoch takes L = 2(k_ek + k_ct) − 1 messages
// (7 for short texts, 49 ≤ 50 for 790-byte ones); in a one-sided one at
// most max(k_ct, k_ek + 2) messages of the quiet side.
func TestPQEpochBound(t *testing.T) {
	// 823 and 856 (2 and 1 chunks) are past the claim's range; their
	// epochs are only measured.
	for _, tl := range []int{0, 100, 262, 500, 757, 790, 823, 856} {
		t.Run(fmt.Sprintf("balanced/text%d", tl), func(t *testing.T) {
			c := pqChunksFor(tl)
			want := pqPredictedL(c)
			marks, _ := epochMarks(t, 50, balanced, textEnvelope+tl, 4)
			ps := periods(marks)
			t.Logf("text %d bytes: %d chunks a message, predicted L = %d; first epoch done after %d messages, then every %v",
				tl, c, want, marks[0], ps)
			if c < 3 {
				return
			}
			for _, p := range ps {
				if p != want {
					t.Errorf("an epoch took %d messages, predicted %d", p, want)
				}
			}
			if want > 50 {
				t.Errorf("predicted L = %d is past the bar of 50", want)
			}
			if marks[0] > want {
				t.Errorf("the first epoch took %d messages, want ≤ %d", marks[0], want)
			}
		})
	}
	t.Run("balanced/receipts", func(t *testing.T) {
		marks, _ := epochMarks(t, 51, balanced, receiptSize, 6)
		ps := periods(marks)
		t.Logf("receipts both ways: first epoch after %d messages, then every %v", marks[0], ps)
		for _, p := range ps {
			if p > 7 {
				t.Errorf("an epoch took %d messages, want ≤ 7", p)
			}
		}
	})
	// One-sided: texts of 100 bytes (23 chunks), receipts of the quiet side
	// (27 chunks): k_ek = k_ct = 2, so at most 4 quiet messages an epoch.
	for _, p := range []pattern{aTalks, bTalks} {
		t.Run(p.String(), func(t *testing.T) {
			all, quiet := epochMarks(t, 52, p, textEnvelope+100, 6)
			t.Logf("%s (bursts of %d): epochs done after %v messages, %v by the quiet side; periods %v and %v",
				p, burst, all, quiet, periods(all), periods(quiet))
			// The quiet side sends the ek in k_ek = 2 messages and then needs
			// one unmixed and one mixed chain (4); when the talker sends
			// the ek, the quiet side only sends the ct (k_ct = 2).
			for _, q := range periods(quiet) {
				if q != 2 && q != 4 {
					t.Errorf("an epoch took %d quiet-side messages, want 2 or 4", q)
				}
			}
		})
	}
}

// pqSnapshot is a saved state of one side in a phase, able to send.
type pqSnapshot struct {
	name  string
	state []byte
	cfg   Config
}

// pqSnapshots collects, from a legacy pair and from ON pairs in each
// pattern, the first state of each side in each phase in which it can
// send.
func pqSnapshots(t *testing.T) []pqSnapshot {
	t.Helper()
	var out []pqSnapshot
	have := map[string]bool{}
	take := func(p *pqSide, who string) {
		// Past epoch 1, whose ek the joiner's initial messages carried
		// regardless of the allowance, a phase starts with a full one.
		if !p.s.hasCKs || (p.s.pq.phase != pqOff && p.s.pq.epoch < 2 && !p.s.AwaitingReply()) {
			return
		}
		name := fmt.Sprintf("%s/%s/initial=%v", who, p.s.PQ().Phase, p.s.AwaitingReply())
		if !have[name] {
			have[name] = true
			out = append(out, pqSnapshot{name: name, state: p.s.Marshal(), cfg: p.cfg})
		}
	}
	a, b := pqPairVersion(t, 60, 1)
	take(a, "joiner")
	take(b, "inviter")
	for _, p := range []pattern{balanced, aTalks, bTalks} {
		a, b := pqPairVersion(t, 61, 2)
		take(a, "joiner")
		take(b, "inviter")
		c := &pqConv{t: t, a: a, b: b}
		for i := range 60 {
			c.step(p, i, textEnvelope+100)
			take(a, "joiner")
			take(b, "inviter")
		}
	}
	return out
}

// TestPQBucket: a block only takes room the plaintext leaves, so the size
// of a message depends on its plaintext alone (spec/session.md §14.4), in
// every phase, with the chunk allowance full or used up: every length
// whose legacy message fits the smallest bucket still does, and random
// lengths up to the largest plaintext get the legacy bucket.
func TestPQBucket(t *testing.T) {
	snaps := pqSnapshots(t)
	phases := map[string]bool{}
	for _, sn := range snaps {
		phases[sn.name] = true
	}
	t.Logf("states: %v", phases)
	rng := rand.New(rand.NewPCG(62, 0))
	for _, sn := range snaps {
		t.Run(sn.name, func(t *testing.T) {
			parse := func() *Session {
				s, err := ParseSession(sn.cfg, sn.state)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			overhead := overheadOf(parse())
			// The longest plaintext of the smallest bucket a message of s
			// can have.
			first := 0
			for _, b := range crypto.Buckets() {
				if b > overhead+1 {
					first = b - overhead - 1
					break
				}
			}
			check := func(s *Session, n int) {
				m, err := s.Encrypt(make([]byte, n))
				if err != nil {
					t.Fatalf("%d bytes: %v", n, err)
				}
				if want := crypto.BucketFor(n + 1 + overhead); len(m) != want {
					t.Fatalf("a plaintext of %d bytes gave %d bytes, legacy %d", n, len(m), want)
				}
			}
			// Allowance full: a fresh copy for every length. In a sending
			// phase the short ones carry chunks (the cursor moves).
			sending := 0
			for n := 0; n <= first; n++ {
				s := parse()
				cursor := s.pq.cursor
				check(s, n)
				if s.pq.cursor != cursor {
					sending++
				}
			}
			if ph := parse().pq.phase; (ph == pqSendEK || ph == pqSendCT) && sending == 0 {
				t.Fatal("no message carried chunks: the test checks nothing")
			}
			// Allowance used up: one copy sends many chunk-bearing messages
			// first (a joiner's initial messages ignore the allowance).
			s := parse()
			for range 40 {
				check(s, 0)
			}
			if s.pq.allowance != 0 {
				t.Fatalf("allowance %d left after 40 messages", s.pq.allowance)
			}
			for n := 0; n <= first; n++ {
				check(s, n)
			}
			t.Logf("%d of %d lengths carried chunks with the allowance full", sending, first+1)
			for range 300 {
				check(parse(), rng.IntN(s.MaxPlaintext()+1))
			}
		})
	}
}
