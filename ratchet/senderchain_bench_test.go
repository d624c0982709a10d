package ratchet

import (
	"fmt"
	"testing"

	"veil/crypto"
)

// groupPt1K fills the 1 KiB bucket exactly, like pt1K for 1:1 messages.
var groupPt1K = make([]byte, crypto.Buckets()[0]-groupOverhead-1)

// benchGroup returns a sender's and a receiver's state in an epoch of n
// members (the others exist only as roster keys), with production
// randomness.
func benchGroup(b *testing.B, n int) (sender, receiver *GroupEpoch, secret crypto.SymKey, pubs []crypto.SignPublic, keys []crypto.SignPrivate) {
	b.Helper()
	r := groupRand(uint64(n))
	secret, _ = crypto.NewSymKey(r)
	var id [GroupIDSize]byte
	for range n {
		k, err := crypto.GenerateSign(r)
		if err != nil {
			b.Fatal(err)
		}
		keys = append(keys, k)
		pubs = append(pubs, k.Public())
	}
	var err error
	if sender, err = NewGroupEpoch(Config{}, &secret, id, 1, keys[0], pubs); err != nil {
		b.Fatal(err)
	}
	if receiver, err = NewGroupEpoch(Config{}, &secret, id, 1, keys[1], pubs); err != nil {
		b.Fatal(err)
	}
	return sender, receiver, secret, pubs, keys
}

// BenchmarkGroupSend is one group message of 1 KiB on the wire: encrypt
// once and sign once, whatever the group's size. Its result is the one log
// entry every member reads (spec/groups.md §6.2), so msgs/op is 1 by
// construction; the figure to compare across sizes is ns/op.
func BenchmarkGroupSend(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s, _, _, _, _ := benchGroup(b, n)
			b.SetBytes(1024)
			b.ReportAllocs()
			msgs := 0
			for b.Loop() {
				if _, err := s.Encrypt(groupPt1K); err != nil {
					b.Fatal(err)
				}
				msgs++
			}
			b.ReportMetric(float64(msgs)/float64(b.N), "uploads/op")
		})
	}
}

// BenchmarkGroupReceive is one in-order group message of 1 KiB read by one
// member: open the header, verify the signature, step the chain, decrypt.
func BenchmarkGroupReceive(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s, rcv, _, _, _ := benchGroup(b, n)
			b.SetBytes(1024)
			b.ReportAllocs()
			const batch = 512
			msgs := make([][]byte, 0, batch)
			i := 0
			for b.Loop() {
				if i == len(msgs) {
					b.StopTimer()
					msgs, i = msgs[:0], 0
					for range batch {
						m, err := s.Encrypt(groupPt1K)
						if err != nil {
							b.Fatal(err)
						}
						msgs = append(msgs, m)
					}
					b.StartTimer()
				}
				if _, _, err := rcv.Decrypt(msgs[i]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkGroupEpochChange is the admin's side of a removal for a group of
// n members (spec/groups.md §7): a fresh epoch secret sealed to the n-1
// remaining members and the admin's own new state for the new roster. It
// reports the sealed record's size (what the admin appends to the old log)
// and the new state's encoded size (what every member stores per epoch).
func BenchmarkGroupEpochChange(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			_, _, _, pubs, keys := benchGroup(b, n)
			r := groupRand(99)
			dh := make([]SealRecipient, n-1)
			for i := range dh {
				k := newTestSealKey(b, r)
				dh[i] = k.recipient()
			}
			var id [GroupIDSize]byte
			ctx := EpochContext(id, 2)
			remaining := pubs[:n-1]
			var sealedLen, stateLen int
			b.ReportAllocs()
			for b.Loop() {
				secret, err := crypto.NewSymKey(nil)
				if err != nil {
					b.Fatal(err)
				}
				sealed, err := SealEpochSecret(&secret, ctx, dh, nil)
				if err != nil {
					b.Fatal(err)
				}
				e, err := NewGroupEpoch(Config{}, &secret, id, 2, keys[0], remaining)
				if err != nil {
					b.Fatal(err)
				}
				sealedLen, stateLen = len(sealed), len(e.Marshal())
			}
			b.ReportMetric(float64(sealedLen), "sealed-bytes")
			b.ReportMetric(float64(stateLen), "state-bytes")
		})
	}
}

// BenchmarkGroupEpochJoin is a remaining member's side of an epoch change
// for n members: one sealed secret opened and the new state derived.
func BenchmarkGroupEpochJoin(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			_, _, _, pubs, keys := benchGroup(b, n)
			r := groupRand(98)
			me := newTestSealKey(b, r)
			dh := make([]SealRecipient, n)
			for i := range dh {
				k := newTestSealKey(b, r)
				dh[i] = k.recipient()
			}
			dh[n/2] = me.recipient()
			var id [GroupIDSize]byte
			ctx := EpochContext(id, 2)
			secret, _ := crypto.NewSymKey(r)
			sealed, err := SealEpochSecret(&secret, ctx, dh, r)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				s, err := me.open(sealed, ctx, n/2)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := NewGroupEpoch(Config{}, &s, id, 2, keys[1], pubs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
