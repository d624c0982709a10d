package vault

import (
	"fmt"
	"strings"
	"testing"
)

// TestRelayCapRedacted: no verb prints a RelayCap's key, capability or
// IDs, alone or inside a Contact.
func TestRelayCapRedacted(t *testing.T) {
	secret := []byte{0xee, 0xee, 0xee, 0xee}
	rc := RelayCap{Address: "veil+ws://r.example:1#x", RecvID: []byte{0xab, 0xcd}, RecvKey: secret, SendCred: secret, Slot: 1}
	ct := Contact{ID: "c", Relays: []RelayCap{rc}}
	for _, v := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		for _, x := range []any{rc, &rc, ct, &ct} {
			out := strings.ToLower(fmt.Sprintf(v, x))
			if strings.Contains(out, "eeee") || strings.Contains(out, "238") || strings.Contains(out, "abcd") || strings.Contains(out, "171") {
				t.Errorf("%s printed %s", v, out)
			}
		}
	}
}
