package conn

import (
	"context"
	"fmt"
	"io"
	"time"

	"veil/crypto"
	"veil/relay/wire"
)

// Route is a way through a forwarding relay to one destination relay
// (spec/relay.md §7.6), as FKEY returned it. It holds no secret: the
// route ID is bound to the connection that asked for it.
type Route struct {
	// ID is the route ID to put in FWD (zero when the FKEY asked the
	// connection's own relay, which is then the destination).
	ID [wire.RouteIDSize]byte
	// Dest is the destination's fingerprint, which its identity key in
	// FKEYS was checked against.
	Dest wire.Fingerprint
	// Key is the destination's forward key and NotAfter its expiry; a
	// client refetches the route before then.
	Key      crypto.DHPublic
	NotAfter time.Time
}

// notAfter is NotAfter in the wire's Unix seconds.
func (r *Route) notAfter() uint64 { return uint64(r.NotAfter.Unix()) }

// FKey asks the relay for a route to dest (§7.6.2 FKEY). password is
// the relay's forwarding password (empty when it needs none). A zero
// dest asks for the relay's own forward key (no forwarding: for RFWD to
// this relay). The reply's identity is checked against dest's
// fingerprint (the connection's relay for a zero dest) and its signature
// verified; a reply that fails is ErrBadReply. Errors of §7.6 (LOOP,
// UNREACHABLE, PASSWORD, QUOTA, UNKNOWN from a relay that does not
// forward) are *wire.Error.
func (c *Conn) FKey(ctx context.Context, password []byte, dest wire.Address) (Route, error) {
	f := wire.Frame{Type: wire.TypeFKEY, Password: password}
	fp := wire.FingerprintOf(c.ident)
	if dest != (wire.Address{}) {
		f.Dest = []byte(dest.String())
		fp = dest.Fingerprint
	}
	r, err := c.Do(ctx, &f)
	if err != nil {
		return Route{}, err
	}
	if r.Type != wire.TypeFKEYS {
		return Route{}, unexpected(r)
	}
	if err := wire.CheckFKeys(&r, fp); err != nil {
		return Route{}, fmt.Errorf("%w: %w", ErrBadReply, err)
	}
	if _, ok := wire.ForwardPeriodFor(r.NotAfter); !ok || r.NotAfter > 1<<62 {
		return Route{}, fmt.Errorf("%w: forward key expiry %d is not a period's", ErrBadReply, r.NotAfter)
	}
	return Route{ID: r.Route, Dest: fp, Key: r.ForwardKey, NotAfter: time.Unix(int64(r.NotAfter), 0)}, nil
}

// Forward sends a sealed item along the route with ID route (§7.6 FWD)
// and returns the sealed reply (FRES). An ERR from the forwarder or the
// destination is a *wire.Error.
func (c *Conn) Forward(ctx context.Context, route [wire.RouteIDSize]byte, eph crypto.DHPublic, sealed []byte) ([]byte, error) {
	return c.fres(ctx, &wire.Frame{Type: wire.TypeFWD, Route: route, Ephemeral: eph, Body: sealed})
}

// RelayForward sends a sealed item to this relay as the destination
// (§7.6 RFWD): notAfter names the forward key it is sealed to. A
// forwarder uses it on its relay-to-relay connections; a client may use
// it to reach a relay directly with the same sealing. It returns the
// sealed reply (FRES); an ERR is a *wire.Error.
func (c *Conn) RelayForward(ctx context.Context, notAfter uint64, eph crypto.DHPublic, sealed []byte) ([]byte, error) {
	return c.fres(ctx, &wire.Frame{Type: wire.TypeRFWD, NotAfter: notAfter, Ephemeral: eph, Body: sealed})
}

func (c *Conn) fres(ctx context.Context, f *wire.Frame) ([]byte, error) {
	r, err := c.Do(ctx, f)
	if err != nil {
		return nil, err
	}
	if r.Type != wire.TypeFRES {
		return nil, unexpected(r)
	}
	return r.Body, nil
}

