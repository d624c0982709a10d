package crypto

import "testing"

// BenchmarkAEADSeal1K is the bare ChaCha20-Poly1305 seal of 1 KiB that the
// ratchet's per-message cost is compared with.
func BenchmarkAEADSeal1K(b *testing.B) {
	var key SymKey
	var nonce [NonceSize]byte
	pt := make([]byte, 1024)
	dst := make([]byte, 0, 1024+Overhead)
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		Seal(dst[:0], &key, &nonce, pt, nil)
	}
}

// BenchmarkAEADOpen1K is the matching open.
func BenchmarkAEADOpen1K(b *testing.B) {
	var key SymKey
	var nonce [NonceSize]byte
	ct := Seal(nil, &key, &nonce, make([]byte, 1024), nil)
	dst := make([]byte, 0, 1024)
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Open(dst[:0], &key, &nonce, ct, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBlock16K compares the two AEADs on one relay transport block
// (16,368 bytes): ChaCha20-Poly1305, which the relay transport used first,
// and AES-256-GCM (BlockAEAD), which it uses now (spec/relay.md §5.1).
func BenchmarkBlock16K(b *testing.B) {
	var key SymKey
	var nonce [NonceSize]byte
	pt := make([]byte, 16368)
	dst := make([]byte, 0, 16384)
	b.Run("chacha20poly1305-seal", func(b *testing.B) {
		b.SetBytes(int64(len(pt)))
		for b.Loop() {
			Seal(dst[:0], &key, &nonce, pt, nil)
		}
	})
	b.Run("aes256gcm-seal", func(b *testing.B) {
		a := NewBlockAEAD(BlockAES256GCM, &key)
		b.SetBytes(int64(len(pt)))
		for b.Loop() {
			a.Seal(dst[:0], &nonce, pt, nil)
		}
	})
	b.Run("aes256gcm-open", func(b *testing.B) {
		a := NewBlockAEAD(BlockAES256GCM, &key)
		ct := a.Seal(nil, &nonce, pt, nil)
		out := make([]byte, 0, len(pt))
		b.SetBytes(int64(len(pt)))
		for b.Loop() {
			if _, err := a.Open(out[:0], &nonce, ct, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
