package format

import (
	"fmt"
	"testing"

	"veil/crypto"
	"veil/ratchet"
)

// BenchmarkGroupUpdateCommit is an update commit (spec/groups.md §6.3) in
// a group of n members: "build" is the updating member's side (three new
// keys, the commit, a new epoch secret hybrid-sealed to every member, the
// new epoch derived, the log ID sealed, the commit signed and encoded);
// "open" is every other member's (parse, verify, open its sealed secret,
// derive the new epoch, open the log ID). It reports the commit's size.
func BenchmarkGroupUpdateCommit(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		ro, keys := testRoster(b, n)
		me := n - 1 // the updating member
		octx := ctxOf(ro)
		build := func() (*Commit, *Roster, error) {
			s, err := crypto.GenerateSign(nil)
			if err != nil {
				return nil, nil, err
			}
			d, err := crypto.GenerateDH(nil)
			if err != nil {
				return nil, nil, err
			}
			q, err := crypto.GenerateKEM768(nil)
			if err != nil {
				return nil, nil, err
			}
			m := ro.Members[me]
			m.Sign, m.Seal, m.Kem = s.Public(), d.Public(), q.Public()
			op, err := UpdateOperand(me, &m)
			if err != nil {
				return nil, nil, err
			}
			c, next, err := MakeCommit(ro, ChangeUpdate, op)
			if err != nil {
				return nil, nil, err
			}
			secret, err := crypto.NewSymKey(nil)
			if err != nil {
				return nil, nil, err
			}
			defer secret.Wipe()
			rcpt := make([]ratchet.SealRecipient, len(next.Members))
			pubs := make([]crypto.SignPublic, len(next.Members))
			for i, m := range next.Members {
				rcpt[i] = ratchet.SealRecipient{DH: m.Seal, KEM: m.Kem}
				pubs[i] = m.Sign
			}
			nctx := ratchet.EpochContext(next.GroupID, next.Epoch)
			if c.Sealed, err = ratchet.SealEpochSecret(&secret, nctx, rcpt, nil); err != nil {
				return nil, nil, err
			}
			ep, err := ratchet.NewGroupEpoch(ratchet.Config{}, &secret, next.GroupID, next.Epoch, s, pubs)
			if err != nil {
				return nil, nil, err
			}
			if c.LogID, err = ep.SealLogID(crypto.ID{1}); err != nil {
				return nil, nil, err
			}
			c.Sign(keys[me].sign, octx)
			return c, next, nil
		}
		b.Run(fmt.Sprintf("build/%d", n), func(b *testing.B) {
			var size int
			b.ReportAllocs()
			for b.Loop() {
				c, _, err := build()
				if err != nil {
					b.Fatal(err)
				}
				size = len(c.Marshal())
			}
			b.ReportMetric(float64(size), "commit-bytes")
		})
		b.Run(fmt.Sprintf("open/%d", n), func(b *testing.B) {
			c, _, err := build()
			if err != nil {
				b.Fatal(err)
			}
			enc := c.Marshal()
			reader := 0 // the admin, who is not the updater
			b.ReportAllocs()
			for b.Loop() {
				p, err := ParseCommit(enc)
				if err != nil {
					b.Fatal(err)
				}
				next, err := p.Verify(ro, octx)
				if err != nil {
					b.Fatal(err)
				}
				nctx := ratchet.EpochContext(next.GroupID, next.Epoch)
				secret, err := ratchet.OpenEpochSecret(p.Sealed, nctx, reader, keys[reader].seal, &keys[reader].kem)
				if err != nil {
					b.Fatal(err)
				}
				pubs := make([]crypto.SignPublic, len(next.Members))
				for i, m := range next.Members {
					pubs[i] = m.Sign
				}
				ep, err := ratchet.NewGroupEpoch(ratchet.Config{}, &secret, next.GroupID, next.Epoch, keys[reader].sign, pubs)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := ep.OpenLogID(p.LogID); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(enc)), "commit-bytes")
		})
	}
}
