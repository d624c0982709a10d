package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
	"veil/vault"
)

// Private routing (spec/client.md §7.7): items for someone else's mailbox
// on a relay D go sealed through a forwarding relay F (spec/relay.md §7.6),
// so D sees F's address, not ours.

// Settings of private routing (spec/client.md §11).
const (
	settingPrivateRouting = "net/private_routing"
	settingForwarder      = "net/forwarder"
)

// Private routing modes.
const (
	RoutingAuto   = "auto"   // forward to relays not in the profile's list (the default)
	RoutingAlways = "always" // forward everything; never fall back to direct
	RoutingOff    = "off"    // always direct
)

// routeMargin is how long before its forward key expires a route is
// fetched again. Tuning, not protocol.
const routeMargin = time.Hour

// errRouteHeld is why an item stays queued when private routing is
// "always" and the way through the forwarder does not work: retrying
// later may, sending directly would show our address.
var errRouteHeld = errors.New("client: held back: private routing is always on and the forwarding relay cannot forward there")

// errNoForward is why an item stays queued when its destination relay
// does not take forwarded items (NOFORWARD): sending directly would show
// it our address, and a contact's relay could answer so on purpose.
var errNoForward = errors.New("client: held back: the destination relay does not take forwarded messages")

// errClock is STALE twice: the forward key was fresh, so our time is off.
var errClock = errors.New("client: the destination relay refused the forwarded message's time: check this machine's clock")

// routes is the engine's in-memory routing state.
type routes struct {
	mu     sync.Mutex // guards the maps
	cache  map[routeKey]cachedRoute
	direct map[string]bool   // relays a routing_direct event was emitted for
	held   map[string]bool   // relays a NOFORWARD warning was emitted for
	old    map[routeKey]bool // the forwarder answered FKEY for the destination with UNKNOWN: it does not forward
}

type routeKey struct{ fwd, dest string }

// cachedRoute is a route and the forward connection its ID is bound to.
type cachedRoute struct {
	r conn.Route
	c *conn.Conn
}

func (rs *routes) get(k routeKey, c *conn.Conn, now time.Time) (conn.Route, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	cr, ok := rs.cache[k]
	if !ok || cr.c != c || !now.Before(cr.r.NotAfter.Add(-routeMargin)) {
		return conn.Route{}, false
	}
	return cr.r, true
}

func (rs *routes) put(k routeKey, c *conn.Conn, r conn.Route) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.cache == nil {
		rs.cache = map[routeKey]cachedRoute{}
	}
	rs.cache[k] = cachedRoute{r: r, c: c}
}

func (rs *routes) forget(k routeKey) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	delete(rs.cache, k)
}

// markOld records that forwarding from k.fwd to k.dest does not work
// (the forwarder answered UNKNOWN).
func (rs *routes) markOld(k routeKey) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.old == nil {
		rs.old = map[routeKey]bool{}
	}
	rs.old[k] = true
}

func (rs *routes) isOld(k routeKey) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.old[k]
}

// noteDirect reports whether the routing_direct event for addr is still
// to be emitted (once per relay and run).
func (rs *routes) noteDirect(addr string) bool { return rs.noteOnce(&rs.direct, addr) }

// noteHeld reports whether the NOFORWARD warning for addr is still to be
// emitted (once per relay and run).
func (rs *routes) noteHeld(addr string) bool { return rs.noteOnce(&rs.held, addr) }

func (rs *routes) noteOnce(set *map[string]bool, addr string) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if *set == nil {
		*set = map[string]bool{}
	}
	news := !(*set)[addr]
	(*set)[addr] = true
	return news
}

// routing is what the settings say about items for relay dest.
type routing struct {
	mode string
	fwd  string        // the forwarding relay; "" sends directly
	pw   wire.Password // fwd's password, which FKEY shows a relay that forwards by password
}

// routingFor reads the settings and decides how to reach dest.
func (e *Engine) routingFor(ctx context.Context, dest string) (routing, error) {
	var mode, fwd string
	var own []string
	var pw wire.Password
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		p, err := profile(tx)
		if err != nil {
			return err
		}
		mode, fwd, own = routingSettings(p)
		if fwd != "" {
			pw = relayPassword(tx, fwd)
		}
		return nil
	})
	if err != nil {
		return routing{}, err
	}
	rt := routing{mode: mode}
	switch {
	case mode == RoutingOff, fwd == "", sameRelay(fwd, dest):
		return rt, nil
	case mode == RoutingAuto:
		if slices.ContainsFunc(own, func(a string) bool { return sameRelay(a, dest) }) ||
			RelayReach(fwd) != ReachAnyone || e.routes.isOld(routeKey{fwd, dest}) {
			return rt, nil
		}
	}
	rt.fwd, rt.pw = fwd, pw
	return rt, nil
}

// routingSettings returns the mode, the forwarder (the default relay
// unless one is set) and the profile's relays.
func routingSettings(p vault.Profile) (mode, fwd string, own []string) {
	mode = p.Settings[settingPrivateRouting]
	if mode != RoutingAlways && mode != RoutingOff {
		mode = RoutingAuto
	}
	def, own := relayList(p)
	fwd = p.Settings[settingForwarder]
	if fwd == "" {
		fwd = def
	}
	return mode, fwd, own
}

