package tui

import (
	"fmt"
	"testing"
	"time"

	"veil/client"
)

// BenchmarkChatViewRender draws a full chat window (messageWindow
// messages), as every one-second tick does while a chat is open.
func BenchmarkChatViewRender(b *testing.B) {
	c, _ := sampleChat()
	msgs := make([]client.MessageInfo, messageWindow)
	for i := range msgs {
		msgs[i] = client.MessageInfo{ID: fmt.Sprint(i), Outgoing: i%2 == 0, Status: "delivered",
			Text: "a message of ordinary length, about as long as people write them in a chat",
			Time: fixedNow.Add(time.Duration(i-len(msgs)) * time.Minute), Expires: fixedNow.Add(time.Hour)}
	}
	v := testView(100, 30)
	v.set(c, msgs)
	b.ReportAllocs()
	for b.Loop() {
		v.render(false)
		_ = v.View()
	}
}
