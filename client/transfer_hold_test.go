package client

import (
	"context"
	"testing"

	"veil/relay/relaytest"
)

// TestHeldTransferDoesNotRestart: while a message is being deleted its
// transfer, stopped first, is not started again by Run's loop before the
// deletion commits; once released it may run again.
func TestHeldTransferDoesNotRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &relaytest.Recorder{}
	r := relaytest.Start(t, relaytest.WithObserver(rec))
	a, _, aChat, _ := oneShotPair(t, r.Address.String())
	id := startedUpload(t, a, rec, aChat, 0)
	release := a.holdTransfer(aChat, id)
	if a.runningXfer(aChat, id) != nil {
		t.Fatal("the held upload still runs")
	}
	a.resumeTransfers(ctx, true)
	if a.runningXfer(aChat, id) != nil {
		t.Fatal("the transfer loop restarted an upload whose message is being deleted")
	}
	release()
	a.resumeTransfers(ctx, true)
	if x := a.runningXfer(aChat, id); x == nil {
		t.Fatal("the released upload does not run again")
	}
}