func sameRelay(a, b string) bool {
	x, err1 := wire.ParseAddress(a)
	y, err2 := wire.ParseAddress(b)
	return err1 == nil && err2 == nil && x.String() == y.String()
}

// A courier carries items to someone else's mailbox on one relay: over a
// send connection of its own, never the one that subscribes to our
// mailboxes (spec/client.md §7.1), or sealed through the forwarding relay
// (§7.7). Its methods are those of conn.Conn that write to others'
// mailboxes.
type courier struct {
	e    *Engine
	addr string // the destination relay
	chat string // isolation through a proxy
	rt   routing
	c    *conn.Conn // the send connection, or the forward connection to rt.fwd
}

// deliver returns the courier for relay addr and chat (isolation: through
// a proxy each chat has its own circuits; "" when there is no chat yet),
// direct or through the forwarder as the settings say. A forwarder that
// cannot be reached is an error: the item stays queued, it never goes
// directly instead.
func (e *Engine) deliver(ctx context.Context, addr, chat string) (*courier, error) {
	rt, err := e.routingFor(ctx, addr)
	if err != nil {
		return nil, err
	}
	k := &courier{e: e, addr: addr, chat: chat, rt: rt}
	key := connKey{addr: addr, role: roleSend, iso: chat}
	if rt.fwd != "" {
		key = connKey{addr: rt.fwd, role: roleFwd, iso: chat}
	}
	if k.c, err = e.pool.conn(ctx, key); err != nil {
		return nil, err
	}
	return k, nil
}

// Send is SEND (spec/relay.md §7.1).
func (k *courier) Send(ctx context.Context, sid crypto.ID, capability *[wire.CapSize]byte, body []byte) error {
	if k.rt.fwd == "" {
		return k.c.Send(ctx, sid, capability, body)
	}
	_, err := k.forward(ctx, wire.Frame{Type: wire.TypeSEND, ID: sid, Cap: *capability, Body: body})
	return err
}

// SecureSender is SKEY.
func (k *courier) SecureSender(ctx context.Context, sid crypto.ID, capability *[wire.CapSize]byte) error {
	if k.rt.fwd == "" {
		return k.c.SecureSender(ctx, sid, capability)
	}
	_, err := k.forward(ctx, wire.Frame{Type: wire.TypeSKEY, ID: sid, Cap: crypto.Hash(capability[:])})
	return err
}

// Take is TAKE.
func (k *courier) Take(ctx context.Context, id crypto.ID) ([]byte, error) {
	if k.rt.fwd == "" {
		return k.c.Take(ctx, id)
	}
	r, err := k.forward(ctx, wire.Frame{Type: wire.TypeTAKE, ID: id})
	if err != nil {
		return nil, err
	}
	if r.Type != wire.TypeBLOB {
		return nil, fmt.Errorf("%w: %v to TAKE", conn.ErrBadReply, r.Type)
	}
	return r.Body, nil
}

// Append is LAPPEND to someone else's log.
func (k *courier) Append(ctx context.Context, id crypto.ID, writeCap *[wire.CapSize]byte, body []byte) (uint64, error) {
	if k.rt.fwd == "" {
		return k.c.Append(ctx, id, writeCap, body)
	}
	r, err := k.forward(ctx, wire.Frame{Type: wire.TypeLAPPEND, ID: id, Cap: *writeCap, Body: body})
	if err != nil {
		return 0, err
	}
	if r.Type != wire.TypeSEQ {
		return 0, fmt.Errorf("%w: %v to LAPPEND", conn.ErrBadReply, r.Type)
	}
	return r.Seq, nil
}

// Put is PUT of a blob on someone else's relay (the leak alarm of an
// older invite key, spec/client.md §4.4); pw is that relay's password,
// empty when it has none. Like conn.Conn.Put it sends the long form only
// with a password and falls back to the short form once on BAD_SIZE
// (spec/relay.md §7.2); forwarded, the destination tells the two forms
// apart by length, so the forwarder needs nothing.
func (k *courier) Put(ctx context.Context, id crypto.ID, life time.Duration, pw wire.Password, body []byte) error {
	if k.rt.fwd == "" {
		return k.c.Put(ctx, id, life, pw, body)
	}
	a, err := wire.ParseAddress(k.addr)
	if err != nil {
		return badAddress(err)
	}
	return conn.RetryPutShort(conn.PutFrame(a.Fingerprint, id, life, pw, body), func(f *wire.Frame) error {
		_, err := k.forward(ctx, *f)
		return err
	})
}

// drop closes the courier's connection after a connection failure.
func (k *courier) drop() {
	addr := k.addr
	if k.rt.fwd != "" {
		addr = k.rt.fwd
		k.e.routes.forget(routeKey{k.rt.fwd, k.addr})
	}
	k.e.pool.drop(addr, k.c)
}

