package ratchet

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"

	"veil/crypto"
)

func randBlock(r *rand.Rand, kind byte, k int) pqBlock {
	b := pqBlock{kind: kind}
	if kind == pqKindHello {
		return b
	}
	b.epoch = 1 + r.Uint32N(1<<31)
	for i := range b.digest {
		b.digest[i] = byte(r.Uint32())
	}
	for _, x := range r.Perm(256)[:k] {
		c := pqChunk{x: byte(x)}
		for i := range c.d {
			c.d[i] = byte(r.Uint32())
		}
		b.chunks = append(b.chunks, c)
	}
	return b
}

func sameBlock(a, b pqBlock) bool {
	if a.kind != b.kind || a.epoch != b.epoch || a.digest != b.digest || len(a.chunks) != len(b.chunks) {
		return false
	}
	for i := range a.chunks {
		if a.chunks[i] != b.chunks[i] {
			return false
		}
	}
	return true
}

// TestPQBlockRoundTrip puts blocks of every kind and many sizes into padded
// plaintexts with all the room they need and one byte more, and splits
// them back: the block comes out and the rest unpads to the plaintext.
func TestPQBlockRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, kind := range []byte{pqKindHello, pqKindEK, pqKindCT} {
		ks := []int{0}
		if kind != pqKindHello {
			ks = []int{1, 2, 27, 34, 37, 92, 254, 255}
		}
		for _, k := range ks {
			b := randBlock(r, kind, k)
			for _, ptLen := range []int{0, 1, 100} {
				pt := make([]byte, ptLen)
				for i := range pt {
					pt[i] = byte(r.Uint32())
				}
				for extra := range 3 {
					padded := make([]byte, ptLen+1+extra+b.size())
					copy(padded, pt)
					padded[ptLen] = 0x80
					spare := len(padded) - ptLen - 1
					if room := pqRoom(spare); room < k {
						t.Fatalf("pqRoom(%d) = %d, block has %d chunks", spare, room, k)
					}
					putPQBlock(padded, b)
					rest, got, has, err := splitPQBlock(padded)
					if err != nil || !has || !sameBlock(got, b) {
						t.Fatalf("kind %d k %d: split gave %v %v", kind, k, has, err)
					}
					if len(rest) != ptLen+1+extra {
						t.Fatalf("rest is %d bytes", len(rest))
					}
					if u, err := crypto.Unpad(rest); err != nil || !bytes.Equal(u, pt) {
						t.Fatalf("rest does not unpad to the plaintext: %v", err)
					}
				}
			}
		}
	}
}

// TestPQBlockLegacy: bodies padded as without the KEM ratchet carry no
// block and are returned whole.
func TestPQBlockLegacy(t *testing.T) {
	for _, ptLen := range []int{0, 1, 5, 900, 926} {
		pt := bytes.Repeat([]byte{0x01}, ptLen)
		padded, err := crypto.Pad(nil, pt, crypto.Buckets())
		if err != nil {
			t.Fatal(err)
		}
		rest, b, has, err := splitPQBlock(padded)
		if err != nil || has || !bytes.Equal(rest, padded) || b.kind != 0 || b.chunks != nil {
			t.Fatalf("pt %d: legacy body gave has=%v err=%v", ptLen, has, err)
		}
	}
	for _, padded := range [][]byte{{0x80}, {0x00}, {0x01, 0x80}, {0x01, 0x80, 0x00}} {
		if _, _, has, err := splitPQBlock(padded); has || err != nil {
			t.Fatalf("%x: has=%v err=%v", padded, has, err)
		}
	}
}

// tail builds a padded body ending in the given block bytes, after a
// plaintext of one byte and its marker.
func tail(block ...[]byte) []byte {
	out := []byte{0x42, 0x80}
	for _, b := range block {
		out = append(out, b...)
	}
	return out
}

// digestBytes is a digest field for the test blocks.
var digestBytes = []byte{0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8}

func chunkBytes(x byte) []byte {
	return append([]byte{x}, bytes.Repeat([]byte{x ^ 0x5a}, 32)...)
}

