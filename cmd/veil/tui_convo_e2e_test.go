package main

import (
	"testing"
)

// TestTUIReplyReactTimer: two real profiles in tmux; Ana selects Ben's
// message and replies to it with r, Ben reacts to the reply with /react,
// and Ana's timer change reaches Ben as a line and in his chat's header.
func TestTUIReplyReactTimer(t *testing.T) {
	t.Parallel()
	relay := newTestRelay(t)
	a, b, _ := twoTUIs(t, relay.addr)
	inviteTUI(t, a, b)

	b.typ("where do we meet?")
	b.keys("Enter")
	a.waitFor("where do we meet?")
	b.waitFor("where do we meet? ✓✓")

	// Ana: shift+↑ selects Ben's message (its arrival shows), r replies.
	a.keys("S-Up")
	a.waitFor("arrived")
	a.keys("r")
	a.waitFor("replying to: where do we meet?")
	a.typ("the library")
	a.keys("Enter")
	a.waitFor("↳ ben: where do we meet?", "the library")
	b.waitFor("↳ you: where do we meet?", "the library")

	// Ben reacts to Ana's reply; Ana sees the count under it.
	b.keys("S-Up")
	b.waitFor("arrived")
	b.typ("/react 👍")
	b.keys("Enter")
	b.waitFor("👍 1")
	a.waitFor("👍 1")

	// Ana sets the timer: both sides get a line, Ben's header follows.
	a.typ("/timer 1d")
	a.keys("Enter")
	a.waitFor("you set messages to disappear after 1d")
	b.waitFor("ana set messages to disappear after 1d", "⏱ 1d")
}
