package relay_test

import (
	"runtime"
	"testing"
	"time"

	"veil/relay/wire"
)

// TestChunkReplyQueueUnbounded: a client that stops reading its socket
// can still have CGETs executed; every CHUNK reply (16,000 bytes) is
// appended to the session's output queue, which has no bound, and the
// in-flight token is released as soon as the reply is queued. The relay's
// heap grows by about 16 KB per CGET sent.
func TestChunkReplyQueueUnbounded(t *testing.T) {
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
