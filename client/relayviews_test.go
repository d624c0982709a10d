package client

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay/relaytest"
	"veil/relay/wire"
)

// connView is what a relay saw of one connection.
type connView struct {
	id          uint64
	remote      netip.Addr
	types       map[wire.Type]int
	ids         map[[24]byte]bool
	byType      map[wire.Type]*typeView
	first, last time.Time
}

// typeView is what one connection's commands of one type named.
type typeView struct {
	ids   map[[24]byte]bool
	sizes map[int]bool
}

func (v *connView) has(ts ...wire.Type) bool {
	return slices.ContainsFunc(ts, func(t wire.Type) bool { return v.types[t] > 0 })
}

// views groups a recorder's items by connection, in connection order.
func views(rec *relaytest.Recorder) []*connView {
	m := map[uint64]*connView{}
	for id, r := range rec.Conns() {
		m[id] = &connView{id: id, remote: r.Addr(), types: map[wire.Type]int{}, ids: map[[24]byte]bool{},
			byType: map[wire.Type]*typeView{}}
	}
	for _, it := range rec.Items() {
		v := m[it.Conn]
		if v == nil {
			continue
		}
		v.types[it.Type]++
		tv := v.byType[it.Type]
		if tv == nil {
			tv = &typeView{ids: map[[24]byte]bool{}, sizes: map[int]bool{}}
			v.byType[it.Type] = tv
		}
		for _, id := range it.IDs {
			v.ids[id] = true
			tv.ids[id] = true
		}
		if it.Size > 0 {
			tv.sizes[it.Size] = true
		}
		if v.first.IsZero() {
			v.first = it.Time
		}
		v.last = it.Time
	}
	var out []*connView
	for _, id := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[id])
	}
	return out
}

// sizes returns the body sizes of v's commands of type ty.
func (v *connView) sizesOf(ty wire.Type) []int {
	if tv := v.byType[ty]; tv != nil {
		return slices.Sorted(maps.Keys(tv.sizes))
	}
	return nil
}

// who names a test address.
func who(a netip.Addr) string {
	switch a {
	case ipAna:
		return "A"
	case ipBen:
		return "B"
	case ipFwd:
		return "F→"
	}
	return a.String()
}

// printViews logs one relay's table (go test -v shows it).
func printViews(t *testing.T, relay string, vs []*connView, names map[[24]byte]string, t0 time.Time) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s sees:\n", relay)
	for _, v := range vs {
		var types []string
		for _, ty := range slices.Sorted(maps.Keys(v.types)) {
			types = append(types, fmt.Sprintf("%v×%d", ty, v.types[ty]))
		}
		var ids []string
		for id := range v.ids {
			n := names[id]
			if n == "" {
				n = fmt.Sprintf("%x…", id[:3])
			}
			ids = append(ids, n)
		}
		slices.Sort(ids)
		var sizes []string
		for _, ty := range slices.Sorted(maps.Keys(v.byType)) {
			if ss := v.sizesOf(ty); len(ss) > 0 {
				sizes = append(sizes, fmt.Sprintf("%v%v", ty, ss))
			}
		}
		fmt.Fprintf(&b, "  conn %d from %-3s  %-40s  ids %-40s  sizes %s  %v..%v\n", v.id, who(v.remote),
			strings.Join(types, " "), strings.Join(ids, ","), strings.Join(sizes, " "),
			v.first.Sub(t0).Round(time.Millisecond), v.last.Sub(t0).Round(time.Millisecond))
	}
	t.Log(b.String())
}

// TestRelayViews measures what each relay learns of a chat A↔B whose
// mailboxes are on two relays (A's on RA, B's on RB), sent directly and
// through a forwarding relay F, and asserts the rows of SECURITY.md's
// table (spec/relay.md §9). A, B and F's relay-to-relay connections come
// from their own loopback addresses, so the relays can tell them apart
// as they would tell real addresses apart.
func TestRelayViews(t *testing.T) {
	t.Parallel()
	for _, routed := range []bool{false, true} {
		name := "direct"
		if routed {
			name = "private routing"
		}
		t.Run(name, func(t *testing.T) { relayViews(t, routed) })
	}
}

