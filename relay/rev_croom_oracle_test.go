package relay_test

import (
	"testing"
	"time"

	"veil/relay"
	"veil/relay/wire"
)

// TestCROOMOracle: CROOM answers against the exact bytes of chunks
// stored, so a stranger with no credentials learns, by binary search over
// count, how many chunks everyone else holds on the relay, and so the
// (Padmé-rounded) chunk count and time of every upload and delete.
func TestCROOMOracle(t *testing.T) {
	const room = 1000 // chunks of ChunkStorage, below MaxChunks as on a small relay
	tr := startRelay(t, withLimits(func(l *relay.Limits) { l.ChunkStorage = room * wire.ChunkSize }))
	ctx := tctx(t)
	spy := tr.dial(t) // a stranger: no password, no mailbox
	measure := func() int {
		lo, hi := 0, room+1 // free chunks in [lo, hi)
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			if spy.ChunkRoom(ctx, uint32(mid), time.Hour) == nil {
				lo = mid
			} else {
				hi = mid
			}
		}
		return room - lo
	}
	if got := measure(); got != 0 {
		t.Fatalf("empty relay measured as %d chunks", got)
	}
	victim := tr.dial(t)
	const upload = 37
	for i := range upload {
		k := newChunk(t, byte(i))
		if err := victim.PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, k.body); err != nil {
			t.Fatal(err)
		}
	}
	if got := measure(); got == upload {
		t.Errorf("a stranger measured the victim's upload exactly: %d chunks, with %d CROOMs", got, 10)
	}
}
