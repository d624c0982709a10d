package relay_test

import (
	"testing"
	"time"

	"veil/relay"
	"veil/relay/wire"
)

// TestChunkRoomIsCoarse: CROOM compares a rounded figure of the chunks
// stored with ChunkStorage, so a stranger with no credentials who binary
// searches over count learns only which step (here 62 chunks, a sixteenth
// of the limit) the relay's chunks reached, not how many chunks others
// uploaded or deleted (spec/relay.md §9).
func TestChunkRoomIsCoarse(t *testing.T) {
	const room = 1000 // chunks of ChunkStorage, below MaxChunks as on a small relay
	const step = room / 16
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
	for i := range step {
		k := newChunk(t, byte(i))
		if err := victim.PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, k.body); err != nil {
			t.Fatal(err)
		}
		if got := measure(); got != step {
			t.Fatalf("after %d chunks a stranger measured %d, want the step %d", i+1, got, step)
		}
	}
}
