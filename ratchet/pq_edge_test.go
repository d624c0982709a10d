package ratchet

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"testing"

	"veil/crypto"
)

// TestPQInitialMessageFillingItsBucket: a joiner's initial message whose
// plaintext leaves no room for a chunk in its bucket is still a message
// Encrypt sends, so the inviter must be able to start the session from it,
// as from a legacy bundle; the ek then follows in later messages.
func TestPQInitialMessageFillingItsBucket(t *testing.T) {
	fourK := crypto.Buckets()[1]
	for _, n := range []int{fourK - initialOverhead - 1 - 40, fourK - initialOverhead - 1, MaxInitialPlaintext} {
		for _, version := range []byte{bundleVersion1, bundleVersionPQ} {
			t.Run(fmt.Sprintf("v%d/%d", version, n), func(t *testing.T) {
				a, b := newPQSide(70), newPQSide(71)
				bp, err := newBundleVersion(b.cfg, version)
				if err != nil {
					t.Fatal(err)
				}
				if a.s, err = Initiate(a.cfg, bp.Bundle()); err != nil {
					t.Fatal(err)
				}
				pt := textOf(0, n)
				m := mustEncrypt(t, a.s, string(pt))
				var got []byte
				if b.s, got, err = Respond(b.cfg, bp, m); err != nil {
					t.Fatalf("an initial message of %d bytes (%d on the wire): %v", n, len(m), err)
				}
				if string(got) != string(pt) {
					t.Fatal("wrong plaintext")
				}
				if version == bundleVersion1 {
					return
				}
				c := &pqConv{t: t, a: a, b: b}
				for i := 0; !c.bothDone(2); i++ {
					if i == 50 {
						t.Fatal("no epoch completed")
					}
					c.step(balanced, i, textEnvelope+100)
				}
			})
		}
	}
}

