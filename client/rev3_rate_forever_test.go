package client

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"veil/relay/wire"
	"veil/vault"
)

// TestTransferRateForeverGivesUp: a relay answering every chunk command
// RATE must not keep a transfer (and one of the xferMaxRunning slots that
// uploads and downloads share) alive for ever; the pipeline has to fail on
// its own so that the transfer backs off and counts a try.
func TestTransferRateForeverGivesUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var calls atomic.Int64
	e := &Engine{}
	tr := &vault.Transfer{}
	err := e.pipeline(ctx, tr, 4, 4*fileChunkPlain, "downloading", nil, func(ctx context.Context, pos uint32, buf []byte) error {
		calls.Add(1)
		return &wire.Error{Code: wire.CodeRate}
	})
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after 5 s and %d RATE answers the transfer still retries: it only ends when its context does (err %v)", calls.Load(), err)
	}
}
