package client

import (
	"context"
	"strings"
	"testing"

	"veil/relay/relaytest"
)

// TestFileOnPasswordRelay: on a relay with a password, CPUT and CROOM
// need it (spec/relay.md §7.7); the sender's client sends the password it
// holds for the relay, so a file goes through, and the receiver fetches
// it with the chunks' capabilities alone.
func TestFileOnPasswordRelay(t *testing.T) {
	t.Parallel()
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

// TestFileToUnknownPasswordRelay: a contact whose mailbox is on a relay
// with a password we do not hold cannot be sent a file there; the upload
// fails before any chunk is stored, in words that say what to do.
func TestFileToUnknownPasswordRelay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	open := relaytest.Start(t)
	pw, _ := passwordRelay(t, "sesame")
	a := startLive(t, open.Address.String(), nil)
	b := startLive(t, credentialed(t, pw, "sesame"), nil)
	aChat, _ := liveChat(t, a, b, InviteOptions{}, JoinOptions{Relay: credentialed(t, pw, "sesame")})
	path, _ := writeTestFile(t, t.TempDir(), "report.pdf", 100_000)
	id, err := a.SendFile(ctx, aChat, path, SendFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = a.WaitTransfer(ctx, aChat, id)
	if err == nil || !strings.Contains(err.Error(), "needs a password to store files") {
		t.Fatalf("upload to a password relay without its password: %v", err)
	}
	if st := fileState(t, a.Engine, aChat, id); st.State != FileFailed {
		t.Fatalf("file state %q, want failed", st.State)
	}
}
