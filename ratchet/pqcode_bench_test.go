package ratchet

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkPQParity measures the erasure code at the ek size (n = 37): one
// parity chunk, and one whole decode from parity chunks only (the worst
// case: every data block interpolated).
func BenchmarkPQParity(b *testing.B) {
	const n = 37
	p := randPayload(rand.New(rand.NewPCG(11, 12)), n)
	b.Run("chunk", func(b *testing.B) {
		var out [32]byte
		b.SetBytes(32)
		for b.Loop() {
			pqEncode(p, 200, &out)
		}
	})
	b.Run("decode", func(b *testing.B) {
		chunks := make([]pqChunk, n)
		for i := range chunks {
			chunks[i] = chunkOf(p, byte(256-n+i))
		}
		b.SetBytes(n * 32)
		for b.Loop() {
			d := newPQDecoder(n)
			for _, c := range chunks {
				d.add(c)
			}
		}
	})
}
