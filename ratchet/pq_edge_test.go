package ratchet

import (
	"fmt"
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
