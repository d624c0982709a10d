package client

import (
	"context"
	"testing"
)

// TestRoutingFor: auto forwards only to relays outside the profile's
// list and only through a forwarder others can reach; always forwards
// everything but the forwarder itself; off never forwards.
func TestRoutingFor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const (
		own     = "veil+ws://127.0.0.1:1#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		public  = "veil://relay.example.org:443#BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA"
		theirs  = "veil://other.example.net:443#CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCA"
		private = "veil+ws://192.168.1.5:7000#DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDA"
	)
	e := testEngine(t, nil) // default relay: own (loopback)
	check := func(mode, fwd, dest, want string) {
		t.Helper()
		if err := e.SetRouting(ctx, mode); err != nil {
			t.Fatal(err)
		}
		if err := e.SetForwarder(ctx, fwd); err != nil {
			t.Fatal(err)
		}
		rt, err := e.routingFor(ctx, dest)
		if err != nil {
			t.Fatal(err)
		}
		if rt.fwd != want {
			t.Errorf("mode %q forwarder %q to %s: through %q, want %q", mode, fwd, shortRelay(dest), rt.fwd, want)
		}
	}
	check("", "", theirs, "")             // the default forwarder is loopback: useless
	check("auto", public, theirs, public) // a relay not in the list
	check("auto", public, own, "")        // our own relay
	check("auto", private, theirs, "")    // reachable from this network only
	check("always", private, theirs, private)
	check("always", public, own, public)
	check("always", public, public, "") // the forwarder is the destination
	check("off", public, theirs, "")
	if err := e.AddRelay(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	check("auto", public, theirs, "") // now in the list

	if err := e.SetRouting(ctx, "sometimes"); err == nil {
		t.Error("an unknown mode was accepted")
	}
	if err := e.SetForwarder(ctx, "not an address"); err == nil {
		t.Error("a bad forwarder address was accepted")
	}
	ri, err := e.Routing(ctx)
	if err != nil || ri.Mode != RoutingAuto || ri.Forwarder != public || !ri.Chosen || ri.Note != "" {
		t.Errorf("Routing = %+v, %v", ri, err)
	}
	e.SetForwarder(ctx, "")
	if ri, _ := e.Routing(ctx); ri.Forwarder != own || ri.Chosen || ri.Note == "" {
		t.Errorf("with the loopback default relay as forwarder: %+v", ri)
	}
}
