package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func testFileKeys(t testing.TB, b byte) *FileKeys {
	t.Helper()
	var s FileSecret
	for i := range s {
		s[i] = b + byte(i)
	}
	return NewFileKeys(&s)
}

func testChunk(i uint32) []byte {
	pt := make([]byte, FileChunkPlain)
	for j := range pt {
		pt[j] = byte(int(i) + j)
	}
	return pt
}

func TestFileConstants(t *testing.T) {
	if FileChunkPlain != 15984 || FileChunkSize != 16000 {
		t.Fatalf("chunk sizes %d/%d", FileChunkPlain, FileChunkSize)
	}
	n, err := FileChunks(MaxFileSize)
	if err != nil || n > MaxFileChunks {
		t.Fatalf("FileChunks(MaxFileSize) = %d, %v; MaxFileChunks %d", n, err, MaxFileChunks)
	}
}

func TestFileChunks(t *testing.T) {
	for _, c := range []struct {
		size int64
		want uint32
	}{
		{0, 1}, {1, 1}, {15984, 1}, {15985, 2}, {5 * 15984, 5}, {8 * 15984, 8},
		{8*15984 + 1, 10}, {6256 * 15984, 6400}, {1_000_000, 64}, {100_000_000, 6400},
		{MaxFileSize, 126976},
	} {
		got, err := FileChunks(c.size)
		if err != nil || got != c.want {
			t.Errorf("FileChunks(%d) = %d, %v; want %d", c.size, got, err, c.want)
		}
	}
	for _, bad := range []int64{-1, MaxFileSize + 1} {
		if _, err := FileChunks(bad); !errors.Is(err, ErrFileSize) {
			t.Errorf("FileChunks(%d): %v", bad, err)
		}
	}
}

// TestPadme: the rounding is monotonic, never shrinks, and costs at most
// 12 % above 8 chunks.
func TestPadme(t *testing.T) {
	prev := uint64(0)
	for l := uint64(1); l <= 200000; l++ {
		p := padme(l)
		if p < l || p < prev {
			t.Fatalf("padme(%d) = %d", l, p)
		}
		if l <= 8 && p != l {
			t.Fatalf("padme(%d) = %d, want exact", l, p)
		}
		if float64(p-l) > 0.12*float64(l) {
			t.Fatalf("padme(%d) = %d: overhead above 12%%", l, p)
		}
		prev = p
	}
}

func TestFileChunkRoundTrip(t *testing.T) {
	k := testFileKeys(t, 1)
	const n = 5
	for i := uint32(0); i < n; i++ {
		pt := testChunk(i)
		ct := k.SealChunk(nil, i, n, pt)
		if len(ct) != FileChunkSize {
			t.Fatalf("chunk %d sealed to %d bytes", i, len(ct))
		}
		got, err := k.OpenChunk(nil, i, n, ct)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
}

func TestFileChunkTamper(t *testing.T) {
	k := testFileKeys(t, 1)
	other := testFileKeys(t, 2)
	const n = 4
	cts := make([][]byte, n)
	for i := range cts {
		cts[i] = k.SealChunk(nil, uint32(i), n, testChunk(uint32(i)))
	}
	cases := map[string]func() ([]byte, error){
		// truncation: a non-last chunk presented as the last of a shorter file
		"non-last as last": func() ([]byte, error) { return k.OpenChunk(nil, 2, 3, cts[2]) },
		// extension: the last chunk presented as a middle one
		"last as non-last": func() ([]byte, error) { return k.OpenChunk(nil, 3, 5, cts[3]) },
		"reorder":          func() ([]byte, error) { return k.OpenChunk(nil, 1, n, cts[2]) },
		"other file":       func() ([]byte, error) { return other.OpenChunk(nil, 0, n, cts[0]) },
		"short":            func() ([]byte, error) { return k.OpenChunk(nil, 0, n, cts[0][:FileChunkSize-1]) },
		"long":             func() ([]byte, error) { return k.OpenChunk(nil, 0, n, append(cts[0][:FileChunkSize:FileChunkSize], 0)) },
		"i beyond n":       func() ([]byte, error) { return k.OpenChunk(nil, n, n, cts[0]) },
		"n zero":           func() ([]byte, error) { return k.OpenChunk(nil, 0, 0, cts[0]) },
		"n too large":      func() ([]byte, error) { return k.OpenChunk(nil, 0, MaxFileChunks+1, cts[0]) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			if pt, err := f(); !errors.Is(err, ErrAuth) || pt != nil {
				t.Fatalf("opened: %v", err)
			}
		})
	}
	for _, pos := range []int{0, 100, FileChunkPlain, FileChunkSize - 1} {
		ct := bytes.Clone(cts[1])
		ct[pos] ^= 1
		if _, err := k.OpenChunk(nil, 1, n, ct); !errors.Is(err, ErrAuth) {
			t.Fatalf("flipped byte %d opened", pos)
		}
	}
}

func TestFileChunkPanics(t *testing.T) {
	k := testFileKeys(t, 1)
	for name, f := range map[string]func(){
		"short pt": func() { k.SealChunk(nil, 0, 1, make([]byte, FileChunkPlain-1)) },
		"i >= n":   func() { k.SealChunk(nil, 1, 1, make([]byte, FileChunkPlain)) },
		"order":    func() { k.Order(MaxFileChunks + 1) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f()
		})
	}
}

