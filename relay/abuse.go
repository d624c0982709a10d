package relay

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"veil/relay/wire"
)

// Abuse limits (spec/relay.md §11 "Abuse limits"): what one connection
// and one source address may store and create, and how many connections
// an address may hold.
//
// Storage is a decaying budget, not a count of live objects: every
// mailbox, log and blob created and every byte of body stored (SEND,
// PUT, LAPPEND) is charged to the connection and the address it came
// from, and what was charged drains away evenly over QuotaPeriod,
// whether or not the object still exists. The relay thereby keeps no
// record of who created what (spec/relay.md §9: it stores no address),
// its memory is one small entry per address that is connected or was
// charged within QuotaPeriod, and an entry that drained to zero carries
// nothing and is forgotten.

// budgetDim indexes the resources a budget counts.
type budgetDim int

const (
	dimMailboxes budgetDim = iota
	dimLogs
	dimBlobs
	dimBytes
	numDims
)

// budget is what was charged to one connection or address, draining
// away at caps/period. The zero value is an empty budget.
type budget struct {
	used [numDims]float64
	last time.Time
}

// quotaCaps are the capacities of one kind of budget; a cap of 0 means
// no limit for that resource.
type quotaCaps [numDims]float64

// drain lets what was charged drain up to now.
func (b *budget) drain(now time.Time, caps *quotaCaps, period time.Duration) {
	if b.last.IsZero() || !now.After(b.last) {
		if b.last.IsZero() {
			b.last = now
		}
		return
	}
	frac := float64(now.Sub(b.last)) / float64(period)
	b.last = now
	for i := range b.used {
		b.used[i] = max(0, b.used[i]-frac*caps[i])
	}
}

// add charges n to the resources caps limits (an unlimited one keeps
// nothing, so that its entry can still be forgotten).
func (b *budget) add(n *[numDims]float64, caps *quotaCaps) {
	for i := range b.used {
		if caps[i] > 0 {
			b.used[i] += n[i]
		}
	}
}

// fits reports whether charge n stays within caps.
func (b *budget) fits(n *[numDims]float64, caps *quotaCaps) bool {
	for i := range b.used {
		if caps[i] > 0 && n[i] > 0 && b.used[i]+n[i] > caps[i] {
			return false
		}
	}
	return true
}

func (b *budget) empty() bool {
	for _, u := range b.used {
		if u > 0 {
			return false
		}
	}
	return true
}

// addrEntry is the state of one source address (an IPv4 address or an
// IPv6 /64). conns is guarded by abuse.mu, the rest by mu.
type addrEntry struct {
	key   netip.Prefix
	conns int

	mu     sync.Mutex
	budget budget
	create *rate.Limiter // NEW, LNEW and PUT from the address
}

// connQuota is one connection's budget and creation rate, made on its
// first charge so that an idle connection holds none.
type connQuota struct {
	mu     sync.Mutex
	budget budget
	create *rate.Limiter
}

// abuse holds the per-address table. Its memory is bounded by
// MaxTrackedAddrs entries; addresses beyond that share one overflow
// entry, limits and all.
type abuse struct {
	l         *Limits
	connCaps  quotaCaps
	addrCaps  quotaCaps
	now       func() time.Time
	mu        sync.Mutex // guards addrs, overflow.conns and every entry's conns
	addrs     map[netip.Prefix]*addrEntry
	overflow  *addrEntry
	lastSweep time.Time
}

func newAbuse(l *Limits, now func() time.Time) *abuse {
	caps := func(mb, lg, bl int, by int64) quotaCaps {
		c := func(v int64) float64 { return float64(max(v, 0)) }
		return quotaCaps{c(int64(mb)), c(int64(lg)), c(int64(bl)), c(by)}
	}
	a := &abuse{
		l:        l,
		connCaps: caps(l.ConnMailboxes, l.ConnLogs, l.ConnBlobs, l.ConnBytes),
		addrCaps: caps(l.AddrMailboxes, l.AddrLogs, l.AddrBlobs, l.AddrBytes),
		now:      now,
		addrs:    map[netip.Prefix]*addrEntry{},
	}
	a.overflow = a.newEntry(netip.Prefix{})
	return a
}

func (a *abuse) newEntry(key netip.Prefix) *addrEntry {
	return &addrEntry{key: key, create: newCreateLimiter(a.l.AddrCreateRate, a.l.AddrCreateBurst)}
}

func newCreateLimiter(r float64, burst int) *rate.Limiter {
	if r < 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Limit(r), max(burst, 1))
}

// sourceKey is the source address a limit counts by: the IPv4 address, or
// the /64 of an IPv6 address (one subscriber's usual allocation). An
// address the relay cannot tell (zero) is its own key.
func sourceKey(ap netip.AddrPort) netip.Prefix {
	ip := ap.Addr().Unmap()
	if ip.Is6() {
		p, _ := ip.WithZone("").Prefix(64)
		return p
	}
	return netip.PrefixFrom(ip, ip.BitLen())
}

