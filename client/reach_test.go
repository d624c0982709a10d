package client

import "testing"

func TestHostReach(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]string{
		"127.0.0.1": ReachMachine, "127.8.9.1": ReachMachine, "::1": ReachMachine, "localhost": ReachMachine,
		"LOCALHOST.": ReachMachine, "relay.localhost": ReachMachine, "0.0.0.0": ReachMachine, "::ffff:127.0.0.1": ReachMachine,
		"10.1.2.3": ReachNetwork, "172.16.0.1": ReachNetwork, "192.168.1.10": ReachNetwork, "fd00::1": ReachNetwork,
		"fe80::1": ReachNetwork, "169.254.1.1": ReachNetwork,
		"relay.example.org": ReachAnyone, "8.8.8.8": ReachAnyone, "2606:4700::1111": ReachAnyone, "172.32.0.1": ReachAnyone,
		"100.64.0.1": ReachNetwork, "64:ff9b::a00:1": ReachNetwork, "2002:a00:1::": ReachNetwork, "198.18.0.1": ReachNetwork, "2001:db8::1": ReachNetwork,
		"abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion": ReachAnyone,
	} {
		if got := hostReach(host); got != want {
			t.Errorf("%s: %q, want %q", host, got, want)
		}
	}
	if RelayReach("veil+ws://127.0.0.1:7070#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") != ReachMachine || RelayReach("nonsense") != ReachAnyone {
		t.Error("RelayReach")
	}
	if ReachWarning(ReachAnyone) != "" || ReachWarning(ReachNetwork) == "" {
		t.Error("ReachWarning")
	}
}