// TestFileDerivations: every per-chunk value differs across chunks and
// kinds, and the delete caps follow from D alone.
func TestFileDerivations(t *testing.T) {
	k := testFileKeys(t, 1)
	seen := map[string]string{}
	add := func(what string, b []byte) {
		if prev, ok := seen[string(b)]; ok {
			t.Fatalf("%s equals %s", what, prev)
		}
		seen[string(b)] = what
	}
	d := k.DeleteRoot()
	add("D", d[:])
	add("K", k.k[:])
	add("O", k.o[:])
	add("N", k.n[:])
	for i := uint32(0); i < 64; i++ {
		id := k.ChunkID(i)
		if nr := k.IDRoot(); id != FileChunkID(&nr, i) {
			t.Fatal("FileChunkID differs from ChunkID")
		}
		rc, dc := k.ReadCap(i), k.DeleteCap(i)
		if dc != FileDeleteCap(&d, i) {
			t.Fatal("DeleteCap differs from FileDeleteCap")
		}
		rh, dh := CapHash(&rc), CapHash(&dc)
		add(fmt.Sprint("id", i), id[:])
		add(fmt.Sprint("read", i), rc[:])
		add(fmt.Sprint("del", i), dc[:])
		add(fmt.Sprint("readhash", i), rh[:])
		add(fmt.Sprint("delhash", i), dh[:])
	}
}

func TestFileOrder(t *testing.T) {
	k := testFileKeys(t, 1)
	for _, n := range []uint32{0, 1, 2, 3, 10, 1000, 6400} {
		p := k.Order(n)
		if uint32(len(p)) != n {
			t.Fatalf("Order(%d) has %d entries", n, len(p))
		}
		seen := make([]bool, n)
		for _, v := range p {
			if v >= n || seen[v] {
				t.Fatalf("Order(%d) is not a permutation", n)
			}
			seen[v] = true
		}
		q := k.Order(n)
		for i := range p {
			if p[i] != q[i] {
				t.Fatal("Order is not deterministic")
			}
		}
		if n >= 10 {
			fixed := 0
			for i, v := range p {
				if uint32(i) == v {
					fixed++
				}
			}
			if fixed > int(n)/2 {
				t.Fatalf("Order(%d) has %d fixed points", n, fixed)
			}
			r := testFileKeys(t, 2).Order(n)
			same := true
			for i := range p {
				same = same && p[i] == r[i]
			}
			if same {
				t.Fatal("two files share an order")
			}
		}
	}
}

func TestLocalChunk(t *testing.T) {
	var lk LocalFileKey
	lk[0] = 7
	ad := []byte("veil/vault/file/v1 chat msg")
	pt := testChunk(3)
	ct := SealLocalChunk(&lk, nil, 3, 4, pt, ad)
	got, err := OpenLocalChunk(&lk, nil, 3, 4, ct, ad)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := OpenLocalChunk(&lk, nil, 3, 4, ct, []byte("other")); !errors.Is(err, ErrAuth) {
		t.Fatal("opened under other associated data")
	}
	if _, err := OpenLocalChunk(&lk, nil, 2, 4, ct, ad); !errors.Is(err, ErrAuth) {
		t.Fatal("opened at another position")
	}
	k := testFileKeys(t, 1)
	if bytes.Equal(ct, k.SealChunk(nil, 3, 4, pt)) {
		t.Fatal("local chunk equals relay chunk")
	}
}

func TestFileSecretsRedacted(t *testing.T) {
	s, err := NewFileSecret()
	if err != nil {
		t.Fatal(err)
	}
	lk, err := NewLocalFileKey()
	if err != nil {
		t.Fatal(err)
	}
	k := NewFileKeys(&s)
	for _, v := range []any{s, &s, lk, k} {
		for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
			if out := fmt.Sprintf(f, v); !bytes.Contains([]byte(out), []byte("redacted")) {
				t.Fatalf("%s shows %q", f, out)
			}
		}
	}
	k.Wipe()
	s.Wipe()
	lk.Wipe()
	if k.k != (SymKey{}) || k.s != (FileSecret{}) || k.d != [32]byte{} || k.o != [32]byte{} || s != (FileSecret{}) || lk != (LocalFileKey{}) {
		t.Fatal("wipe left key bytes")
	}
}

// FuzzOpenChunk: OpenChunk never panics and never opens anything but the
// exact chunk it sealed, at its position, as a non-last chunk (n only
// enters the nonce through the last flag).
func FuzzOpenChunk(f *testing.F) {
	k := testFileKeys(f, 1)
	good := k.SealChunk(nil, 1, 3, testChunk(1))
	f.Add(good, uint32(1), uint32(3))
	f.Add(good, uint32(1), uint32(2))
	f.Add(good[:100], uint32(0), uint32(1))
	f.Add([]byte{}, uint32(0), uint32(0))
	f.Fuzz(func(t *testing.T, ct []byte, i, n uint32) {
		pt, err := k.OpenChunk(nil, i, n, ct)
		if err != nil {
			if pt != nil {
				t.Fatal("plaintext with an error")
			}
			return
		}
		if i != 1 || n < 3 || !bytes.Equal(ct, good) || !bytes.Equal(pt, testChunk(1)) {
			t.Fatalf("opened a chunk it did not seal (i=%d n=%d)", i, n)
		}
	})
}

func BenchmarkFileChunkSeal(b *testing.B) {
	k := testFileKeys(b, 1)
	pt := testChunk(0)
	dst := make([]byte, 0, FileChunkSize)
	b.SetBytes(FileChunkPlain)
	for i := 0; b.Loop(); i++ {
		dst = k.SealChunk(dst[:0], uint32(i)%1000, 1000, pt)
	}
}
