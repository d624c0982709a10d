package daemon

import (
	"encoding/json"
	"strings"
	"testing"

	"veil/relay/relaytest"
)

// TestErrorsNeverHoldRelayPassword attacks spec/api.md §3 ("detail
// ... never holds a secret") and spec/client.md §10.3 as SECURITY.md
// quotes it (an error "names a relay by host:port, never its fingerprint
// or password"): a credentialed relay address given to the API where it
// cannot be used must not come back, password and all, in an error's
// message or detail, or in a warning, which the CLI prints and a bot
// may log.
func TestErrorsNeverHoldRelayPassword(t *testing.T) {
	r := relaytest.Start(t)
	s, _ := unlockedServer(t, Config{}, r.Address.String())
	c := pipe(t, s)
	const pw = "c2VjcmV0LXJlbGF5LXB3ZA" // base64url of "secret-relay-pwd"
	dead := r.Address
	dead.Port = 1 // nothing listens there
	addr := dead.String() + "~" + pw
	calls := []struct {
		method string
		params map[string]any
	}{
		{"relay.remove", map[string]any{"relay": addr}},
		{"relay.default", map[string]any{"relay": addr}},
		{"relay.routing", map[string]any{"forwarder": addr}},
		{"invite", map[string]any{"relay": addr}},
		{"invite", map[string]any{"relays": []string{r.Address.String(), addr}}},
		{"group.create", map[string]any{"name": "g", "relay": addr}},
		{"relay.add", map[string]any{"relay": addr}},
		{"relay.add", map[string]any{"relay": dead.String(), "password": pw}},
	}
	for _, k := range calls {
		var res map[string]any
		err := do(t, c, k.method, k.params, &res)
		var words string
		if err != nil {
			re := apiError(t, err)
			words = re.Message
			if re.Data != nil {
				words += " | " + re.Data.Detail
			}
		} else {
			b, _ := json.Marshal(res)
			words = string(b)
		}
		t.Logf("%s: %s", k.method, words)
		if strings.Contains(words, pw) {
			t.Errorf("%s %v: the relay's password comes back: %s", k.method, k.params, words)
		}
	}
}
