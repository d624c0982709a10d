package ratchet

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// gfMulSlow multiplies in GF(2^8) mod 0x11B by shift and add, with no table.
func gfMulSlow(a, b byte) byte {
	var p byte
	for b != 0 {
		if b&1 != 0 {
			p ^= a
		}
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0x1b
		}
		b >>= 1
	}
	return p
}

// gfInvSlow inverts a non-zero element as a^254.
func gfInvSlow(a byte) byte {
	r := byte(1)
	for range 254 {
		r = gfMulSlow(r, a)
	}
	return r
}

func TestPQFieldTables(t *testing.T) {
	v := byte(1)
	seen := map[byte]bool{}
	for i := range 255 {
		if gfExp[i] != v || gfExp[i+255] != v {
			t.Fatalf("gfExp[%d] = %#x, want 3^%d = %#x", i, gfExp[i], i, v)
		}
		if seen[v] {
			t.Fatalf("3 is not a generator: 3^%d repeats", i)
		}
		seen[v] = true
		if int(gfLog[v]) != i {
			t.Fatalf("gfLog[%#x] = %d, want %d", v, gfLog[v], i)
		}
		v = gfMulSlow(v, 3)
	}
	if gfLog[0] != 0 {
		t.Fatal("gfLog[0] is not 0")
	}
	for a := 1; a < 256; a++ {
		for b := 1; b < 256; b++ {
			if got := gfExp[int(gfLog[a])+int(gfLog[b])]; got != gfMulSlow(byte(a), byte(b)) {
				t.Fatalf("%#x·%#x: tables give %#x", a, b, got)
			}
		}
	}
}

// slowCoeffs is an independent decoder: it finds the coefficients of the
// polynomial of degree < len(pts) through the points by Gaussian
// elimination on the Vandermonde system, 32 lanes at once.
func slowCoeffs(pts []pqChunk) [][32]byte {
	n := len(pts)
	a := make([][]byte, n) // Vandermonde rows x_k^j
	rhs := make([][32]byte, n)
	for k, p := range pts {
		a[k] = make([]byte, n)
		pw := byte(1)
		for j := range n {
			a[k][j] = pw
			pw = gfMulSlow(pw, p.x)
		}
		rhs[k] = p.d
	}
	for col := range n {
		piv := -1
		for r := col; r < n; r++ {
			if a[r][col] != 0 {
				piv = r
				break
			}
		}
		if piv < 0 {
			panic("singular Vandermonde system: nodes not distinct")
		}
		a[col], a[piv] = a[piv], a[col]
		rhs[col], rhs[piv] = rhs[piv], rhs[col]
		inv := gfInvSlow(a[col][col])
		for j := range n {
			a[col][j] = gfMulSlow(a[col][j], inv)
		}
		for b := range 32 {
			rhs[col][b] = gfMulSlow(rhs[col][b], inv)
		}
		for r := range n {
			if r == col || a[r][col] == 0 {
				continue
			}
			f := a[r][col]
			for j := range n {
				a[r][j] ^= gfMulSlow(f, a[col][j])
			}
			for b := range 32 {
				rhs[r][b] ^= gfMulSlow(f, rhs[col][b])
			}
		}
	}
	return rhs
}

// slowEval evaluates the polynomial of coefficients c at x by Horner's rule.
func slowEval(c [][32]byte, x byte) [32]byte {
	var v [32]byte
	for j := len(c) - 1; j >= 0; j-- {
		for b := range v {
			v[b] = gfMulSlow(v[b], x) ^ c[j][b]
		}
	}
	return v
}

// slowSolve decodes through slowCoeffs: the values at 0 … m−1.
func slowSolve(pts []pqChunk, m int) []byte {
	c := slowCoeffs(pts)
	out := make([]byte, 0, m*32)
	for i := range m {
		v := slowEval(c, byte(i))
		out = append(out, v[:]...)
	}
	return out
}

// slowCode returns the coefficients of the payload's polynomial.
func slowCode(payload []byte) [][32]byte {
	pts := make([]pqChunk, len(payload)/32)
	for i := range pts {
		pts[i].x = byte(i)
		copy(pts[i].d[:], payload[i*32:])
	}
	return slowCoeffs(pts)
}

func randPayload(r *rand.Rand, n int) []byte {
	p := make([]byte, n*32)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

func chunkOf(payload []byte, x byte) pqChunk {
	c := pqChunk{x: x}
	pqEncode(payload, x, &c.d)
	return c
}

func TestPQEncodeMatchesSlowSolver(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 34, 37, 255} {
		p := randPayload(r, n)
		poly := slowCode(p)
		for x := range 256 {
			c := chunkOf(p, byte(x))
			if x < n && !bytes.Equal(c.d[:], p[x*32:x*32+32]) {
				t.Fatalf("n=%d: chunk %d is not a copy of its block", n, x)
			}
			if want := slowEval(poly, byte(x)); c.d != want {
				t.Fatalf("n=%d: chunk %d differs from the slow solver", n, x)
			}
		}
	}
}

