package client

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
	"veil/relay/conn"
	"veil/relay/wire"
	"veil/vault"
)

// TestGroupJoinLargeGroup grows a group past what one welcome entry could
// carry (200 members, built cheaply in the admin's stored state), then
// lets one more member in through the real invite flow on a real relay:
// the welcome travels in parts, the joiner enters with the whole roster
// and reads the admin's next message.
func TestGroupJoinLargeGroup(t *testing.T) {
	t.Parallel()
	// 200: past the old one-entry limit (2 parts); 999: the join that
	// fills a group to MaxGroupMembers (7 parts), in the long tier only
	// (-short leaves it out: it takes a minute under the race detector).
	sizes := []int{200, ratchet.MaxGroupMembers - 1}
	if testing.Short() {
		sizes = sizes[:1]
	}
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) { testGroupJoinLargeGroup(t, n) })
	}
}

func testGroupJoinLargeGroup(t *testing.T, n int) {
	ctx := context.Background()
	addr := startGroupRelay(t).String()
	ana, _ := groupEngine(t, addr)
	ben, benEv := groupEngine(t, addr)
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "square", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	growGroup(t, ana, gid, n)
	key, err := ana.GroupInvite(ctx, gid, 0)
	if err != nil {
		t.Fatal(err)
	}
	bid, err := ben.Join(ctx, key, JoinOptions{As: "ben"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ana.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ben.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	ms, _, err := ben.GroupMembers(ctx, bid)
	if err != nil || len(ms) != n+1 || !ms[n].You || ms[n].Nick != "ben" {
		t.Fatalf("ben sees %d members: %v", len(ms), err)
	}
	if _, err := ana.Send(ctx, gid, "welcome, ben", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := ben.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := ben.Messages(ctx, bid, 0)
	if err != nil || !slices.ContainsFunc(got, func(m MessageInfo) bool { return m.From == "ana" && m.Text == "welcome, ben" }) {
		t.Fatalf("ben's messages %+v: %v", got, err)
	}
	if evs := pendingEvents(benEv); !hasEventType(evs, EventGroupJoined) {
		t.Fatalf("ben's events: %+v", evs)
	}
}

// growGroup makes ana's group one of n members (the others exist only as
// roster entries) in a new epoch ana commits alone; the roster must be
// too large for one welcome entry.
func growGroup(t testing.TB, ana *Engine, gid string, n int) {
	t.Helper()
	ctx := context.Background()
	err := ana.withGroup(ctx, gid, func(g *groupState, _ *groupRecord, c *conn.Conn, _ *vault.Chat) ([]Event, error) {
		r := g.cur.roster.Clone()
		r.Epoch++
		r.Members = append(r.Members, bigRoster(t, n).Members[1:]...)
		if rb, err := r.Marshal(); err != nil || len(rb) <= format.WelcomePartBytes {
			t.Fatalf("a roster of %d members is %d bytes: it fits one welcome entry (%v)", n, len(rb), err)
		}
		return nil, g.jumpEpoch(ctx, c, r)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGroupWelcomeMissingPart: the joiner acts on nothing while a part of
// its welcome is missing, survives a duplicated part and garbage on the
// exchange log, and enters once the last part arrives.
func TestGroupWelcomeMissingPart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := startGroupRelay(t)
	ana, _ := groupEngine(t, a.String())
	ben, benEv := groupEngine(t, a.String())
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "square", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 400
	growGroup(t, ana, gid, n)
	key, err := ana.GroupInvite(ctx, gid, 0)
	if err != nil {
		t.Fatal(err)
	}
	bid, err := ben.Join(ctx, key, JoinOptions{As: "ben"})
	if err != nil {
		t.Fatal(err)
	}
	// Ana answers, but the welcome's last part is held back.
	var held []pendingAppend
	var inv []byte
	err = ana.withGroup(ctx, gid, func(g *groupState, rec *groupRecord, c *conn.Conn, _ *vault.Chat) ([]Event, error) {
		inv = bytes.Clone(rec.Invites[0].LogID)
		evs, err := ana.serveInvites(ctx, g, rec, c)
		if err != nil {
			return evs, err
		}
		return g.commitNext(ctx, c) // the add commit, uploaded by withGroup
	})
	if err != nil {
		t.Fatal(err)
	}
	err = ana.withGroup(ctx, gid, func(g *groupState, rec *groupRecord, c *conn.Conn, _ *vault.Chat) ([]Event, error) {
		evs, err := g.poll(ctx, c) // the commit read back: it won, the welcome is owed
		if err != nil {
			return evs, err
		}
		evs = append(evs, ana.sendWelcomes(g, rec)...)
		var keep []pendingAppend
		for _, p := range g.out {
			if bytes.Equal(p.Log, inv) {
				held = append(held, p)
			}
		}
		for _, p := range g.out {
			if !bytes.Equal(p.Log, inv) || len(held) == 0 || !bytes.Equal(p.Body, held[len(held)-1].Body) {
				keep = append(keep, p)
			}
		}
		g.out = keep
		return evs, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(held) < 3 {
		t.Fatalf("the welcome of %d members went in %d parts", n+1, len(held))
	}
	for range 2 {
		if err := ben.GroupSync(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ben.GroupMembers(ctx, bid); err == nil {
			t.Fatal("ben entered the group with a part of the welcome missing")
		}
	}
	c := dialGroupRelay(t, a)
	put := func(p pendingAppend, body []byte) {
		t.Helper()
		id, err := crypto.ParseID(p.Log)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Append(ctx, id, (*[wire.CapSize]byte)(p.Cap), body)
		if err != nil {
			t.Fatal(err)
		}
	}
	put(held[0], held[0].Body)                      // a duplicate of the welcome key entry
	put(held[1], held[1].Body)                      // a duplicate of the first part
	put(held[0], make([]byte, crypto.Buckets()[0])) // garbage that does not open
	if err := ben.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ben.GroupMembers(ctx, bid); err == nil {
		t.Fatal("ben entered the group with a part of the welcome missing")
	}
	last := held[len(held)-1]
	put(last, last.Body)
	if err := ben.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	ms, _, err := ben.GroupMembers(ctx, bid)
	if err != nil || len(ms) != n+1 || !ms[n].You {
		t.Fatalf("ben sees %d members: %v; events %+v", len(ms), err, pendingEvents(benEv))
	}
}

// BenchmarkGroupWelcome is the welcome into a full group (1,000 members,
// every nickname 32 bytes): the admin cuts and seals its parts, the joiner
// opens, reassembles and decodes them. parts/op and relay-bytes/op are
// what the exchange log stores.
func BenchmarkGroupWelcome(b *testing.B) {
	rb, err := bigRoster(b, ratchet.MaxGroupMembers).Marshal()
	if err != nil {
		b.Fatal(err)
	}
	w := (&format.GroupWelcome{Roster: rb}).Marshal()
	var key crypto.SymKey
	var logID crypto.ID
	parts, stored := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		pts, err := format.SplitWelcome([format.WelcomeIDSize]byte{7}, w)
		if err != nil {
			b.Fatal(err)
		}
		var asm format.WelcomeAssembler
		var whole []byte
		parts, stored = len(pts), 0
		for _, pt := range pts {
			body, err := format.SealBlob(&key, logID, pt, format.LabelGroupWelcomeAD, nil)
			if err != nil {
				b.Fatal(err)
			}
			stored += len(body)
			opened, err := format.OpenBlob(&key, logID, body, format.LabelGroupWelcomeAD)
			if err != nil {
				b.Fatal(err)
			}
			p, err := format.ParseWelcomePart(opened)
			if err != nil {
				b.Fatal(err)
			}
			whole, _ = asm.Add(p)
		}
		got, err := format.ParseGroupWelcome(whole)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := format.ParseRoster(got.Roster); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(parts), "parts/op")
	b.ReportMetric(float64(stored), "relay-bytes/op")
}
