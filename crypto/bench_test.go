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
