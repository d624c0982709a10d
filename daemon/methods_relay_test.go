package daemon

import (
	"encoding/base64"
	"strings"
	"testing"

	"veil/relay"
	"veil/relay/relaytest"
)

// TestRelayAddPassword: relay.add takes a password (base64url); relay.list
// says one is stored and never returns it; an invite on that relay then
// works and its key carries the password.
func TestRelayAddPassword(t *testing.T) {
	const pw = "pw-SENTINEL-3f9a"
	enc := base64.RawURLEncoding.EncodeToString([]byte(pw))
	r := relaytest.Start(t, func(c *relay.Config) { c.Password = []byte(pw) })
	addr := r.Address.String()
	ana := newPeer(t, addr)
	if re := apiError(t, do(t, ana.c, "invite", map[string]string{}, nil)); !strings.Contains(re.Message, "needs a password") {
		t.Fatalf("invite without the password: %q", re.Message)
	}
	wantCode(t, do(t, ana.c, "relay.add", map[string]string{"relay": addr, "password": pw + "="}, nil), -32602, "")
	must(t, ana.c, "relay.add", map[string]string{"relay": addr, "password": enc}, nil)
	var rs []RelayInfo
	must(t, ana.c, "relay.list", nil, &rs)
	if len(rs) != 1 || rs[0].Relay != addr || !rs[0].Password {
		t.Fatalf("relay.list: %+v", rs)
	}
	var inv InviteResult
	must(t, ana.c, "invite", map[string]string{}, &inv)
	if !strings.Contains(inv.Key, "~"+enc+".") {
		t.Fatal("the invite key does not carry the password")
	}
	// A wrong one replaces it when given explicitly, and is said so.
	must(t, ana.c, "relay.add", map[string]string{"relay": addr, "password": base64.RawURLEncoding.EncodeToString([]byte("not it"))}, nil)
	re := apiError(t, do(t, ana.c, "invite", map[string]string{}, nil))
	if !strings.Contains(re.Message, "refused the password stored for it") || strings.Contains(re.Message, pw) {
		t.Fatalf("invite with a wrong password: %q", re.Message)
	}
}
