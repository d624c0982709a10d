package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"veil/client"
)

// TestReviewChatViewNewlineFlood: a peer fills the chat window with
// messages of the largest size made of newlines ("a\n" repeated). Each
// becomes thousands of screen lines, and the whole window is drawn again
// on every one-second tick while a message shows a countdown, on every
// new message and on every selection move, inside the update loop: with
// messageWindow such messages one render takes seconds, so the TUI
// stops answering keys. A message drawn in many more lines than the same
// number of bytes of ordinary text would take is the amplification; the
// render cost follows the number of lines drawn.
func TestReviewChatViewNewlineFlood(t *testing.T) {
	const n = 50 // messageWindow is 500: the real window costs ten times this
	render := func(body string) (lines int, took time.Duration) {
		c, _ := sampleChat()
		msgs := make([]client.MessageInfo, n)
		for i := range msgs {
			msgs[i] = client.MessageInfo{ID: fmt.Sprint(i), From: "olive-wren", Text: body, Status: "delivered",
				Time: fixedNow.Add(time.Duration(i-n) * time.Minute), Expires: fixedNow.Add(time.Hour)}
		}
		v := testView(100, 30)
		v.set(c, msgs)
		start := time.Now()
		v.render(false)
		_ = v.View()
		return v.vp.TotalLineCount(), time.Since(start)
	}
	plainLines, plainTook := render(strings.Repeat("abcdefgh ", client.MaxText/9))
	floodLines, floodTook := render(strings.Repeat("a\n", client.MaxText/2))
	t.Logf("%d ordinary messages of %d bytes: %d lines in %v; %d newline floods: %d lines in %v",
		n, client.MaxText, plainLines, plainTook, n, floodLines, floodTook)
	if floodLines > 4*plainLines {
		t.Fatalf("a newline flood draws %d lines, %.0f times what as many bytes of ordinary text draw (%d): "+
			"a peer makes every render of the chat window %v for %d messages (%v for messageWindow)",
			floodLines, float64(floodLines)/float64(plainLines), plainLines, floodTook, n, floodTook*messageWindow/n)
	}
}
