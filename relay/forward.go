package relay

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
)

// Forwarding, spec/relay.md §7.6. As a forwarder F the relay keeps, per
// destination relay D, a few relay-to-relay connections and D's current
// signed forward key; each client connection holds routes naming a
// destination. As a destination it opens RFWD items with forward keys
// derived from its identity and runs the command inside.

// forwarder is the server's forwarding state.
type forwarder struct {
	mu    sync.Mutex          // guards dests
	dests map[string]*fwdDest // by canonical address
	fails failCache           // destinations that failed, and until when they are not dialled
	conns atomic.Int32        // relay-to-relay connections open, to all destinations
}

// fwdDest is one destination relay.
type fwdDest struct {
	addr     wire.Address
	refs     atomic.Int32  // routes naming it
	inFlight chan struct{} // one token per FWD waiting for D

	mu       sync.Mutex // guards the fields below; held while dialling or fetching the key
	conns    []*r2rConn
	more     bool       // D answered RATE: open another connection next time
	key      wire.Frame // D's FKEYS (Route zero), valid while key.Type is FKEYS
	lastUsed time.Time
}

// r2rConn is one relay-to-relay connection and the FWDs it carries.
type r2rConn struct {
	c    *conn.Conn
	busy atomic.Int32
	// pace keeps the connection under the rate a destination allows one
	// connection (three quarters of this relay's own per-connection
	// rate, §11), so F spreads its FWDs over more connections before D
	// answers RATE.
	pace *rate.Limiter
	once sync.Once
	open *atomic.Int32 // the forwarder's count of open connections
}

// close closes the connection and counts it out, once.
func (rc *r2rConn) close() {
	rc.once.Do(func() {
		rc.c.Close()
		rc.open.Add(-1)
	})
}

// fwdRoute is one route of a client connection (§7.6.2).
type fwdRoute struct {
	dest     *fwdDest
	notAfter uint64 // of the forward key FKEYS gave the client
}

func (s *Server) forwardMode() ForwardMode {
	if s.fwdMode == ForwardAuto {
		if len(s.password) > 0 {
			return ForwardPassword
		}
		return ForwardOpen
	}
	return s.fwdMode
}

// cmdFKey: §7.6.2 FKEY.
func (c *session) cmdFKey(ctx context.Context, f *wire.Frame) (wire.Frame, wire.Code) {
	s := c.s
	if len(f.Dest) == 0 {
		if s.noDest {
			return wire.Frame{}, wire.CodeUnknown
		}
		return s.ownFKeys([wire.RouteIDSize]byte{})
	}
	switch s.forwardMode() {
	case ForwardOff:
		return wire.Frame{}, wire.CodeUnknown
	case ForwardPassword:
		if !c.passwordOK(f.Password) {
			return wire.Frame{}, wire.CodePassword
		}
	}
	a, err := wire.ParseAddress(string(f.Dest))
	if err != nil {
		return wire.Frame{}, wire.CodeMalformed
	}
	if a.Fingerprint == s.Fingerprint() {
		return wire.Frame{}, wire.CodeLoop
	}
	key := a.String()
	now := s.now()
	c.routeMu.Lock()
	var id [wire.RouteIDSize]byte
	found := false
	for rid, r := range c.routes {
		if r.dest.addr.String() == key {
			id, found = rid, true
			break
		}
	}
	if !c.askDestLocked(key, found, now) {
		c.routeMu.Unlock()
		return wire.Frame{}, wire.CodeRate
	}
	if !found && len(c.routes) >= s.limits.MaxRoutes {
		c.routeMu.Unlock()
		return wire.Frame{}, wire.CodeQuota
	}
	c.routeMu.Unlock()
	if s.fwd.fails.blocked(a, now) {
		return wire.Frame{}, wire.CodeUnreachable
	}
	d, code := s.fwd.dest(a, s.limits) // its reference is held while this command runs, then by the route
	if code != 0 {
		return wire.Frame{}, code
	}
	k, code := s.destKey(ctx, d)
	if code != 0 {
		s.fwd.releaseFailed(d)
		return wire.Frame{}, code
	}
	c.routeMu.Lock()
	defer c.routeMu.Unlock()
	if r, ok := c.routes[id]; found && ok && r.dest == d {
		s.fwd.release(d) // the route holds its own reference
	} else {
		if len(c.routes) >= s.limits.MaxRoutes {
			s.fwd.release(d)
			return wire.Frame{}, wire.CodeQuota
		}
		for {
			if err := crypto.RandomBytes(s.rand, id[:]); err != nil {
				s.fwd.release(d)
				return wire.Frame{}, wire.CodeInternal
			}
			if _, dup := c.routes[id]; !dup && id != ([wire.RouteIDSize]byte{}) {
				break
			}
		}
		if c.routes == nil {
			c.routes = map[[wire.RouteIDSize]byte]*fwdRoute{}
		}
		c.routes[id] = &fwdRoute{dest: d}
	}
	c.routes[id].notAfter = k.NotAfter
	k.Route = id
	return k, 0
}