func relayViews(t *testing.T, routed bool) {
	var recA, recB, recF relaytest.Recorder
	ra := relaytest.Start(t, relaytest.WithObserver(&recA))
	rb := relaytest.Start(t, relaytest.WithObserver(&recB))
	rf := relaytest.Start(t, relaytest.WithObserver(&recF), relaytest.WithR2RFrom(ipFwd.String()))
	t0 := time.Now()
	ana := startLive(t, ra.Address.String(), dialFrom(ipAna))
	ben := startLive(t, rb.Address.String(), dialFrom(ipBen))
	mode := RoutingOff
	if routed {
		mode = RoutingAlways // auto would not forward through a loopback relay
	}
	setRouting(t, ana, mode, rf.Address.String())
	setRouting(t, ben, mode, rf.Address.String())
	withBen, withAna := liveChat(t, ana, ben, InviteOptions{}, JoinOptions{Relay: rb.Address.String()})
	long := strings.Repeat("long text ", 60)
	for _, s := range []string{"hi", long} {
		say(t, ana, withBen, s)
		ben.waitText(t, withAna, s)
		say(t, ben, withAna, s)
		ana.waitText(t, withBen, s)
	}

	va, vb, vf := views(&recA), views(&recB), views(&recF)
	// Each mailbox is named by the NEW that made it: recipient and
	// sender ID.
	names := map[[24]byte]string{}
	mailbox := func(vs []*connView, owner netip.Addr, label string) map[[24]byte]bool {
		for _, v := range vs {
			if v.remote == owner && v.has(wire.TypeNEW) && v.has(wire.TypeSUB) {
				ids := map[[24]byte]bool{}
				for id := range v.byType[wire.TypeNEW].ids {
					ids[id] = true
					names[id] = label
				}
				return ids
			}
		}
		t.Fatalf("no receiving connection of %s", label)
		return nil
	}
	mbA := mailbox(va, ipAna, "A's mailbox")
	mbB := mailbox(vb, ipBen, "B's mailbox")
	printViews(t, "RA (A's relay)", va, names, t0)
	printViews(t, "RB (B's relay)", vb, names, t0)
	printViews(t, "F (forwarder)", vf, names, t0)

	writers := func(vs []*connView, mb map[[24]byte]bool) []*connView {
		var out []*connView
		for _, v := range vs {
			if v.has(wire.TypeSEND, wire.TypeSKEY, wire.TypeTAKE) && !v.has(wire.TypeNEW) &&
				slices.ContainsFunc(slices.Collect(maps.Keys(v.ids)), func(id [24]byte) bool { return mb[id] }) {
				out = append(out, v)
			}
		}
		return out
	}

	// Own relay: my address on the receiving connection, and my
	// mailboxes on it; never on the same connection as a write.
	for _, c := range []struct {
		relay string
		vs    []*connView
		owner netip.Addr
		mb    map[[24]byte]bool
		other netip.Addr
	}{{"RA", va, ipAna, mbA, ipBen}, {"RB", vb, ipBen, mbB, ipAna}} {
		for _, v := range c.vs {
			if v.has(wire.TypeSUB) && v.has(wire.TypeSEND, wire.TypeTAKE) {
				t.Errorf("%s: connection %d both subscribes and writes", c.relay, v.id)
			}
			for _, s := range v.sizesOf(wire.TypeSEND) {
				if !wire.IsBucket(s) {
					t.Errorf("%s: a SEND of %d bytes, not a bucket", c.relay, s)
				}
			}
		}
		ws := writers(c.vs, c.mb)
		if len(ws) == 0 {
			t.Fatalf("%s: nobody wrote to %s's mailbox", c.relay, who(c.owner))
		}
		for _, w := range ws {
			// Contact's relay: directly it sees the writer's address on a
			// connection of its own; through F only F's.
			want := c.other
			if routed {
				want = ipFwd
			}
			if w.remote != want {
				t.Errorf("%s: %s's mailbox written from %s, want %s", c.relay, who(c.owner), who(w.remote), who(want))
			}
			if w.has(wire.TypeSUB, wire.TypeNEW) {
				t.Errorf("%s: the writing connection %d also receives", c.relay, w.id)
			}
			if c.owner == ipBen && len(w.sizesOf(wire.TypeSEND)) != 1 {
				// A's SENDs to B's mailbox: "hi", 600 bytes of text and
				// receipts all fill one bucket (B's first message, the
				// HELLO with its keys, is the one that fills a larger one).
				t.Errorf("%s: SENDs of sizes %v: lengths show", c.relay, w.sizesOf(wire.TypeSEND))
			}
		}
		for _, w := range ws {
			if routed && (!w.has(wire.TypeRFWD) || len(w.byType[wire.TypeRFWD].ids) > 0) {
				t.Errorf("%s: a forwarded write that is not an RFWD without IDs", c.relay)
			}
		}
		for _, v := range c.vs {
			if routed && v.remote == c.other {
				t.Errorf("%s: with private routing it saw %s's address", c.relay, who(c.other))
			}
		}
	}

	// Forwarding relay: both addresses, FKEY and FWD only, no mailbox
	// ID; one route per destination and connection.
	for _, v := range vf {
		if !routed {
			t.Errorf("F saw connection %d without private routing", v.id)
			continue
		}
		if v.remote != ipAna && v.remote != ipBen {
			t.Errorf("F: connection from %v", v.remote)
		}
		for ty := range v.types {
			if ty != wire.TypeFKEY && ty != wire.TypeFWD {
				t.Errorf("F: %s sent %v", who(v.remote), ty)
			}
		}
		if len(v.ids) > 0 {
			t.Errorf("F: learnt %d IDs from %s", len(v.ids), who(v.remote))
		}
		if v.types[wire.TypeFKEY] > 2 {
			t.Errorf("F: %d FKEYs from %s", v.types[wire.TypeFKEY], who(v.remote))
		}
	}
	if routed && len(vf) == 0 {
		t.Error("F saw nothing with private routing")
	}
	if routed {
		forwardedSizes(t, &recF, &recA, &recB)
	}
}

