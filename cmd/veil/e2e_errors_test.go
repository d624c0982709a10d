package main

import (
	"strings"
	"testing"
)

// TestE2EErrorsInUserWords: a failure is one sentence in the user's words
// on stderr; --verbose adds the full error on a second line.
func TestE2EErrorsInUserWords(t *testing.T) {
	t.Parallel()
	const fp = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	p := newProfile(t, "veil+ws://127.0.0.1:1#"+fp) // nothing listens there
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"invite"}, "veil invite: the relay at 127.0.0.1:1 cannot be reached (connection refused); messages wait in the outbox"},
		{[]string{"send", "nobody", "hi"}, `veil send: no chat is called "nobody" (veil chats lists them)`},
		{[]string{"join", "veil1notakey"}, "veil join: this is not a valid invite key: check it for a typo"},
	} {
		e := p.fails(1, tc.args...)
		if !strings.HasPrefix(e, tc.want) || strings.Count(e, "\n") != 1 {
			t.Errorf("veil %v: stderr %q, want one line starting %q", tc.args, e, tc.want)
		}
		for _, bad := range []string{"client:", "conn:", "vault:", "%!", fp} {
			if strings.Contains(e, bad) {
				t.Errorf("veil %v: stderr %q contains %q", tc.args, e, bad)
			}
		}
		v := p.fails(1, append([]string{"--verbose"}, tc.args...)...)
		lines := strings.Split(strings.TrimSuffix(v, "\n"), "\n")
		if len(lines) != 2 || lines[0]+"\n" != e || !strings.HasPrefix(lines[1], "veil "+tc.args[0]+": detail: client: ") {
			t.Errorf("veil --verbose %v: stderr %q", tc.args, v)
		}
	}
}
