package relay

import (
	"net/netip"
	"testing"
	"time"
)

// TestSourceKey: an IPv4 address counts alone, an IPv6 address by its
// /64, an IPv4-mapped address as its IPv4 address (spec/relay.md §11).
func TestSourceKey(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"192.0.2.7:443", "192.0.2.7/32"},
		{"[::ffff:192.0.2.7]:443", "192.0.2.7/32"},
		{"[2001:db8:1:2:aaaa::1]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:1", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:1", "fe80::/64"},
	} {
		if got := sourceKey(netip.MustParseAddrPort(c.in)); got.String() != c.want {
			t.Errorf("%s: %v, want %s", c.in, got, c.want)
		}
	}
}

// TestBudgetDrains: a full budget refuses, half a period later takes
// half again, and after a whole period is empty; an unlimited resource
// keeps nothing.
func TestBudgetDrains(t *testing.T) {
	caps := quotaCaps{10, 0, 0, 1000}
	var b budget
	t0 := time.Unix(1e9, 0)
	one := [numDims]float64{1, 5, 0, 100}
	for i := range 10 {
		b.drain(t0, &caps, time.Hour)
		if !b.fits(&one, &caps) {
			t.Fatalf("charge %d refused", i)
		}
		b.add(&one, &caps)
	}
	if b.fits(&one, &caps) {
		t.Fatal("11th charge fits a budget of 10")
	}
	if b.used[dimLogs] != 0 {
		t.Fatal("an unlimited resource was counted")
	}
	b.drain(t0.Add(30*time.Minute), &caps, time.Hour)
	if b.used[dimMailboxes] != 5 || !b.fits(&one, &caps) {
		t.Fatalf("after half a period: %v", b.used)
	}
	b.drain(t0.Add(2*time.Hour), &caps, time.Hour)
	if !b.empty() {
		t.Fatalf("after a period: %v", b.used)
	}
}

// TestAbuseTableBounded: addresses that hold no connection and whose
// budget drained are forgotten; beyond MaxTrackedAddrs, addresses share
// the overflow entry, which no connection cap applies to.
func TestAbuseTableBounded(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := Limits{MaxTrackedAddrs: 2, MaxConnsPerAddr: 1}.withDefaults()
	a := newAbuse(&l, func() time.Time { return now })
	e1 := a.connect("192.0.2.1:1")
	if e1 == nil || a.connect("192.0.2.1:2") != nil {
		t.Fatal("connection cap of 1 not kept")
	}
	e2 := a.connect("192.0.2.2:1")
	e3 := a.connect("192.0.2.3:1")
	e4 := a.connect("192.0.2.4:1")
	if e3 != a.overflow || e4 != a.overflow || a.tracked() != 2 {
		t.Fatalf("table of %d, overflow %v %v", a.tracked(), e3 == a.overflow, e4 == a.overflow)
	}
	e1.budget.used[dimBlobs] = 1 // charged: stays after its connection
	a.disconnect(e1)
	a.disconnect(e2)
	if a.tracked() != 1 {
		t.Fatalf("%d tracked, want the charged one", a.tracked())
	}
	now = now.Add(l.QuotaPeriod)
	a.sweep(now)
	if a.tracked() != 0 {
		t.Fatalf("%d tracked after its budget drained", a.tracked())
	}
	a.disconnect(e3)
	a.disconnect(e4)
	if a.overflow.conns != 0 {
		t.Fatalf("overflow holds %d connections", a.overflow.conns)
	}
}
