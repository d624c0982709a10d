package client

import (
	"context"
	"fmt"
	"testing"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/wire"
	"veil/vault"
)

// benchGroupState returns an admin's state of a group of n members (the
// others exist as roster entries) whose log is on a real relay, and the
// connection.
func benchGroupState(b *testing.B, n int) (*groupState, *member) {
	b.Helper()
	// The relay's per-connection rate limit (2,000 commands/s) would be
	// what a long run measures; lift it, as the relay's own benchmarks do.
	a := startGroupRelay(b, func(c *relay.Config) { c.Limits.Rate, c.Limits.Burst = 1e6, 1e6 })
	m := &member{c: dialGroupRelay(b, a)}
	g, err := createGroup(context.Background(), m.c, ratchet.Config{}, "admin", format.Settings{Name: "bench"}, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := g.cur.roster.Clone()
	r.Epoch++
	for i := 1; i < n; i++ {
		s, d, q, err := newGroupKeys(ratchet.Config{})
		if err != nil {
			b.Fatal(err)
		}
		r.Members = append(r.Members, format.Member{Sign: s.Public(), Seal: d.Public(), Kem: q.Public(), Role: format.RoleMember, Nick: fmt.Sprint("m", i)})
	}
	if err := g.jumpEpoch(context.Background(), m.c, r); err != nil {
		b.Fatal(err)
	}
	m.g = g
	return g, m
}

// BenchmarkGroupSendRelay is one group message of 1 KiB sent to a group of
// n members through a real relay on 127.0.0.1: encrypt and sign once, one
// LAPPEND. uploads/op is counted from the relay's sequence numbers, so it
// is what the relay stored, not what the client meant to send.
func BenchmarkGroupSendRelay(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			g, m := benchGroupState(b, n)
			env := &format.GroupEnvelope{Type: format.GenvText, Text: string(make([]byte, crypto.Buckets()[0]-200))}
			ctx := context.Background()
			first := uint64(0)
			b.ReportAllocs()
			for b.Loop() {
				if err := g.append(ctx, m.c, env); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			_, rc := g.cur.epoch.Caps()
			var total uint64
			after := first
			for {
				es, err := m.c.ReadLog(ctx, g.cur.id, (*[wire.CapSize]byte)(&rc), after, groupReadBatch)
				if err != nil {
					b.Fatal(err)
				}
				if len(es) == 0 {
					break
				}
				total += uint64(len(es))
				after = es[len(es)-1].Seq
			}
			b.ReportMetric(float64(total)/float64(b.N), "uploads/op")
		})
	}
}

// BenchmarkGroupRemoveRelay is an admin removing one member of a group of
// n through a real relay: a new epoch secret sealed to the n-1 others, the
// new epoch's state, LNEW, and the signed commit appended in parts to the
// old log. parts/op is the number of uploads the commit took.
func BenchmarkGroupRemoveRelay(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			g, m := benchGroupState(b, n)
			ctx := context.Background()
			// Each iteration removes the last member and adds it back
			// untimed, so every removal is from a group of n.
			b.ReportAllocs()
			parts := 0
			for b.Loop() {
				last := g.cur.roster.Members[len(g.cur.roster.Members)-1]
				before := g.cur
				g.propose(groupIntent{Change: format.ChangeRemove, Target: last.Sign[:]})
				if _, err := g.settle(ctx, m.c); err != nil || g.pending != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				parts = logLen(b, m.c, &before) // only the commit's parts are in it
				if _, err := g.add(ctx, m.c, last); err != nil {
					b.Fatal(err)
				}
				g.prev = nil
				b.StartTimer()
			}
			b.ReportMetric(float64(parts), "parts/op")
		})
	}
}

// BenchmarkGroupSendEngine is what a user's send costs in a group of n
// members: Engine.Send seals the TEXT, stores it with the message in the
// vault, loads the group again, uploads it (one LAPPEND to a real relay
// on 127.0.0.1) and stores the group state. relay-entries/op counts what
// the relay stored.
func BenchmarkGroupSendEngine(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ctx := context.Background()
			addr := startGroupRelay(b, func(c *relay.Config) { c.Limits.Rate, c.Limits.Burst = 1e6, 1e6 }).String()
			ana, _ := groupEngine(b, addr)
			gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "bench", As: "ana"})
			if err != nil {
				b.Fatal(err)
			}
			if n > 10 {
				growGroup(b, ana, gid, n-1)
			} else {
				jumpRoster(b, ana, gid, n-1)
			}
			text := string(make([]byte, 1024))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ana.Send(ctx, gid, text, SendOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// jumpRoster makes ana's group one of n+1 members, like growGroup, for
// groups too small for growGroup's check.
func jumpRoster(b testing.TB, ana *Engine, gid string, n int) {
	b.Helper()
	err := ana.withGroup(context.Background(), gid, func(g *groupState, _ *groupRecord, c *conn.Conn, _ *vault.Chat) ([]Event, error) {
		r := g.cur.roster.Clone()
		r.Epoch++
		r.Members = append(r.Members, bigRoster(b, n+1).Members[1:]...)
		return nil, g.jumpEpoch(context.Background(), c, r)
	})
	if err != nil {
		b.Fatal(err)
	}
}