// forward runs item at the destination through the forwarder and returns
// the destination's reply. Its fallbacks (spec/client.md §7.7): a
// forwarder that does not forward (its UNKNOWN to FKEY) makes "auto" send
// directly, with a routing_direct event once per relay, and "always"
// hold the item; a destination that does not take forwarded items
// (NOFORWARD) holds it in both; STALE fetches the route again once, then
// blames our clock.
func (k *courier) forward(ctx context.Context, item wire.Frame) (wire.Frame, error) {
	dest, err := wire.ParseAddress(k.addr)
	if err != nil {
		return wire.Frame{}, badAddress(err)
	}
	rk := routeKey{k.rt.fwd, k.addr}
	for try := 0; ; try++ {
		r, ok := k.e.routes.get(rk, k.c, k.e.now())
		if !ok {
			if r, err = k.c.FKey(ctx, k.rt.pw, dest); err != nil {
				return k.fallback(ctx, item, err, true)
			}
			k.e.routes.put(rk, k.c, r)
		}
		res, err := k.c.ForwardCommand(ctx, r, item, k.e.now(), k.e.cfg.Rand)
		switch {
		case err == nil || res.Type == wire.TypeERR:
			return res, err // the destination's own answer to item
		case isCode(err, wire.CodeStale) && try == 0:
			k.e.routes.forget(rk)
			continue
		case isCode(err, wire.CodeStale):
			k.e.emit(ctx, Event{Type: EventWarning, Relay: k.addr, Err: errClock.Error()})
			return wire.Frame{}, errClock
		case isCode(err, wire.CodeAuth), isCode(err, wire.CodeUnknown):
			// The forwarder no longer knows the route ID, or it stopped
			// forwarding (or, an older forwarder, passes on the
			// destination's UNKNOWN): the next try asks FKEY again.
			k.e.routes.forget(rk)
		}
		return k.fallback(ctx, item, err, false)
	}
}

// fallback handles err from the forwarder; fkey says it answered FKEY.
// Only the forwarder's own UNKNOWN to FKEY (it does not forward) sends
// directly in "auto", and holds the item in "always". NOFORWARD (the
// destination does not take forwarded items) holds it in both: the
// destination may be a contact's relay that answers so to learn our
// address, and only the user can choose to send directly (routing off).
// LOOP (the destination is the forwarder under another name, which sees
// our address anyway) sends directly. Anything else, UNKNOWN to FWD
// among it, is returned for the outbox to retry: a code that means
// "never" for a SEND (AUTH, say) is not the destination's answer here
// and must not fail the message for good.
func (k *courier) fallback(ctx context.Context, item wire.Frame, err error, fkey bool) (wire.Frame, error) {
	switch {
	case isCode(err, wire.CodeNoForward):
		if k.e.routes.noteHeld(k.addr) {
			k.e.emit(ctx, Event{Type: EventWarning, Relay: k.addr, Err: noForwardText(k.addr)})
		}
		return wire.Frame{}, errNoForward
	case isCode(err, wire.CodeLoop):
	case !fkey || !isCode(err, wire.CodeUnknown):
		var we *wire.Error
		if errors.As(err, &we) {
			return wire.Frame{}, &RelayError{Relay: shortRelay(k.rt.fwd), Err: fmt.Errorf("forwarding: %s", we.Code)}
		}
		return wire.Frame{}, relayErr(k.rt.fwd, err)
	default:
		k.e.routes.markOld(routeKey{k.rt.fwd, k.addr})
		if k.rt.mode == RoutingAlways {
			if k.e.routes.noteDirect(k.addr) {
				k.e.emit(ctx, Event{Type: EventWarning, Relay: k.addr, Err: errRouteHeld.Error()})
			}
			return wire.Frame{}, errRouteHeld
		}
		if k.e.routes.noteDirect(k.addr) {
			k.e.emit(ctx, Event{Type: EventRoutingDirect, Relay: k.addr, Err: routingDirectText(k.rt.fwd, k.addr)})
		}
	}
	c, err := k.e.pool.conn(ctx, connKey{addr: k.addr, role: roleSend, iso: k.chat})
	if err != nil {
		return wire.Frame{}, err
	}
	r, err := c.Do(ctx, &item)
	if err != nil {
		if isConnErr(err) {
			k.e.pool.drop(k.addr, c)
		}
		return wire.Frame{}, err
	}
	if r.Type != wire.TypeOK && r.Type != wire.TypeBLOB && r.Type != wire.TypeSEQ && r.Type != wire.TypeCHUNK {
		return wire.Frame{}, fmt.Errorf("%w: %v", conn.ErrBadReply, &r)
	}
	return r, nil
}

func routingDirectText(fwd, dest string) string {
	return "relay " + shortRelay(fwd) + " does not forward (forwarding is off there, or it runs an older veil-relay): messages to " +
		shortRelay(dest) + " go directly and show it this device's address; " +
		"set private routing to \"always\" to hold them instead"
}

func noForwardText(dest string) string {
	return "relay " + shortRelay(dest) + " does not take forwarded messages (it runs an older veil-relay): " +
		"messages there are held, since sending them directly would show it this device's address; " +
		"to send them directly anyway, set private routing to \"off\""
}