// decodeAll feeds chunks in order and checks the decoder's contract: nothing
// before the n-th distinct x, the payload on it, at most n−1 held between
// calls, and empty afterwards.
func decodeAll(t *testing.T, n int, chunks []pqChunk) []byte {
	t.Helper()
	d := newPQDecoder(n)
	distinct := map[byte]bool{}
	for i, c := range chunks {
		distinct[c.x] = true
		p, done := d.add(c)
		if len(distinct) < n {
			if done || p != nil {
				t.Fatalf("n=%d: done after %d distinct chunks", n, len(distinct))
			}
			if len(d.got) != len(distinct) || len(d.got) > n-1 {
				t.Fatalf("n=%d: holds %d chunks, %d distinct given", n, len(d.got), len(distinct))
			}
			if !slices.IsSortedFunc(d.got, func(a, b pqChunk) int { return int(a.x) - int(b.x) }) {
				t.Fatal("held chunks are not sorted")
			}
			continue
		}
		if !done || len(p) != n*32 {
			t.Fatalf("n=%d: not done on the n-th distinct chunk", n)
		}
		if len(d.got) != 0 {
			t.Fatal("decoder not empty after completing")
		}
		if i != len(chunks)-1 {
			t.Fatal("test fed chunks past completion")
		}
		return p
	}
	t.Fatalf("n=%d: never done", n)
	return nil
}

// withDuplicates returns the chunks of xs in order, each chunk before the
// last sometimes repeated later (never after the n-th distinct).
func withDuplicates(r *rand.Rand, payload []byte, xs []byte) []pqChunk {
	var out []pqChunk
	for i, x := range xs {
		out = append(out, chunkOf(payload, x))
		if i < len(xs)-1 && r.IntN(3) == 0 {
			out = append(out, chunkOf(payload, xs[r.IntN(i+1)]))
		}
	}
	return out
}

func TestPQDecodeSubsets(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	runs := 400
	if testing.Short() {
		runs = 60
	}
	for _, n := range []int{34, 37} {
		p := randPayload(r, n)
		check := func(name string, xs []byte) {
			t.Helper()
			if got := decodeAll(t, n, withDuplicates(r, p, xs)); !bytes.Equal(got, p) {
				t.Fatalf("n=%d %s %v: wrong payload", n, name, xs)
			}
		}
		var xs []byte
		for x := range n {
			xs = append(xs, byte(x))
		}
		check("data only", xs)
		xs = xs[:0]
		for x := 256 - n; x < 256; x++ {
			xs = append(xs, byte(x))
		}
		check("last parity", xs)
		xs = xs[:0]
		for x := n; x < 2*n; x++ {
			xs = append(xs, byte(x))
		}
		check("first parity", xs)
		// A cursor that wrapped: the tail of the range, then from 0.
		xs = xs[:0]
		for i := range n {
			xs = append(xs, byte(250+i))
		}
		check("wrapped", xs)
		for range runs {
			var pool []byte
			switch r.IntN(3) {
			case 0: // anywhere
				for x := range 256 {
					pool = append(pool, byte(x))
				}
			case 1: // parity only
				for x := n; x < 256; x++ {
					pool = append(pool, byte(x))
				}
			case 2: // the first 2n+10, as a cursor sends them
				for x := range 2*n + 10 {
					pool = append(pool, byte(x))
				}
			}
			r.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
			check("random", pool[:n])
		}
	}
}

// TestPQDecodeMatchesSlowSolver gives the decoder n arbitrary chunks (not
// a codeword of any particular payload) and checks its interpolation
// against Gaussian elimination.
func TestPQDecodeMatchesSlowSolver(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 2, 5, 34, 37} {
		for range 20 {
			xs := r.Perm(256)[:n]
			pts := make([]pqChunk, n)
			d := newPQDecoder(n)
			var got []byte
			for i, x := range xs {
				pts[i].x = byte(x)
				for b := range pts[i].d {
					pts[i].d[b] = byte(r.Uint32())
				}
				p, done := d.add(pts[i])
				if done != (i == n-1) {
					t.Fatalf("n=%d: done=%v at chunk %d", n, done, i)
				}
				got = p
			}
			if want := slowSolve(pts, n); !bytes.Equal(got, want) {
				t.Fatalf("n=%d %v: decoder and slow solver differ", n, xs)
			}
		}
	}
}

