package client

import (
	"context"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/relay/relaytest"
)

// oldPasswordRelay runs a relay requiring pw for NEW and LNEW that is
// older than PUT's password field (spec/relay.md §7.2): it answers a
// long-form PUT BAD_SIZE and takes the short form from anyone.
func oldPasswordRelay(t *testing.T, pw string) *relaytest.Relay {
	t.Helper()
	return relaytest.Start(t, func(c *relay.Config) { c.Password = []byte(pw) }, relaytest.WithoutPutPassword())
}

// TestPasswordRelayOldPutInvite: an inviter holding the password of a
// private relay from before PUT's password field sends its invite in the
// long form, gets BAD_SIZE, sends it again in the short form, and the
// chat is made; so is a group invite.
func TestPasswordRelayOldPutInvite(t *testing.T) {
	t.Parallel()
	r := oldPasswordRelay(t, "sesame")
	addr := r.Address.String()
	chat1to1(t, credentialed(t, addr, "sesame"))

	ctx := context.Background()
	ana, _ := groupEngine(t, credentialed(t, addr, "sesame"))
	ben, _ := groupEngine(t, "")
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ana.GroupInvite(ctx, gid, 0)
	if err != nil {
		t.Fatalf("group invite on an old private relay: %v", err)
	}
	if _, err := ben.Join(ctx, key, JoinOptions{As: "ben"}); err != nil {
		t.Fatal(err)
	}
}

// TestForwardedPutOldPasswordRelay: a forwarded PUT with a password to a
// private relay from before the password field falls back to the short
// form as a direct one does; the forwarder needs nothing for either.
func TestForwardedPutOldPasswordRelay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rd := oldPasswordRelay(t, "sesame")
	rf := relaytest.Start(t)
	e := relayEngine(t, rd.Address.String(), func(*Config) {})
	dest, fwd := rd.Address.String(), rf.Address.String()
	c, err := e.pool.conn(ctx, connKey{addr: fwd, role: roleFwd})
	if err != nil {
		t.Fatal(err)
	}
	k := &courier{e: e, addr: dest, rt: routing{mode: RoutingAlways, fwd: fwd}, c: c}
	id := crypto.ID{4}
	if err := k.Put(ctx, id, time.Hour, []byte("sesame"), make([]byte, crypto.Buckets()[0])); err != nil {
		t.Fatalf("forwarded PUT: %v", err)
	}
	dc, err := e.pool.get(ctx, dest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dc.Take(ctx, id); err != nil {
		t.Fatalf("TAKE of the forwarded blob: %v", err)
	}
}
