package conn

import (
	"bytes"
	"testing"

	"veil/crypto"
	"veil/relay/wire"
)

// TestFreeListWipesPlaintext: recycle must not keep encoded commands (a
// SEND's capability, in the clear) in the free list for the connection's
// life: the next buffer handed out must not hold them past its length.
func TestFreeListWipesPlaintext(t *testing.T) {
	var q outQueue
	var capability [wire.CapSize]byte
	for i := range capability {
		capability[i] = 0xA5
	}
	body := make([]byte, crypto.Buckets()[0])
	item, err := wire.AppendFrame(nil, &wire.Frame{Type: wire.TypeSEND, CID: 1, Cap: capability, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	if cap(item) < freeMin || cap(item) > freeCap {
		t.Skipf("item capacity %d outside the free list's range", cap(item))
	}
	q.recycle([][]byte{item})
	b := q.buffer()
	if bytes.Contains(b[:cap(b)], capability[:]) {
		t.Fatal("a recycled buffer still holds a sent SEND's capability in the clear")
	}
}