// ownFKeys is this relay's FKEYS for the current period (§7.6.1).
func (s *Server) ownFKeys(route [wire.RouteIDSize]byte) (wire.Frame, wire.Code) {
	k, err := wire.FKeysFrame(s.identity, wire.ForwardPeriodOf(s.now()), route)
	if err != nil {
		return wire.Frame{}, wire.CodeInternal
	}
	return k, 0
}

// dest returns the state of destination a, creating it, with one
// reference taken for the caller (under fw.mu, so that a sweep cannot
// drop it first); QUOTA when there are MaxForwardDests already.
func (fw *forwarder) dest(a wire.Address, l Limits) (*fwdDest, wire.Code) {
	key := a.String()
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if d := fw.dests[key]; d != nil {
		d.refs.Add(1)
		return d, 0
	}
	if len(fw.dests) >= l.MaxForwardDests {
		return nil, wire.CodeQuota
	}
	if fw.dests == nil {
		fw.dests = map[string]*fwdDest{}
	}
	d := &fwdDest{addr: a, inFlight: make(chan struct{}, l.ForwardInFlight)}
	d.refs.Add(1)
	fw.dests[key] = d
	return d, 0
}

// release drops one reference to d.
func (fw *forwarder) release(d *fwdDest) { d.refs.Add(-1) }

// releaseFailed drops one reference to d after its dial or key check
// failed, and forgets d at once when nothing else refers to it and it has
// no live connection: a destination that does not work must not hold a
// place of MaxForwardDests until the next sweep.
func (fw *forwarder) releaseFailed(d *fwdDest) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if d.refs.Add(-1) != 0 {
		return
	}
	d.mu.Lock()
	live := false
	for _, rc := range d.conns {
		live = live || rc.c.Err() == nil
	}
	if !live {
		for _, rc := range d.conns {
			rc.close()
		}
		d.conns = nil
	}
	d.mu.Unlock()
	if k := d.addr.String(); !live && fw.dests[k] == d {
		delete(fw.dests, k)
	}
}

// destKey returns D's FKEYS, fetching it when there is none with at
// least a period left (§7.6.2).
func (s *Server) destKey(ctx context.Context, d *fwdDest) (wire.Frame, wire.Code) {
	ctx, cancel := context.WithTimeout(ctx, s.limits.ForwardTimeout)
	defer cancel()
	d.mu.Lock()
	defer d.mu.Unlock()
	now := s.now()
	if d.key.Type == wire.TypeFKEYS && int64(d.key.NotAfter)-now.Unix() > wire.ForwardPeriod {
		return d.key, 0
	}
	rc, code := s.r2rLocked(d)
	if code != 0 {
		return wire.Frame{}, code
	}
	r, err := rc.c.Do(ctx, &wire.Frame{Type: wire.TypeFKEY})
	if code := r2rCode(err); code != 0 {
		if code == wire.CodeUnreachable {
			rc.close() // broken, or D does not answer: not used again
		}
		return wire.Frame{}, code
	}
	if rc.c.Identity() == s.identity.Public() {
		rc.close()
		return wire.Frame{}, wire.CodeLoop
	}
	if _, ok := wire.ForwardPeriodFor(r.NotAfter); !ok || wire.CheckFKeys(&r, d.addr.Fingerprint) != nil {
		rc.close()
		s.fwd.fails.failed(d.addr, false, now)
		return wire.Frame{}, wire.CodeUnreachable // D is broken or not who its address says
	}
	r.CID, r.Route = 0, [wire.RouteIDSize]byte{}
	d.key = r
	return d.key, 0
}

