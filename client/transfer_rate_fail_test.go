package client

import (
	"context"
	"testing"

	"veil/vault"
)

// TestRateGiveUpNeverFailsFile: a relay that answers RATE (which any
// other client of a shared forwarder can cause, by filling its in-flight
// slots to the destination) only delays a transfer; it must never make
// the file fail for good.
func TestRateGiveUpNeverFailsFile(t *testing.T) {
	t.Parallel()
	e := testEngine(t, nil)
	tr := vault.Transfer{ID: transferID("c0ffee000001", "m"), Chat: "c0ffee000001", Message: "m", Up: true, Tries: xferMaxTries}
	if err := e.transferEnded(context.Background(), tr, errRateGiveUp, false); isFailed(err) {
		t.Fatalf("RATE answers failed the file for good: %v", err)
	}
}
