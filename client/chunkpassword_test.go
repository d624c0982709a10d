package client

import (
	"context"
	"testing"
)

// TestFileOnPasswordRelay: on a relay with a password, CPUT and CROOM
// need it (spec/relay.md §7.7); the sender's client sends the password it
// holds for the relay, so a file goes through, and the receiver fetches
// it with the chunks' capabilities alone.
func TestFileOnPasswordRelay(t *testing.T) {
	ctx := context.Background()
	addr, _ := passwordRelay(t, "sesame")
	a := startLive(t, credentialed(t, addr, "sesame"), nil)
	b := startLive(t, credentialed(t, addr, "sesame"), nil)
	aChat, bChat := liveChat(t, a, b, InviteOptions{}, JoinOptions{})
	path, sum := writeTestFile(t, t.TempDir(), "report.pdf", 100_000)
	id, err := a.SendFile(ctx, aChat, path, SendFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WaitTransfer(ctx, aChat, id); err != nil {
		t.Fatal(err)
	}
	bid := b.incomingFile(t, bChat, "report.pdf")
	b.waitState(t, bid, FileReady)
	if got := fileSum(t, b.Engine, bChat, bid); got != sum {
		t.Fatal("the received file differs")
	}
}