// r2rCode maps the error of a relay-to-relay command to the code the
// client gets: D's own ERR for the codes a client acts on, NOFORWARD
// for D's UNKNOWN (D does not take forwarded items: the client must
// tell that from this relay's own UNKNOWN, spec/relay.md §7.6.2),
// UNREACHABLE for the rest (a broken connection, a bad reply, a
// timeout).
func r2rCode(err error) wire.Code {
	if err == nil {
		return 0
	}
	var we *wire.Error
	if errors.As(err, &we) {
		switch we.Code {
		case wire.CodeUnknown:
			return wire.CodeNoForward
		case wire.CodeRate, wire.CodeStale, wire.CodeShutdown, wire.CodeAuth, wire.CodeMalformed:
			return we.Code
		}
	}
	return wire.CodeUnreachable
}

// r2rLocked returns a live connection to D with the fewest FWDs in
// flight, dialling one when there is none (or D asked for more); d.mu
// is held.
func (s *Server) r2rLocked(d *fwdDest) (*r2rConn, wire.Code) {
	d.lastUsed = s.now()
	live := d.conns[:0]
	for _, rc := range d.conns {
		if rc.c.Err() == nil {
			live = append(live, rc)
		} else {
			rc.close()
		}
	}
	clear(d.conns[len(live):])
	d.conns = live
	// The least busy connection with room in its pace; when none has
	// any (or D answered RATE), one more connection, up to MaxR2RConns.
	var best, paced *r2rConn
	for _, rc := range d.conns {
		if best == nil || rc.busy.Load() < best.busy.Load() {
			best = rc
		}
		if rc.pace.Tokens() >= 1 && (paced == nil || rc.busy.Load() < paced.busy.Load()) {
			paced = rc
		}
	}
	if paced != nil && !paced.pace.Allow() {
		paced = nil
	}
	if len(d.conns) == 0 || (paced == nil || d.more) && len(d.conns) < s.limits.MaxR2RConns {
		d.more = false
		if int(s.fwd.conns.Load()) >= s.limits.MaxR2RTotal {
			// Every connection the forwarder may hold is open: no new
			// one, to D or to anyone (§11).
			if len(d.conns) == 0 {
				return nil, wire.CodeRate
			}
		} else if c, ok := s.dialDest(d.addr); ok {
			s.fwd.conns.Add(1)
			rc := &r2rConn{c: c, pace: rate.NewLimiter(rate.Limit(s.limits.Rate*3/4), s.limits.Burst*3/4), open: &s.fwd.conns}
			d.conns = append(d.conns, rc)
			return rc, 0
		} else if len(d.conns) == 0 {
			return nil, wire.CodeUnreachable
		}
	}
	if paced != nil {
		return paced, 0
	}
	return best, 0
}