func TestPQBlockMalformed(t *testing.T) {
	good := tail(chunkBytes(3), chunkBytes(9), digestBytes, []byte{0, 0, 0, 1, 2, pqKindEK, 0x01})
	if _, b, _, _ := splitPQBlock(good); !bytes.Equal(b.digest[:], digestBytes) {
		t.Fatalf("digest %x, want %x", b.digest, digestBytes)
	}
	if _, _, has, err := splitPQBlock(good); !has || err != nil {
		t.Fatalf("the good block does not parse: %v", err)
	}
	bad := map[string][]byte{
		"empty":                {},
		"hello with k":         tail([]byte{0, 0, 0, 0, 1, pqKindHello, 0x01}),
		"hello with epoch":     tail([]byte{0, 0, 0, 1, 0, pqKindHello, 0x01}),
		"ek without chunks":    tail([]byte{0, 0, 0, 1, 0, pqKindEK, 0x01}),
		"ct without chunks":    tail([]byte{0, 0, 0, 1, 0, pqKindCT, 0x01}),
		"ek epoch 0":           tail(chunkBytes(1), digestBytes, []byte{0, 0, 0, 0, 1, pqKindEK, 0x01}),
		"ct epoch 0":           tail(chunkBytes(1), digestBytes, []byte{0, 0, 0, 0, 1, pqKindCT, 0x01}),
		"repeated x":           tail(chunkBytes(7), chunkBytes(7), digestBytes, []byte{0, 0, 0, 1, 2, pqKindCT, 0x01}),
		"k larger than body":   tail(chunkBytes(1), digestBytes, []byte{0, 0, 0, 1, 3, pqKindEK, 0x01}),
		"no digest":            {0x42, 0x80, 0x01, 0, 0, 0, 1, 1, pqKindEK, 0x01},
		"hello fills the body": {0, 0, 0, 0, 0, pqKindHello, 0x01},
		"chunks fill the body": append(append(chunkBytes(1), digestBytes...), 0, 0, 0, 1, 1, pqKindEK, 0x01),
		"shorter than a hello": {0, 0, 0, 0, pqKindHello, 0x01},
		"just the tag":         {0x01},
		"k 255 too long":       tail(chunkBytes(1), []byte{0, 0, 0, 1, 255, pqKindEK, 0x01}),
	}
	for kind := 3; kind < 256; kind++ {
		bad["kind "+strconv.Itoa(kind)] = tail([]byte{0, 0, 0, 0, 0, byte(kind), 0x01})
	}
	for last := 2; last < 256; last++ {
		if last == 0x80 {
			continue
		}
		b := append([]byte{}, good...)
		b[len(b)-1] = byte(last)
		bad["last byte "+strconv.Itoa(last)] = b
	}
	// The good block with the plaintext and marker before it cut away, and
	// then cut into from the front: no byte is left before it, or it is
	// longer than the body.
	for cut := 2; cut <= len(good); cut++ {
		bad["front cut "+strconv.Itoa(cut)] = good[cut:]
	}
	for name, padded := range bad {
		rest, b, has, err := splitPQBlock(padded)
		if !errors.Is(err, ErrAuth) {
			t.Errorf("%s: err = %v, want ErrAuth", name, err)
		}
		if rest != nil || has || b.chunks != nil {
			t.Errorf("%s: returned a block with the error", name)
		}
	}
}

func TestPQRoom(t *testing.T) {
	for _, c := range []struct{ spare, room int }{
		{-1, -1}, {0, -1}, {6, -1}, {7, 0}, {14, 0}, {15, 0}, {47, 0}, {48, 1}, {81, 2}, {147, 4},
		{904, 26}, {905, 26}, {906, 27}, {3071, 92}, {15 + 33*255, 255}, {15 + 33*255 + 32, 255}, {100000, 255},
	} {
		if got := pqRoom(c.spare); got != c.room {
			t.Errorf("pqRoom(%d) = %d, want %d", c.spare, got, c.room)
		}
	}
}

func TestPQPutBlockPanics(t *testing.T) {
	one := []pqChunk{{x: 1}}
	for name, f := range map[string]func(){
		"no room":      func() { putPQBlock(make([]byte, 7), pqBlock{}) },
		"no room k=1":  func() { putPQBlock(make([]byte, 48), pqBlock{kind: pqKindEK, epoch: 1, chunks: one}) },
		"hello chunks": func() { putPQBlock(make([]byte, 100), pqBlock{chunks: one}) },
		"hello epoch":  func() { putPQBlock(make([]byte, 100), pqBlock{epoch: 1}) },
		"ek epoch 0":   func() { putPQBlock(make([]byte, 100), pqBlock{kind: pqKindEK, chunks: one}) },
		"ct k 0":       func() { putPQBlock(make([]byte, 100), pqBlock{kind: pqKindCT, epoch: 1}) },
		"kind 3":       func() { putPQBlock(make([]byte, 100), pqBlock{kind: 3}) },
		"repeated x": func() {
			putPQBlock(make([]byte, 100), pqBlock{kind: pqKindCT, epoch: 1, chunks: []pqChunk{{x: 2}, {x: 2}}})
		},
		"256 chunks": func() {
			putPQBlock(make([]byte, 9000), pqBlock{kind: pqKindCT, epoch: 1, chunks: make([]pqChunk, 256)})
		},
	} {
		if !panics(f) {
			t.Errorf("%s: no panic", name)
		}
	}
}

// FuzzPQBlock splits arbitrary bodies: never a panic, an error returns
// nothing else and wraps ErrAuth, and a block that parses, put back over
// the same body, gives back the same bytes.
func FuzzPQBlock(f *testing.F) {
	f.Add([]byte{0x42, 0x80, 0, 0})
	f.Add(tail([]byte{0, 0, 0, 0, 0, pqKindHello, 0x01}))
	f.Add(tail(chunkBytes(3), chunkBytes(9), digestBytes, []byte{0, 0, 0, 1, 2, pqKindEK, 0x01}))
	f.Add(tail(chunkBytes(3), chunkBytes(3), digestBytes, []byte{0, 0, 0, 1, 2, pqKindCT, 0x01}))
	f.Add(tail(chunkBytes(3), []byte{0, 0, 0, 1, 1, pqKindCT, 0x01}))
	f.Add([]byte{0, 0, 0, 0, 0, pqKindHello, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		rest, b, has, err := splitPQBlock(in)
		if err != nil {
			if !errors.Is(err, ErrAuth) || rest != nil || has || b.chunks != nil {
				t.Fatal("error with a result")
			}
			return
		}
		if !has {
			if !bytes.Equal(rest, in) {
				t.Fatal("no block but the body changed")
			}
			return
		}
		if len(rest) < 1 || len(rest)+b.size() != len(in) || !bytes.Equal(rest, in[:len(rest)]) {
			t.Fatal("rest is not the body before the block")
		}
		out := bytes.Clone(in)
		clear(out[len(rest):])
		putPQBlock(out, b)
		if !bytes.Equal(out, in) {
			t.Fatal("round trip")
		}
	})
}
