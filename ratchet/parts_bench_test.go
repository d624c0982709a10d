package ratchet

import (
	"testing"

	"veil/crypto"
)

func BenchmarkPartChainStep(b *testing.B) {
	var ck crypto.SymKey
	b.ReportAllocs()
	for b.Loop() {
		chainStep(&ck)
	}
}

func BenchmarkPartSealHeader(b *testing.B) {
	var hk crypto.SymKey
	h := header{}
	dst := make([]byte, 0, 100)
	cfg := Config{}
	b.ReportAllocs()
	for b.Loop() {
		sealHeader(dst[:0], &hk, &h, &cfg)
	}
}

func BenchmarkPartOpenHeader(b *testing.B) {
	var hk crypto.SymKey
	h := header{}
	cfg := Config{}
	enc, _ := sealHeader(nil, &hk, &h, &cfg)
	var s Session
	b.ReportAllocs()
	for b.Loop() {
		s.openHeader(&hk, enc)
	}
}

// sealHeader (test helper) appends nonce || XChaCha20-Poly1305(hk, header) to dst, with a
// fresh random nonce and no associated data (§5.2).
func sealHeader(dst []byte, hk *crypto.SymKey, h *header, cfg *Config) ([]byte, error) {
	var b [headerSize]byte
	h.marshal(&b)
	return crypto.SealX(dst, hk, b[:], nil, cfg.rand())
}
