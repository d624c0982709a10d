package main

import (
	"context"
	"strings"
	"testing"
)

// TestCheckRelayNeverLooksUpOnion: the first run never dials (so never
// resolves) an onion relay without a proxy; it says Tor is needed.
func TestCheckRelayNeverLooksUpOnion(t *testing.T) {
	p := &tuiProfile{g: &globals{}}
	fp := strings.Repeat("A", 43)
	for _, host := range []string{"abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion", "relay.ONION."} {
		err := p.CheckRelay(context.Background(), "veil://"+host+":443#"+fp)
		if err == nil || !strings.Contains(err.Error(), "--socks5") {
			t.Errorf("%s: %v", host, err)
		}
	}
	p.g.socks5 = "127.0.0.1:9050"
	if err := p.CheckRelay(context.Background(), "veil://relay.onion:443#"+fp); err != nil {
		t.Errorf("through a proxy: %v", err)
	}
}
