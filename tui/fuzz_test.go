package tui

import (
	"strings"
	"testing"

	"veil/client"
)

// FuzzPeerTextDrawnHarmless: whatever a peer sends as text or nickname,
// the drawn chat view and chat list hold no escape, no control character
// but newline, and no bidi override (styles are off in tests, so any ESC
// would be the peer's).
func FuzzPeerTextDrawnHarmless(f *testing.F) {
	f.Add("hello", "olive-wren")
	f.Add("\x1b]0;title\x07\x1b[2J", "\x1b[31mred")
	f.Add("\x9b31m\x9d0;x\x9c", "\u202enick")
	f.Add("a\r\nb\tc\x00\x7f", "\xff\xfe")
	f.Fuzz(func(t *testing.T, text, nick string) {
		c := client.ChatInfo{ID: "f1", Peer: nick, Name: nick, LastActive: fixedNow}
		v := testView(60, 12)
		v.set(c, []client.MessageInfo{{ID: "1", Text: text, Time: fixedNow}, {ID: "2", Outgoing: true, Text: text, Status: nick, Time: fixedNow}})
		v.search(text, false)
		l := chatList{st: newStyles(), keys: defaultKeys(), now: v.now, loc: v.loc}
		l.SetSize(24, 4)
		l.set([]client.ChatInfo{c})
		for _, s := range []string{v.View(), l.View()} {
			for _, r := range s {
				if (r < 0x20 && r != '\n') || (r >= 0x7f && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
					t.Fatalf("drawn %U in %q", r, s)
				}
			}
			if strings.Contains(s, "\x1b") {
				t.Fatalf("escape drawn: %q", s)
			}
		}
	})
}
