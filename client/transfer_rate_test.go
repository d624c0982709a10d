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
	t.Parallel()
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
	if !errors.Is(err, errRateGiveUp) || isFailed(err) {
		t.Fatalf("the transfer gave up with %v, want a retryable errRateGiveUp", err)
	}
}

// TestTransferSlotsKeepOneForUploads: downloads (which a group's relay or
// peers can start with small files) take at most xferMaxDownloads of the
// xferMaxRunning slots, so an upload always has one.
func TestTransferSlotsKeepOneForUploads(t *testing.T) {
	t.Parallel()
	running := map[string]*xfer{}
	for i := range xferMaxDownloads {
		running[string(rune('a'+i))] = &xfer{}
	}
	if slotFree(running, false) {
		t.Fatalf("a download started beside %d downloads", xferMaxDownloads)
	}
	if !slotFree(running, true) {
		t.Fatal("no slot left for an upload")
	}
	running["up"] = &xfer{up: true}
	if slotFree(running, true) || slotFree(running, false) {
		t.Fatalf("a transfer started past the cap of %d", xferMaxRunning)
	}
	delete(running, "a")
	if !slotFree(running, false) || !slotFree(running, true) {
		t.Fatal("a free slot is not used")
	}
}