// forwardedSizes asserts that the forwarder cannot tell an SKEY, a TAKE
// and a SEND of the smallest bucket apart by size (spec/relay.md
// §7.6.3): all three kinds reached a destination through F, F saw as many
// FWDs of the padded size as the destinations ran such items, and every
// other FWD had the size of a SEND of a larger bucket. Replies still in
// flight are waited for.
func forwardedSizes(t *testing.T, recF *relaytest.Recorder, dests ...*relaytest.Recorder) {
	t.Helper()
	small := wire.ForwardPaddedSize + crypto.Overhead
	larger := map[int]bool{}
	for _, b := range crypto.Buckets()[1:] {
		larger[small+b-wire.MinBucket] = true
	}
	var kinds map[wire.Type]int
	var items, fwds int
	var sizes []int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		kinds, items, fwds, sizes = map[wire.Type]int{}, 0, 0, nil
		for _, rec := range dests {
			for _, it := range rec.Items() {
				if rec.Remote(it.Conn).Addr() != ipFwd {
					continue
				}
				if it.Type == wire.TypeSKEY || it.Type == wire.TypeTAKE || it.Type == wire.TypeSEND && it.Size == wire.MinBucket {
					kinds[it.Type]++
					items++
				}
			}
		}
		for _, it := range recF.Items() {
			if it.Type != wire.TypeFWD {
				continue
			}
			switch {
			case it.Size == small:
				fwds++
			case !larger[it.Size]:
				sizes = append(sizes, it.Size)
			}
		}
		if fwds == items || time.Now().After(deadline) {
			break
		}
	}
	if kinds[wire.TypeSKEY] == 0 || kinds[wire.TypeTAKE] == 0 || kinds[wire.TypeSEND] == 0 {
		t.Errorf("not every kind went through F: %v", kinds)
	}
	if fwds != items {
		t.Errorf("F: %d FWDs of %d bytes for %d SKEY, TAKE and 1,024-byte SEND items %v: their sizes differ", fwds, small, items, kinds)
	}
	if len(sizes) > 0 {
		t.Errorf("F: FWDs of sizes %v, neither padded nor a larger bucket's", sizes)
	}
}