// dialDest connects to D unless it failed less than its back-off ago
// (§7.6.2): the host resolved and checked by destIPs, the connection made
// to the checked addresses. A failure is remembered, a success forgets
// earlier ones.
func (s *Server) dialDest(a wire.Address) (*conn.Conn, bool) {
	now := s.now()
	if s.fwd.fails.blocked(a, now) {
		return nil, false
	}
	// Not the command's context: the connection outlives the client
	// that made it dial.
	ctx, cancel := context.WithTimeout(context.Background(), s.limits.ForwardTimeout)
	defer cancel()
	// A failed dial is not logged: its error names the destination.
	ips, err := s.destIPs(ctx, a.Host)
	if err != nil {
		s.metrics.r2rDialFail.Inc()
		s.fwd.fails.failed(a, true, now)
		return nil, false
	}
	var tcpFailed atomic.Bool
	c, err := conn.DialAddress(ctx, a, &conn.Options{Dial: s.pinnedDial(ips, a.Port, &tcpFailed), Rand: s.rand})
	if err != nil {
		s.metrics.r2rDialFail.Inc()
		s.fwd.fails.failed(a, tcpFailed.Load(), now)
		return nil, false
	}
	s.fwd.fails.succeeded(a)
	return c, true
}

// cmdFwd: §7.6.2 FWD.
func (c *session) cmdFwd(ctx context.Context, f *wire.Frame) (wire.Frame, wire.Code) {
	s := c.s
	if s.forwardMode() == ForwardOff {
		return wire.Frame{}, wire.CodeUnknown
	}
	c.routeMu.Lock()
	r := c.routes[f.Route]
	var notAfter uint64
	if r != nil {
		notAfter = r.notAfter
	}
	c.routeMu.Unlock()
	if r == nil {
		return wire.Frame{}, wire.CodeAuth
	}
	d := r.dest
	select {
	case d.inFlight <- struct{}{}:
	default:
		return wire.Frame{}, wire.CodeRate
	}
	defer func() { <-d.inFlight }()
	ctx, cancel := context.WithTimeout(ctx, s.limits.ForwardTimeout)
	defer cancel()
	d.mu.Lock()
	rc, code := s.r2rLocked(d)
	d.mu.Unlock()
	if code != 0 {
		return wire.Frame{}, code
	}
	rc.busy.Add(1)
	res, err := rc.c.RelayForward(ctx, notAfter, f.Ephemeral, f.Body)
	rc.busy.Add(-1)
	if code := r2rCode(err); code != 0 {
		if code == wire.CodeRate {
			d.mu.Lock()
			d.more = true
			d.mu.Unlock()
		}
		return wire.Frame{}, code
	}
	s.metrics.forwarded.Inc()
	return wire.Frame{Type: wire.TypeFRES, Body: res}, 0
}

// releaseRoutes drops the connection's routes when it ends.
func (c *session) releaseRoutes() {
	c.routeMu.Lock()
	defer c.routeMu.Unlock()
	for id, r := range c.routes {
		c.s.fwd.release(r.dest)
		delete(c.routes, id)
	}
}

// sweep closes relay-to-relay connections unused for ForwardIdle and
// forgets destinations that no route names and that have no connection.
func (fw *forwarder) sweep(now time.Time, idle time.Duration) {
	fw.fails.sweep(now)
	fw.mu.Lock()
	defer fw.mu.Unlock()
	for k, d := range fw.dests {
		d.mu.Lock()
		if now.Sub(d.lastUsed) >= idle {
			for _, rc := range d.conns {
				rc.close()
			}
			d.conns = nil
		}
		gone := len(d.conns) == 0 && d.refs.Load() == 0
		d.mu.Unlock()
		if gone {
			delete(fw.dests, k)
		}
	}
}

// closeAll closes every relay-to-relay connection (the server stops).
func (fw *forwarder) closeAll() {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	for _, d := range fw.dests {
		d.mu.Lock()
		for _, rc := range d.conns {
			rc.close()
		}
		d.conns = nil
		d.mu.Unlock()
	}
}

