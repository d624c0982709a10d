package client

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"veil/relay/relaytest"
	"veil/vault"
)

// TestNewDownloadBlobResetsStoredWatermark: a download whose blob is gone
// starts again in a new blob from position 0, but the stored transfer
// record keeps the old watermark, and checkpoint only ever raises it. A
// stop before the new blob gets past the old watermark then resumes past
// chunks the new blob never had: the verify fails and the file fails for
// good instead of being fetched again.
func TestNewDownloadBlobResetsStoredWatermark(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	a, b, aChat, bChat := oneShotPair(t, r.Address.String())
	path, _ := writeTestFile(t, t.TempDir(), "big.bin", 40_000_000)
	id, err := a.SendFile(ctx, aChat, path, SendFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WaitTransfer(ctx, aChat, id); err != nil {
		t.Fatalf("upload: %v", err)
	}
	a.kickOutbox()
	bid := b.incomingFile(t, bChat, "big.bin")
	if err := b.SetAutoDownloadLimit(0); err != nil {
		t.Fatal(err)
	}
	if err := b.FetchFile(ctx, bChat, bid); err != nil {
		t.Fatal(err)
	}
	tid := transferID(bChat, bid)
	stored := func(e *Engine) (vault.Transfer, bool) {
		ts, err := e.v.Transfers()
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range ts {
			if tr.ID == tid {
				return tr, true
			}
		}
		return vault.Transfer{}, false
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		tr, ok := stored(b.Engine)
		if !ok {
			t.Skip("the download ended before a checkpoint was seen")
		}
		if tr.Done > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint")
		}
		time.Sleep(time.Millisecond)
	}
	cfg := b.cfg
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	e, err := Open(ctx, cfg, []byte("test pin"))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	tr, ok := stored(e)
	if !ok || tr.Done == 0 {
		t.Skip("the download finished before Close")
	}
	j, err := e.loadJob(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	// The blob is lost (removed from the disk).
	ms, _ := filepath.Glob(filepath.Join(cfg.Dir, "*", "*", j.blob))
	ms2, _ := filepath.Glob(filepath.Join(cfg.Dir, "*", "*", "*", j.blob))
	ms = append(ms, ms2...)
	if len(ms) != 1 {
		t.Fatalf("blob %s not found (%v)", j.blob, ms)
	}
	if err := os.Remove(ms[0]); err != nil {
		t.Fatal(err)
	}
	blob, err := e.openDownloadBlob(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	blob.Close()
	if j.t.Done != 0 {
		t.Fatalf("a new blob resumes at %d", j.t.Done)
	}
	// The new blob gets a few chunks and a checkpoint, then the engine stops.
	if err := e.checkpoint(ctx, j.t, 1); err != nil {
		t.Fatal(err)
	}
	after, _ := stored(e)
	if after.Done > 1 {
		t.Fatalf("the new blob holds 1 chunk but the stored watermark says %d (old blob's %d): a resume skips chunks it never wrote", after.Done, tr.Done)
	}
}
