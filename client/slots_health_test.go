package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"veil/internal/socks5test"
	"veil/relay/wire"
)

// TestRelayHealthOutages: a failure hours after the previous one starts a
// new outage, so it does not count as down at once; failures no further
// apart than retries come, for SlotDownAfter, do.
func TestRelayHealthOutages(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	var h relayHealth
	h.failed("r", clk.Now(), SlotDownAfter)
	clk.Add(3 * time.Hour)
	start := clk.Now()
	h.failed("r", clk.Now(), SlotDownAfter)
	if since := h.downSince("r", clk.Now(), SlotDownAfter); !since.IsZero() {
		t.Fatalf("one failure now and one hours ago count as down since %v", since)
	}
	clk.Add(SlotDownAfter / 2)
	h.failed("r", clk.Now(), SlotDownAfter)
	clk.Add(5 * time.Minute) // the longest retry interval
	h.failed("r", clk.Now(), SlotDownAfter)
	if since := h.downSince("r", clk.Now(), SlotDownAfter); !since.Equal(start) {
		t.Fatalf("down since %v, want %v", since, start)
	}
	h.ok("r")
	h.failed("r", clk.Now(), SlotDownAfter)
	if since := h.downSince("r", clk.Now(), SlotDownAfter); !since.IsZero() {
		t.Fatal("an OK did not end the outage")
	}
}

// TestSendNotFoundIsPermanent: a relay answering NOT_FOUND to a SEND
// says the peer's mailbox is gone: that copy is given up like one refused
// with AUTH instead of being retried forever; NOT_SECURED is permanent
// only for a MOVED.
func TestSendNotFoundIsPermanent(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		code  wire.Code
		route bool
		want  bool
	}{
		{wire.CodeNotFound, false, true},
		{wire.CodeNotFound, true, true},
		{wire.CodeAuth, false, true},
		{wire.CodeNotSecured, false, false},
		{wire.CodeNotSecured, true, true},
		{wire.CodeRate, false, false},
	} {
		if got := sendRefused(fmt.Errorf("client: sending: %w", &wire.Error{Code: c.code}), c.route); got != c.want {
			t.Errorf("code %v route %v: permanent %v, want %v", c.code, c.route, got, c.want)
		}
	}
}

// TestBurnSendsOnTheChatsConnection: the BURN tasks that outlive a chat
// present the chat's SOCKS5 credential (spec/client.md §7.1), not one per
// mailbox.
func TestBurnSendsOnTheChatsConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, ben := slotPair(t, clk, a, b)
	ana.stop()
	ben.stop()
	if err := ben.e.Burn(ctx, ben.chat); err != nil {
		t.Fatal(err)
	}
	px := socks5test.Start(t, "") // refuses: only the credentials count
	if err := ben.e.SetSOCKS5(ctx, px.Addr); err != nil {
		t.Fatal(err)
	}
	ben.e.Flush(ctx)
	auths := px.Auths()
	for _, r := range []string{a.Address.String(), b.Address.String()} {
		want := ben.e.pool.socksAuth(connKey{addr: r, role: roleSend, iso: ben.chat})
		if !slices.Contains(auths, want.User+":"+want.Password) {
			t.Errorf("no send to %s with the chat's credential (got %q)", r, auths)
		}
	}
}

// TestHeldBackIsNoOutage: an item our private routing holds back does
// not count against the destination relay's health, so its copies are
// never given up as for a relay down.
func TestHeldBackIsNoOutage(t *testing.T) {
	t.Parallel()
	for _, err := range []error{errNoForward, errRouteHeld, fmt.Errorf("client: sending: %w", errNoForward)} {
		if !heldBack(err) {
			t.Errorf("%v not held back", err)
		}
	}
	if heldBack(errors.New("client: connection refused")) {
		t.Error("a connection failure taken for a hold")
	}
}
