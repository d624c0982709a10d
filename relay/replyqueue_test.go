package relay_test

import (
	"runtime"
	"testing"
	"time"

	"veil/relay/wire"
)

// TestUnreadRepliesBounded: a client that sends CGETs and stops reading
// its socket gets no more than a few MiB of CHUNK replies queued: a
// command keeps its in-flight token while the writer is behind, so the
// relay stops reading (spec/relay.md §11) instead of holding 16 KB for
// every CGET sent.
func TestUnreadRepliesBounded(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	k := newChunk(t, 7)
	if err := tr.dial(t).PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, k.body); err != nil {
		t.Fatal(err)
	}
	r := tr.raw(t)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapInuse
	const blocks, perBlock = 24, 250 // 6,000 CGETs: within the chunk burst
	for range blocks {
		items := make([][]byte, 0, perBlock)
		for range perBlock {
			f := wire.Frame{Type: wire.TypeCGET, CID: r.NextCID(), ID: k.id, Cap: k.read}
			it, err := wire.AppendFrame(nil, &f)
			if err != nil {
				t.Fatal(err)
			}
			items = append(items, it)
		}
		if err := r.Send(ctx, items...); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second) // never read a reply
	runtime.GC()
	runtime.ReadMemStats(&ms)
	grew := int64(ms.HeapInuse) - int64(before)
	t.Logf("heap grew by %d MB for %d CGETs sent, none read", grew>>20, blocks*perBlock)
	if grew > 16<<20 {
		t.Errorf("relay holds %d MB of unread CHUNK replies for one connection: the reply queue is unbounded", grew>>20)
	}
}
