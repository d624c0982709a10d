package client

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"veil/crypto"
	"veil/ratchet"
	"veil/relay/conn"
	"veil/relay/wire"
	"veil/vault"
)

// bigRoster is a roster of n members with the longest nicknames.
func bigRoster(t testing.TB, n int) *roster {
	t.Helper()
	r := &roster{Epoch: 1, Settings: groupSettings{Name: strings.Repeat("g", maxGroupName)}}
	for i := range n {
		s, d, err := newGroupKeys(ratchet.Config{})
		if err != nil {
			t.Fatal(err)
		}
		nick := fmt.Sprintf("%0*d", maxGroupNick, i)
		r.Members = append(r.Members, groupMember{Sign: s.Public(), Seal: d.Public(), Role: roleMember, Nick: nick})
	}
	r.Members[0].Role = roleAdmin
	return r
}

// TestWelcomeSizeAt1000 records the welcome of a full group (1,000
// members, every nickname 32 bytes) and checks it fits the part limit.
func TestWelcomeSizeAt1000(t *testing.T) {
	rb, err := bigRoster(t, ratchet.MaxGroupMembers).marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(rb) != maxRosterSize {
		t.Fatalf("roster of 1,000 longest entries is %d bytes, maxRosterSize says %d", len(rb), maxRosterSize)
	}
	w := (&groupWelcome{Roster: rb}).marshal()
	parts, err := splitWelcome([welcomeIDSize]byte{1}, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != maxWelcomeSize || len(parts) != maxWelcomeParts || maxWelcomeParts != 7 {
		t.Fatalf("welcome %d bytes in %d parts (limit %d)", len(w), len(parts), maxWelcomeParts)
	}
	var key crypto.SymKey
	stored := 0
	for _, pt := range parts {
		body, err := sealBlob(&key, crypto.ID{}, pt, labelGroupWelcomeAD, nil)
		if err != nil {
			t.Fatal(err)
		}
		stored += len(body)
	}
	if stored != 6*crypto.MaxBody+crypto.Buckets[1] {
		t.Fatalf("the welcome takes %d bytes on the relay", stored)
	}
	t.Logf("welcome at 1,000 members: %d bytes, %d parts of at most %d bytes, %d bytes on the relay",
		len(w), len(parts), welcomePartBytes, stored)
	if _, err := splitWelcome([welcomeIDSize]byte{1}, make([]byte, maxWelcomeParts*welcomePartBytes+1)); err == nil {
		t.Fatal("a welcome past the part limit was split")
	}
}

func TestWelcomeAssembler(t *testing.T) {
	w := make([]byte, 3*welcomePartBytes-5)
	for i := range w {
		w[i] = byte(i * 7)
	}
	split := func(id byte) []*welcomePart {
		pts, err := splitWelcome([welcomeIDSize]byte{id}, w)
		if err != nil {
			t.Fatal(err)
		}
		var out []*welcomePart
		for _, pt := range pts {
			p, err := parseWelcomePart(pt)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
		return out
	}
	a, b := split(1), split(2)
	if len(a) != 3 {
		t.Fatalf("%d parts", len(a))
	}

	// Out of order, with a duplicate: complete only with the last part.
	var asm welcomeAssembler
	for _, p := range []*welcomePart{a[2], a[0], a[2]} {
		if got, _ := asm.add(p); got != nil {
			t.Fatal("a welcome came out before every part was in")
		}
	}
	if got, _ := asm.add(a[1]); !bytes.Equal(got, w) {
		t.Fatal("reassembled welcome differs")
	}

	// A missing part: nothing, ever.
	asm = welcomeAssembler{}
	for _, p := range []*welcomePart{a[0], a[1], a[0], a[1]} {
		if got, _ := asm.add(p); got != nil {
			t.Fatal("a welcome with a part missing came out")
		}
	}

	// Parts of two welcomes interleaved never mix.
	asm = welcomeAssembler{}
	for _, p := range []*welcomePart{a[0], a[1], b[2], a[2], b[0], b[1]} {
		if got, _ := asm.add(p); got != nil {
			t.Fatal("parts of two welcomes were mixed into one")
		}
	}

	// A second, different part under the same index drops what was held.
	asm = welcomeAssembler{}
	forged := &welcomePart{ID: a[1].ID, Part: 1, Parts: 3, Bytes: bytes.Repeat([]byte{9}, len(a[1].Bytes))}
	asm.add(a[0])
	asm.add(a[1])
	if _, restarted := asm.add(forged); !restarted {
		t.Fatal("a conflicting part was accepted silently")
	}
	if got, _ := asm.add(a[2]); got != nil {
		t.Fatal("a welcome with a conflicting part came out")
	}

	// Malformed parts are refused.
	good, _ := a[0].marshal()
	for _, bad := range [][]byte{nil, good[:welcomePartHdr], append([]byte{2}, good[1:]...)} {
		if _, err := parseWelcomePart(bad); err == nil {
			t.Fatalf("parsed a bad part %x", bad[:min(len(bad), 12)])
		}
	}
	bad := bytes.Clone(good)
	bad[1+welcomeIDSize], bad[2+welcomeIDSize] = 3, 3
	if _, err := parseWelcomePart(bad); err == nil {
		t.Fatal("parsed a part whose index is not below its count")
	}
	bad[1+welcomeIDSize], bad[2+welcomeIDSize] = 0, maxWelcomeParts+1
	if _, err := parseWelcomePart(bad); err == nil {
		t.Fatal("parsed a part whose count is above the limit")
	}
}

func FuzzWelcomePart(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xaa})
	f.Add([]byte{1, 1, 2, 3, 4, 5, 6, 7, 8, 6, 7, 0xaa, 0xbb})
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := parseWelcomePart(in)
		if err != nil {
			if p != nil {
				t.Fatal("a part and an error")
			}
			return
		}
		out, err := p.marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// TestGroupJoinLargeGroup grows a group past what one welcome entry could
// carry (200 members, built cheaply in the admin's stored state), then
// lets one more member in through the real invite flow on a real relay:
// the welcome travels in parts, the joiner enters with the whole roster
// and reads the admin's next message.
func TestGroupJoinLargeGroup(t *testing.T) {
	// 200: past the old one-entry limit (2 parts); 999: the join that
	// fills a group to MaxGroupMembers (7 parts).
	for _, n := range []int{200, ratchet.MaxGroupMembers - 1} {
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
func growGroup(t *testing.T, ana *Engine, gid string, n int) {
	t.Helper()
	ctx := context.Background()
	err := ana.withGroup(ctx, gid, func(g *groupState, _ *groupRecord, c *conn.Conn, _ *vault.Chat) ([]Event, error) {
		r := g.cur.roster.clone()
		r.Epoch++
		r.Members = append(r.Members, bigRoster(t, n).Members[1:]...)
		if rb, err := r.marshal(); err != nil || len(rb) <= welcomePartBytes {
			t.Fatalf("a roster of %d members is %d bytes: it fits one welcome entry (%v)", n, len(rb), err)
		}
		secret, err := crypto.NewSymKey(nil)
		if err != nil {
			return nil, err
		}
		if err := g.enter(ctx, c, r, &secret, nil); err != nil {
			return nil, err
		}
		g.prev, g.secret = nil, &secret
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGroupWelcomeMissingPart: the joiner acts on nothing while a part of
// its welcome is missing, survives a duplicated part and garbage on the
// exchange log, and enters once the last part arrives.
func TestGroupWelcomeMissingPart(t *testing.T) {
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
	err = ana.withGroup(ctx, gid, func(g *groupState, rec *groupRecord, c *conn.Conn, _ *vault.Chat) ([]Event, error) {
		inv := bytes.Clone(rec.Invites[0].LogID)
		evs, err := ana.serveInvites(ctx, g, rec, c)
		if err != nil {
			return evs, err
		}
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
	put(held[0], held[0].Body)                    // a duplicate of the first part
	put(held[0], make([]byte, crypto.Buckets[0])) // garbage that does not open
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
	rb, err := bigRoster(b, ratchet.MaxGroupMembers).marshal()
	if err != nil {
		b.Fatal(err)
	}
	w := (&groupWelcome{Roster: rb}).marshal()
	var key crypto.SymKey
	var logID crypto.ID
	parts, stored := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		pts, err := splitWelcome([welcomeIDSize]byte{7}, w)
		if err != nil {
			b.Fatal(err)
		}
		var asm welcomeAssembler
		var whole []byte
		parts, stored = len(pts), 0
		for _, pt := range pts {
			body, err := sealBlob(&key, logID, pt, labelGroupWelcomeAD, nil)
			if err != nil {
				b.Fatal(err)
			}
			stored += len(body)
			opened, err := openBlob(&key, logID, body, labelGroupWelcomeAD)
			if err != nil {
				b.Fatal(err)
			}
			p, err := parseWelcomePart(opened)
			if err != nil {
				b.Fatal(err)
			}
			whole, _ = asm.add(p)
		}
		got, err := parseGroupWelcome(whole)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := parseRoster(got.Roster); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(parts), "parts/op")
	b.ReportMetric(float64(stored), "relay-bytes/op")
}