// TestPQRespondFromAnyInitialMessage: the joiner's initial messages each
// carry ek chunks from where the last one stopped; the inviter can start
// from whichever arrives first, and the epoch completes.
func TestPQRespondFromAnyInitialMessage(t *testing.T) {
	for first := range 6 {
		t.Run(fmt.Sprint(first), func(t *testing.T) {
			a, b := newPQSide(72), newPQSide(73)
			bp, err := newBundleVersion(b.cfg, bundleVersionPQ)
			if err != nil {
				t.Fatal(err)
			}
			if a.s, err = Initiate(a.cfg, bp.Bundle()); err != nil {
				t.Fatal(err)
			}
			var ms [][]byte
			for i := range first + 1 {
				ms = append(ms, mustEncrypt(t, a.s, fmt.Sprintf("initial %d", i)))
			}
			if b.s, _, err = Respond(b.cfg, bp, ms[first]); err != nil {
				t.Fatal(err)
			}
			for i := range first {
				mustDecrypt(t, b.s, ms[i], fmt.Sprintf("initial %d", i))
			}
			c := &pqConv{t: t, a: a, b: b}
			for i := 0; !c.bothDone(3); i++ {
				if i == 50 {
					t.Fatal("epochs did not complete")
				}
				c.step(balanced, i, textEnvelope+100)
			}
		})
	}
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestPQDrawsAndFailures delivers every message of conversations several
// times: to a copy that counts its draws, with Rand failing and with the
// X25519 source failing, tampered, then normally. Encrypt draws exactly the
// nonce (24) from Rand. Decrypt draws 0 or 32 bytes of X25519 key and, from
// Rand, nothing, an encapsulation seed (32) or a key-generation seed (64)
// (spec/session.md §14.2); a decrypt whose draw fails fails whole and
// leaves the state byte for byte as it was.
func TestPQDrawsAndFailures(t *testing.T) {
	for _, pat := range []pattern{balanced, aTalks, bTalks} {
		t.Run(pat.String(), func(t *testing.T) {
			a, b := pqPairVersion(t, 74, 2)
			c := &pqConv{t: t, a: a, b: b}
			var keygen, encaps int
			for i := 0; !c.bothDone(4); i++ {
				if i == 200 {
					t.Fatal("epochs did not complete")
				}
				fromA := i%2 == 1
				switch pat {
				case aTalks:
					fromA = i%(burst+1) != 0
				case bTalks:
					fromA = i%(burst+1) == burst
				}
				from, to := a, b
				if !fromA {
					from, to = b, a
				}
				from.rand.take()
				from.dh.take()
				pt := textOf(i, textEnvelope+100)
				m, err := from.s.Encrypt(pt)
				if err != nil {
					t.Fatal(err)
				}
				if r, d := from.rand.take(), from.dh.take(); len(r) != crypto.XNonceSize || len(d) != 0 {
					t.Fatalf("message %d: Encrypt drew %d bytes and %d of X25519 key, want %d and 0", i, len(r), len(d), crypto.XNonceSize)
				}

				state := to.s.Marshal()
				cr, cd := &countReader{r: chacha(uint64(i))}, &countReader{r: chacha(uint64(i) + 1<<40)}
				cfg := to.cfg
				cfg.Rand, cfg.dhRand = cr, cd
				probe, err := ParseSession(cfg, state)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := probe.Decrypt(m); err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if cd.n != 0 && cd.n != crypto.KeySize {
					t.Fatalf("message %d: %d bytes of X25519 key drawn", i, cd.n)
				}
				switch cr.n {
				case 0:
				case crypto.KEM768SeedSize:
					keygen++
				case 32:
					encaps++
				default:
					t.Fatalf("message %d: Decrypt drew %d bytes from Rand", i, cr.n)
				}

				for _, failDH := range []bool{false, true} {
					if (failDH && cd.n == 0) || (!failDH && cr.n == 0) {
						continue
					}
					cfg := to.cfg
					if failDH {
						cfg.dhRand = failingReader{}
					} else {
						cfg.Rand = failingReader{}
					}
					to.s.SetConfig(cfg)
					if pt, err := to.s.Decrypt(m); err == nil {
						t.Fatalf("message %d: decrypted (%q) although a draw failed", i, pt)
					}
					if !bytes.Equal(state, to.s.Marshal()) {
						t.Fatalf("message %d: a failed draw (X25519: %v) changed the state", i, failDH)
					}
				}
				to.s.SetConfig(to.cfg)
				// A tampered copy (type, header, body, last byte) fails on
				// every path, the trial of a DH step in send-ct included,
				// and changes nothing.
				for _, at := range []int{0, 1 + 30, len(m) / 2, len(m) - 1} {
					tm := bytes.Clone(m)
					tm[at] ^= 0x01
					expectFail(t, to.s, tm, tamperErr(to.s, tm))
				}
				mustDecrypt(t, to.s, m, string(pt))
				c.sent++
				if fromA {
					c.sentBy[0]++
				} else {
					c.sentBy[1]++
				}
			}
			ea, eb := c.epochs()
			t.Logf("%d messages: %d key generations and %d encapsulations in decrypts, %d/%d epochs", c.sent, keygen, encaps, ea, eb)
			if keygen == 0 || encaps == 0 {
				t.Fatal("no PQ draw happened in a decrypt: the test checks nothing")
			}
		})
	}
}

// TestPQInvalidEKFromPeer: a peer whose ek does not parse (a coefficient
// out of range) gets ErrAuth for the message that completes it, and the
// receiver's state does not change (spec/session.md §14.2).
func TestPQInvalidEKFromPeer(t *testing.T) {
	a, b := pqPairVersion(t, 75, 2)
	c := &pqConv{t: t, a: a, b: b}
	for i := 0; b.s.PQ().Phase != "send-ek"; i++ {
		if i == 50 {
			t.Fatal("the inviter never sends an ek")
		}
		c.step(balanced, i, textEnvelope+100)
	}
	for i := range b.s.pq.ek[:crypto.KEM768PublicSize-32] {
		b.s.pq.ek[i] = 0xff // coefficients 4095 ≥ q
	}
	b.s.pq.digest = pqDigest(b.s.pq.ek[:]) // named as its sender names it
	m1 := mustEncrypt(t, b.s, "first half")
	m2 := mustEncrypt(t, b.s, "second half")
	mustDecrypt(t, a.s, m1, "first half")
	if a.s.PQ().Phase != "recv-ek" {
		t.Fatalf("joiner in %s, want recv-ek", a.s.PQ().Phase)
	}
	expectFail(t, a.s, m2, ErrAuth)
}

// TestPQResetStartsOn: a session from a reset offer of version 0x02 runs
// the KEM ratchet on both sides, through the offer's and the private
// half's encodings, and its epochs complete; one from a 0x01 offer is off.
func TestPQResetStartsOn(t *testing.T) {
	for _, v := range []byte{resetVersion1, resetVersionPQ} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			alice, bob, ida, idb := identPair(t, 76)
			rp, err := newResetVersion(newPQSide(77).cfg, 1_700_000_000_000, v)
			if err != nil {
				t.Fatal(err)
			}
			o, err := ParseReset(rp.Message(idb, ida.Public()), alice.Remote(), alice.Local())
			if err != nil {
				t.Fatal(err)
			}
			on := v == resetVersionPQ
			if o.PQ() != on {
				t.Fatalf("offer PQ() = %v", o.PQ())
			}
			a, b := newPQSide(78), newPQSide(79)
			if a.s, err = AcceptReset(a.cfg, ida, alice.Remote(), o); err != nil {
				t.Fatal(err)
			}
			rp2, err := ParseResetPrivate(rp.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			if b.s, _, err = CompleteReset(b.cfg, idb, bob.Remote(), rp2, mustEncrypt(t, a.s, "answer")); err != nil {
				t.Fatal(err)
			}
			if a.s.PQ().On != on || b.s.PQ().On != on {
				t.Fatalf("sessions on: %v and %v, want %v", a.s.PQ().On, b.s.PQ().On, on)
			}
			c := &pqConv{t: t, a: a, b: b}
			for i := 0; i < 20; i++ {
				c.step(balanced, i, textEnvelope+100)
			}
			if ea, eb := c.epochs(); on && (ea < 2 || eb < 2) {
				t.Fatalf("epochs %d/%d after 20 messages", ea, eb)
			}
		})
	}
}

