package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"veil/client"
)

// TestChatViewNewlineFloodIsBounded: a peer fills the chat window with
// messages of the largest size made of newlines ("a\n" repeated). Each
// would be thousands of screen lines, and the whole window is drawn
// again on every one-second tick while a message shows a countdown, on
// every new message and on every selection move: with messageWindow such
// messages one render took 9.5 s, and the TUI stopped answering keys.
// A message is drawn in at most about a screen of lines unless it is
// selected; the selected one is drawn whole, so nothing is out of reach.
// The render cost follows the number of lines drawn, which this counts.
func TestChatViewNewlineFloodIsBounded(t *testing.T) {
	const n = 50
	flood := strings.Repeat("a\n", client.MaxText/2)
	render := func(body, sel string) (lines int, took time.Duration, v chatView) {
		c, _ := sampleChat()
		msgs := make([]client.MessageInfo, n)
		for i := range msgs {
			msgs[i] = client.MessageInfo{ID: fmt.Sprint(i), From: "olive-wren", Text: body, Status: "delivered",
				Time: fixedNow.Add(time.Duration(i-n) * time.Minute), Expires: fixedNow.Add(time.Hour)}
		}
		v = testView(100, 30)
		v.set(c, msgs)
		v.selID = sel
		start := time.Now()
		v.render(false)
		_ = v.View()
		return v.vp.TotalLineCount(), time.Since(start), v
	}
	plainLines, plainTook, _ := render(strings.Repeat("abcdefgh ", client.MaxText/9), "")
	floodLines, floodTook, v := render(flood, "")
	t.Logf("%d ordinary messages of %d bytes: %d lines in %v; %d newline floods: %d lines in %v",
		n, client.MaxText, plainLines, plainTook, n, floodLines, floodTook)
	limit := max(minClipLines, v.vp.Height)
	if floodLines > n*(limit+4) {
		t.Fatalf("%d newline floods draw %d lines, over a screen (%d lines) each: a peer makes every render of the chat window %v (%v for messageWindow)",
			n, floodLines, limit, floodTook, floodTook*messageWindow/n)
	}
	clipped := v.clipLines(flood)
	if got := strings.Count(clipped, "\n") + 1; got != limit+1 ||
		!strings.Contains(clipped, fmt.Sprintf("… %d more lines: select the message to read it all", client.MaxText/2-limit)) {
		t.Fatalf("a clipped message is %d lines (want %d and a last one saying how many more and how to read them): ...%q",
			got, limit+1, clipped[max(0, len(clipped)-80):])
	}
	selLines, _, _ := render(flood, "7")
	if selLines < floodLines+client.MaxText/2-limit {
		t.Fatalf("the selected flood message is not drawn whole: %d lines with it selected, %d without", selLines, floodLines)
	}
}
