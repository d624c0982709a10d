package client

import (
	"context"
	"testing"

	"veil/internal/socks5test"
)

func TestCheckSOCKS5(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"", "127.0.0.1:9050", "localhost:1080", "[::1]:9050", "abcdef.onion:9050"} {
		if err := CheckSOCKS5(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"127.0.0.1", "127.0.0.1:", ":9050", "host:0", "host:65536", "host:http", "host:-1", "a b:9050", "::1:9050"} {
		if err := CheckSOCKS5(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestStoredSOCKS5: the proxy stored in the profile is used at once and
// after the next unlock; Config.SOCKS5 (the --socks5 flag) wins over it;
// a bad address is refused and changes nothing.
func TestStoredSOCKS5(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stored, flag := socks5test.Start(t, ""), socks5test.Start(t, "")
	e := testEngine(t, nil)
	if err := e.SetSOCKS5(ctx, "127.0.0.1"); err == nil {
		t.Fatal("a proxy without a port was accepted")
	}
	if err := e.SetSOCKS5(ctx, stored.Addr); err != nil {
		t.Fatal(err)
	}
	if addr, fixed := e.SOCKS5(); addr != stored.Addr || fixed {
		t.Fatalf("SOCKS5() = %q, %v", addr, fixed)
	}
	if err := e.CheckRelay(ctx, testRelayAddr); err == nil {
		t.Fatal("a relay was reached through a proxy that refuses everything")
	}
	want := []string{"127.0.0.1:1"} // testRelayAddr's host and port
	if got := stored.Targets(); len(got) != 1 || got[0] != want[0] {
		t.Fatalf("the stored proxy was asked for %q, want %q", got, want)
	}

	// The next unlock reads the setting.
	e2, err := reopen(t, e, "test pin")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := e2.SOCKS5Setting(ctx); v != stored.Addr || err != nil {
		t.Fatalf("SOCKS5Setting = %q, %v", v, err)
	}
	e2.CheckRelay(ctx, testRelayAddr)
	if got := stored.Targets(); len(got) != 2 {
		t.Fatalf("after unlock the stored proxy saw %q", got)
	}

	// A flag wins, and a new setting does not move the engine off it.
	cfg := e2.cfg
	e2.Close()
	cfg.SOCKS5 = flag.Addr
	e3, err := Open(ctx, cfg, []byte("test pin"))
	if err != nil {
		t.Fatal(err)
	}
	defer e3.Close()
	if addr, fixed := e3.SOCKS5(); addr != flag.Addr || !fixed {
		t.Fatalf("SOCKS5() = %q, %v with the flag", addr, fixed)
	}
	if err := e3.SetSOCKS5(ctx, ""); err != nil {
		t.Fatal(err)
	}
	e3.CheckRelay(ctx, testRelayAddr)
	if got := flag.Targets(); len(got) != 1 {
		t.Fatalf("the flag's proxy saw %q", got)
	}
	if got := stored.Targets(); len(got) != 2 {
		t.Fatalf("the stored proxy was used despite the flag: %q", got)
	}
	if v, _ := e3.SOCKS5Setting(ctx); v != "" {
		t.Fatalf("setting not cleared: %q", v)
	}
}