// TestPQEpochCounterSaturates: near 2^32 − 1 the epoch number stops
// advancing (spec/session.md §14.2) and the conversation goes on, epochs
// still completing, through save and restore.
func TestPQEpochCounterSaturates(t *testing.T) {
	a, b := pqPairVersion(t, 77, 2)
	c := &pqConv{t: t, a: a, b: b}
	for i := range 10 {
		c.step(balanced, i, textEnvelope+100)
	}
	shift := uint32(math.MaxUint32-3) - max(a.s.pq.epoch, b.s.pq.epoch)
	shift &^= 1 // an even shift keeps each side's role (§14.2)
	a.s.pq.epoch += shift
	b.s.pq.epoch += shift
	a.s.pq.done += shift // done stays epoch − 1 (§10)
	b.s.pq.done += shift
	da, db := c.epochs()
	for i := 10; i < 80; i++ {
		c.step(balanced, i, textEnvelope+100)
		for _, p := range []*pqSide{a, b} {
			s, err := ParseSession(p.cfg, p.s.Marshal())
			if err != nil {
				t.Fatalf("message %d: restore at epoch %d: %v", i, p.s.pq.epoch, err)
			}
			p.s = s
		}
	}
	if a.s.pq.epoch != math.MaxUint32 || b.s.pq.epoch != math.MaxUint32 {
		t.Fatalf("epochs %d and %d, want both at 2^32 − 1", a.s.pq.epoch, b.s.pq.epoch)
	}
	if ea, eb := c.epochs(); ea < da+8 || eb < db+8 {
		t.Fatalf("completed epochs went %d→%d and %d→%d in 70 messages", da, ea, db, eb)
	}
}
