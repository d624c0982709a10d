package client

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestRedaction(t *testing.T) {
	t.Parallel()
	secret := bytes.Repeat([]byte{0xab}, 32)
	vals := []any{
		task{Kind: "send", Key: secret},
		chatMeta{AlarmID: secret, AlarmRead: secret, AlarmWrite: secret, JoinKey: "abab"},
		slotDest{relay: "x", cap: [32]byte(secret)},
		dest{slots: []slotDest{{relay: "x", cap: [32]byte(secret)}}},
	}
	for _, v := range vals {
		for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
			if s := fmt.Sprintf(f, v); strings.Contains(s, "abab") || strings.Contains(s, "171 171") {
				t.Errorf("%T printed with %s leaks: %s", v, f, s)
			}
		}
	}
}