// cmdRFwd: §7.6.4 RFWD, this relay as the destination.
func (c *session) cmdRFwd(ctx context.Context, f *wire.Frame) (wire.Frame, wire.Code) {
	s := c.s
	if s.noDest {
		return wire.Frame{}, wire.CodeUnknown
	}
	now := s.now()
	if s.fwdSeen.has(f.Ephemeral, now) {
		return wire.Frame{}, wire.CodeStale // a replay (§7.6.4)
	}
	p, ok := wire.ForwardPeriodFor(f.NotAfter)
	cur := wire.ForwardPeriodOf(now)
	if !ok || (p != cur && p+1 != cur) {
		return wire.Frame{}, wire.CodeStale
	}
	fk, err := s.forwardKey(p)
	if err != nil {
		return wire.Frame{}, wire.CodeInternal
	}
	keys, err := wire.DestForwardKeys(fk, s.Fingerprint(), f.Ephemeral)
	if err != nil {
		return wire.Frame{}, wire.CodeAuth
	}
	defer keys.Wipe()
	pt, err := keys.OpenItem(nil, f.Body)
	if err != nil {
		return wire.Frame{}, wire.CodeAuth
	}
	defer crypto.Wipe(pt)
	if len(pt) >= wire.ForwardTimeSize && !wire.ForwardTimeOK(binary.BigEndian.Uint64(pt), now) {
		return wire.Frame{}, wire.CodeStale
	}
	if !s.fwdSeen.add(f.Ephemeral, now) {
		return wire.Frame{}, wire.CodeStale // a replay that raced the item
	}
	// A length that overruns the plaintext, a size other than the padded
	// one or a non-zero padding byte is MALFORMED, like an item that does
	// not parse (§7.6.4).
	_, inner, err := wire.ParseForwardInner(pt)
	var r wire.Frame
	var code wire.Code
	switch {
	case wire.IsUnknownType(err):
		code = wire.CodeUnknown
	case err != nil:
		code = wire.CodeMalformed
	case !wire.ForwardableType(inner.Type):
		code = wire.CodeUnknown
	default:
		// The store and the subscriber keep the body: it must not
		// alias pt, which is wiped.
		inner.Body = append([]byte(nil), inner.Body...)
		switch inner.Type {
		case wire.TypeSEND:
			code = c.cmdSend(ctx, &inner)
		case wire.TypeSKEY:
			code = c.cmdSKey(ctx, &inner)
		case wire.TypeTAKE:
			r, code = c.cmdTake(ctx, &inner)
		case wire.TypePUT:
			code = c.cmdPut(ctx, &inner)
		case wire.TypeLAPPEND:
			r, code = c.cmdAppend(ctx, &inner)
		case wire.TypeCPUT, wire.TypeCGET, wire.TypeCDEL, wire.TypeCROOM:
			r, code = c.cmdChunk(ctx, &inner)
		}
		c.observe(inner.Type, len(inner.Body), inner.ID)
	}
	if code != 0 {
		s.metrics.errors.WithLabelValues(code.String()).Inc()
		r = wire.Frame{Type: wire.TypeERR, Code: code}
	} else if r.Type == 0 {
		r.Type = wire.TypeOK
	}
	item, err := wire.AppendFrame(nil, &r)
	if err != nil {
		return wire.Frame{}, wire.CodeInternal
	}
	sealed, err := keys.SealReply(s.rand, nil, item)
	crypto.Wipe(item)
	if err != nil {
		return wire.Frame{}, wire.CodeInternal
	}
	return wire.Frame{Type: wire.TypeFRES, Body: sealed}, 0
}

// forwardKey returns this relay's forward key of period p, derived once
// and kept for the two live periods.
func (s *Server) forwardKey(p uint32) (crypto.DHPrivate, error) {
	s.fkMu.Lock()
	defer s.fkMu.Unlock()
	for _, k := range s.fkeys {
		if k.period == p && k.key.Valid() {
			return k.key, nil
		}
	}
	k, err := wire.DeriveForwardKey(s.identity, p)
	if err != nil {
		return crypto.DHPrivate{}, err
	}
	// Keep the newest two periods.
	if s.fkeys[0].period > s.fkeys[1].period {
		s.fkeys[0], s.fkeys[1] = s.fkeys[1], s.fkeys[0]
	}
	s.fkeys[0] = periodKey{period: p, key: k}
	return k, nil
}

// periodKey is a derived forward key and its period.
type periodKey struct {
	period uint32
	key    crypto.DHPrivate
}