// ForwardCommand seals item (SEND, SKEY, TAKE, PUT or LAPPEND; its CID
// is ignored) for route's destination with the time now, sends it with
// FWD (or with RFWD when route.ID is zero: the connection's relay is the
// destination), opens the sealed reply and returns it: OK, BLOB, SEQ, or
// the destination's ERR as a *wire.Error. rand draws the ephemeral key (crypto/rand when
// nil). A reply that does not open or parse is ErrBadReply.
func (c *Conn) ForwardCommand(ctx context.Context, route Route, item wire.Frame, now time.Time, rand io.Reader) (wire.Frame, error) {
	f, keys, err := sealCommand(route, item, now, rand)
	if err != nil {
		return wire.Frame{}, err
	}
	defer keys.Wipe()
	r, err := c.Do(ctx, &f)
	return openReply(&keys, r, err)
}

// ForwardCommandAsync is ForwardCommand without waiting: done gets what
// ForwardCommand would return, as Go's callbacks do (it must not block).
// An error returned by ForwardCommandAsync itself means nothing was sent
// and done is not called.
func (c *Conn) ForwardCommandAsync(route Route, item wire.Frame, now time.Time, rand io.Reader, done func(wire.Frame, error)) error {
	f, keys, err := sealCommand(route, item, now, rand)
	if err != nil {
		return err
	}
	return c.Go(&f, false, func(r wire.Frame, err error) {
		res, err := openReply(&keys, r, err)
		keys.Wipe()
		done(res, err)
	})
}

// sealCommand builds the FWD (or RFWD) that carries item to route's
// destination, and the keys that open its reply. The plaintext is
// padded (wire.AppendForwardInner), so an SKEY, a TAKE and a SEND of the
// smallest bucket seal to one size (spec/relay.md §7.6.3).
func sealCommand(route Route, item wire.Frame, now time.Time, rand io.Reader) (wire.Frame, wire.ForwardKeys, error) {
	eph, keys, err := wire.SenderForwardKeys(rand, route.Dest, route.Key)
	if err != nil {
		return wire.Frame{}, wire.ForwardKeys{}, fmt.Errorf("conn: %w", err)
	}
	item.CID = 0
	inner, err := wire.AppendForwardInner(nil, uint64(max(now.Unix(), 0)), &item)
	if err != nil {
		keys.Wipe()
		return wire.Frame{}, wire.ForwardKeys{}, fmt.Errorf("conn: %w", err)
	}
	sealed := keys.SealItem(nil, inner)
	crypto.Wipe(inner)
	f := wire.Frame{Type: wire.TypeFWD, Route: route.ID, Ephemeral: eph, Body: sealed}
	if route.ID == ([wire.RouteIDSize]byte{}) {
		f = wire.Frame{Type: wire.TypeRFWD, NotAfter: route.notAfter(), Ephemeral: eph, Body: sealed}
	}
	return f, keys, nil
}

// openReply turns the reply r (or err) to a sealed command into
// ForwardCommand's result.
func openReply(keys *wire.ForwardKeys, r wire.Frame, err error) (wire.Frame, error) {
	if err != nil {
		return wire.Frame{}, err
	}
	if r.Type != wire.TypeFRES {
		return wire.Frame{}, unexpected(r)
	}
	pt, err := keys.OpenReply(nil, r.Body)
	if err != nil {
		return wire.Frame{}, fmt.Errorf("%w: sealed reply does not open", ErrBadReply)
	}
	res, err := wire.ParseFrame(pt)
	if err != nil || res.CID != 0 {
		return wire.Frame{}, fmt.Errorf("%w: sealed reply does not parse", ErrBadReply)
	}
	switch res.Type {
	case wire.TypeERR:
		return res, &wire.Error{Code: res.Code}
	case wire.TypeOK, wire.TypeBLOB, wire.TypeSEQ, wire.TypeCHUNK:
		return res, nil
	}
	return wire.Frame{}, fmt.Errorf("%w: sealed reply %v", ErrBadReply, &res)
}