func TestPQDecoderWipe(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	p := randPayload(r, 37)
	d := newPQDecoder(37)
	for x := range 10 {
		d.add(chunkOf(p, byte(100+x)))
	}
	held := d.got[:cap(d.got)]
	d.wipe()
	if len(d.got) != 0 {
		t.Fatal("wipe left chunks")
	}
	for _, c := range held {
		if c.d != [32]byte{} || c.x != 0 {
			t.Fatal("wipe left chunk bytes")
		}
	}
	// The decoder starts again from nothing.
	var xs []byte
	for x := range 37 {
		xs = append(xs, byte(200+x))
	}
	for i, x := range xs {
		got, done := d.add(chunkOf(p, x))
		if done != (i == 36) || (done && !bytes.Equal(got, p)) {
			t.Fatal("decoder does not work after wipe")
		}
	}
}

func TestPQCodeSizesPanic(t *testing.T) {
	var out [32]byte
	for _, l := range []int{0, 31, 33, 256 * 32} {
		if !panics(func() { pqEncode(make([]byte, l), 0, &out) }) {
			t.Errorf("pqEncode of %d bytes did not panic", l)
		}
	}
	for _, n := range []int{0, -1, 256} {
		if !panics(func() { newPQDecoder(n) }) {
			t.Errorf("newPQDecoder(%d) did not panic", n)
		}
	}
	var zero pqDecoder
	if !panics(func() { zero.add(pqChunk{}) }) {
		t.Error("the zero decoder accepted a chunk")
	}
}

func panics(f func()) (p bool) {
	defer func() { p = recover() != nil }()
	f()
	return false
}

// FuzzPQDecoder feeds a decoder a scripted sequence of chunks, each either
// a true chunk of a payload or arbitrary bytes: never a panic, never more
// than n−1 chunks held, and whenever every chunk the decoder took was true
// it returns the payload.
//
// in[0] picks n, in[1] seeds the payload; then each step is an op byte:
// high bit clear, the true chunk at the next byte's x; set, an arbitrary
// chunk of the next 33 bytes.
func FuzzPQDecoder(f *testing.F) {
	f.Add([]byte{36, 1, 0, 5, 0, 5, 0, 200})
	seq := []byte{33, 7}
	for x := 222; x < 256; x++ {
		seq = append(seq, 0, byte(x))
	}
	f.Add(seq)
	f.Add(append([]byte{0, 3, 0x80}, make([]byte, 33)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 {
			return
		}
		n := 1 + int(in[0])%64
		p := randPayload(rand.New(rand.NewPCG(uint64(in[1]), 0)), n)
		d := newPQDecoder(n)
		var held [256]bool
		tainted := false
		for in = in[2:]; len(in) >= 2; {
			var c pqChunk
			if in[0]&0x80 == 0 {
				c = chunkOf(p, in[1])
				in = in[2:]
			} else {
				if len(in) < 1+pqChunkSize {
					return
				}
				c.x = in[1]
				copy(c.d[:], in[2:])
				in = in[1+pqChunkSize:]
				if !held[c.x] && c != chunkOf(p, c.x) {
					tainted = true
				}
			}
			held[c.x] = true
			got, done := d.add(c)
			if len(d.got) > n-1 || cap(d.got) > n {
				t.Fatalf("decoder holds %d chunks (cap %d) for n = %d", len(d.got), cap(d.got), n)
			}
			if !done {
				if got != nil {
					t.Fatal("a payload without done")
				}
				continue
			}
			if len(got) != n*32 || (!tainted && !bytes.Equal(got, p)) {
				t.Fatal("wrong payload from true chunks")
			}
			held = [256]bool{}
			tainted = false
		}
	})
}

// TestPQDecodeEveryPattern decodes, for n = 34 and 37, every way of losing
// two of the first n+2 chunks a cursor sends, and every window of n
// consecutive x (mod 256) a cursor can send from any start, wraps included.
func TestPQDecodeEveryPattern(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{34, 37} {
		p := randPayload(r, n)
		var all [256]pqChunk
		for x := range all {
			all[x] = chunkOf(p, byte(x))
		}
		feed := func(xs []int) []byte {
			d := newPQDecoder(n)
			for i, x := range xs {
				got, done := d.add(all[x])
				if done != (i == len(xs)-1) {
					t.Fatalf("n=%d %v: done=%v at %d", n, xs, done, i)
				}
				if done {
					return got
				}
			}
			return nil
		}
		for a := range n + 2 {
			for b := a + 1; b < n+2; b++ {
				var xs []int
				for x := range n + 2 {
					if x != a && x != b {
						xs = append(xs, x)
					}
				}
				if !bytes.Equal(feed(xs), p) {
					t.Fatalf("n=%d: losing %d and %d gives a wrong payload", n, a, b)
				}
			}
		}
		for s := range 256 {
			xs := make([]int, n)
			for i := range xs {
				xs[i] = (s + i) % 256
			}
			if !bytes.Equal(feed(xs), p) {
				t.Fatalf("n=%d: window from %d gives a wrong payload", n, s)
			}
		}
	}
}