// connect admits one more connection from remote (an http.Request's
// RemoteAddr); nil when the address holds MaxConnsPerAddr connections.
// A non-nil entry is released with disconnect.
func (a *abuse) connect(remote string) *addrEntry {
	ap, _ := netip.ParseAddrPort(remote)
	key := sourceKey(ap)
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.addrs[key]
	if e == nil {
		if len(a.addrs) >= a.l.MaxTrackedAddrs {
			a.sweepLocked(a.now())
		}
		if len(a.addrs) >= a.l.MaxTrackedAddrs {
			e = a.overflow
		} else {
			e = a.newEntry(key)
			a.addrs[key] = e
		}
	}
	if e != a.overflow && a.l.MaxConnsPerAddr > 0 && e.conns >= a.l.MaxConnsPerAddr {
		return nil
	}
	e.conns++
	return e
}

// disconnect releases a connection connect admitted. The entry stays
// while its budget has not drained: objects outlive their connection.
func (a *abuse) disconnect(e *addrEntry) {
	if e == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e.conns--
	if e.conns == 0 && e != a.overflow {
		e.mu.Lock()
		e.budget.drain(a.now(), &a.addrCaps, a.l.QuotaPeriod)
		gone := e.budget.empty()
		e.mu.Unlock()
		if gone {
			delete(a.addrs, e.key)
		}
	}
}

// sweep forgets the addresses that hold no connection and whose budget
// has drained (run with the expiry).
func (a *abuse) sweep(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweepLocked(now)
}

// sweepLocked is sweep with a.mu held; it runs at most once a second so
// that a full table does not make every connect scan it.
func (a *abuse) sweepLocked(now time.Time) {
	if now.Sub(a.lastSweep) < time.Second && !a.lastSweep.IsZero() {
		return
	}
	a.lastSweep = now
	for k, e := range a.addrs {
		if e.conns > 0 {
			continue
		}
		e.mu.Lock()
		e.budget.drain(now, &a.addrCaps, a.l.QuotaPeriod)
		gone := e.budget.empty()
		e.mu.Unlock()
		if gone {
			delete(a.addrs, k)
		}
	}
}

// tracked is the number of addresses in the table (tests).
func (a *abuse) tracked() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.addrs)
}

// charge is what one command costs: create is true for NEW, LNEW and
// PUT, which draw from the creation rate; n is the budget charge.
type charge struct {
	create bool
	n      [numDims]float64
}

func chargeOf(typ wire.Type, bodyLen int) charge {
	var ch charge
	switch typ {
	case wire.TypeNEW:
		ch.create, ch.n[dimMailboxes] = true, 1
	case wire.TypeLNEW:
		ch.create, ch.n[dimLogs] = true, 1
	case wire.TypePUT:
		ch.create, ch.n[dimBlobs] = true, 1
	}
	ch.n[dimBytes] = float64(bodyLen)
	return ch
}

// admit charges one storing command of type typ with a body of bodyLen
// bytes to the connection and its address: RATE when either is over its
// creation rate, QUOTA when either budget would overflow, 0 when charged.
// Nothing is charged when it refuses.
func (c *session) admit(typ wire.Type, bodyLen int) wire.Code {
	a := c.s.abuse
	ch := chargeOf(typ, bodyLen)
	now := c.s.now()
	cq := c.connQuota()
	e := c.peer
	if e == nil {
		e = a.overflow
	}
	cq.mu.Lock()
	defer cq.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if ch.create {
		if !cq.create.AllowN(now, 1) {
			return wire.CodeRate
		}
		if !e.create.AllowN(now, 1) {
			return wire.CodeRate
		}
	}
	cq.budget.drain(now, &a.connCaps, a.l.QuotaPeriod)
	e.budget.drain(now, &a.addrCaps, a.l.QuotaPeriod)
	if !cq.budget.fits(&ch.n, &a.connCaps) || !e.budget.fits(&ch.n, &a.addrCaps) {
		return wire.CodeQuota
	}
	cq.budget.add(&ch.n, &a.connCaps)
	e.budget.add(&ch.n, &a.addrCaps)
	return 0
}

// connQuota returns the connection's budget, making it on first use.
func (c *session) connQuota() *connQuota {
	if q := c.quota.Load(); q != nil {
		return q
	}
	q := &connQuota{create: newCreateLimiter(c.s.limits.CreateRate, c.s.limits.CreateBurst)}
	if c.quota.CompareAndSwap(nil, q) {
		return q
	}
	return c.quota.Load() // another command of the connection made it first
}
