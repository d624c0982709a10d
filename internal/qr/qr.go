package qr

import "errors"

// Encode encodes text as a QR code (ISO/IEC 18004:2015) in byte mode with
// error correction level L, the smallest of versions 1 to 10 that holds
// it: up to 271 bytes, enough for an invite key. It returns the modules
// row by row, true for dark, without the quiet zone; Render draws it with
// one. The mask is chosen by the standard's penalty rules.
func Encode(text string) ([][]bool, error) {
	data := []byte(text)
	ver := 0
	for v := 1; v <= qrMaxVersion; v++ {
		if len(data) <= qrCapacity(v) {
			ver = v
			break
		}
	}
	if ver == 0 {
		return nil, errors.New("qr: text too long for a QR code")
	}
	q := newQR(ver)
	q.drawFunctions()
	q.drawCodewords(qrInterleave(ver, qrDataCodewords(ver, data)))
	best, bestPenalty := 0, -1
	for m := range 8 {
		q.applyMask(m)
		q.drawFormat(m)
		if p := q.penalty(); bestPenalty < 0 || p < bestPenalty {
			best, bestPenalty = m, p
		}
		q.applyMask(m) // masking is an XOR: apply again to undo
	}
	q.applyMask(best)
	q.drawFormat(best)
	return q.mod, nil
}

const qrMaxVersion = 10

// qrBlocksL gives, per version, level L's error-correction codewords per
// block and the data codewords of each block (ISO/IEC 18004 Table 9).
var qrBlocksL = [qrMaxVersion + 1]struct {
	ec   int
	data []int
}{
	1:  {7, []int{19}},
	2:  {10, []int{34}},
	3:  {15, []int{55}},
	4:  {20, []int{80}},
	5:  {26, []int{108}},
	6:  {18, []int{68, 68}},
	7:  {20, []int{78, 78}},
	8:  {24, []int{97, 97}},
	9:  {30, []int{116, 116}},
	10: {18, []int{68, 68, 69, 69}},
}

// qrAlign gives the alignment pattern centres per version (Annex E).
var qrAlign = [qrMaxVersion + 1][]int{
	2: {6, 18}, 3: {6, 22}, 4: {6, 26}, 5: {6, 30}, 6: {6, 34},
	7: {6, 22, 38}, 8: {6, 24, 42}, 9: {6, 26, 46}, 10: {6, 28, 50},
}

func qrTotalData(ver int) int {
	n := 0
	for _, d := range qrBlocksL[ver].data {
		n += d
	}
	return n
}

func qrCountBits(ver int) int {
	if ver < 10 {
		return 8
	}
	return 16
}

// qrCapacity is how many bytes a version holds in byte mode.
func qrCapacity(ver int) int {
	return (qrTotalData(ver)*8 - 4 - qrCountBits(ver)) / 8
}

// qrDataCodewords builds the data codewords: mode, count, bytes,
// terminator, padding (§7.4).
func qrDataCodewords(ver int, data []byte) []byte {
	var bits []bool
	put := func(v, n int) {
		for i := n - 1; i >= 0; i-- {
			bits = append(bits, v>>i&1 == 1)
		}
	}
	put(0b0100, 4)
	put(len(data), qrCountBits(ver))
	for _, b := range data {
		put(int(b), 8)
	}
	capBits := qrTotalData(ver) * 8
	put(0, min(4, capBits-len(bits)))
	for len(bits)%8 != 0 {
		bits = append(bits, false)
	}
	out := make([]byte, 0, qrTotalData(ver))
	for i := 0; i < len(bits); i += 8 {
		var b byte
		for j := range 8 {
			if bits[i+j] {
				b |= 0x80 >> j
			}
		}
		out = append(out, b)
	}
	for pad := byte(0xec); len(out) < qrTotalData(ver); pad ^= 0xec ^ 0x11 {
		out = append(out, pad)
	}
	return out
}

// qrInterleave splits the data into blocks, adds each block's
// Reed–Solomon codewords and interleaves them (§7.5, §7.6).
func qrInterleave(ver int, data []byte) []byte {
	spec := qrBlocksL[ver]
	div := rsDivisor(spec.ec)
	var blocks, ecs [][]byte
	for _, n := range spec.data {
		blocks = append(blocks, data[:n])
		ecs = append(ecs, rsRemainder(data[:n], div))
		data = data[n:]
	}
	var out []byte
	for i := 0; ; i++ {
		any := false
		for _, b := range blocks {
			if i < len(b) {
				out = append(out, b[i])
				any = true
			}
		}
		if !any {
			break
		}
	}
	for i := range spec.ec {
		for _, e := range ecs {
			out = append(out, e[i])
		}
	}
	return out
}

// gfMul multiplies in GF(2^8) modulo x^8+x^4+x^3+x^2+1 (0x11d).
func gfMul(a, b byte) byte {
	var p byte
	for b != 0 {
		if b&1 != 0 {
			p ^= a
		}
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0x1d
		}
		b >>= 1
	}
	return p
}

// rsDivisor returns the generator polynomial of the given degree, leading
// coefficient (always 1) dropped, highest degree first.
func rsDivisor(degree int) []byte {
	d := make([]byte, degree)
	d[degree-1] = 1
	root := byte(1)
	for range degree {
		for j := range degree {
			d[j] = gfMul(d[j], root)
			if j+1 < degree {
				d[j] ^= d[j+1]
			}
		}
		root = gfMul(root, 2)
	}
	return d
}

func rsRemainder(data, div []byte) []byte {
	r := make([]byte, len(div))
	for _, b := range data {
		f := b ^ r[0]
		copy(r, r[1:])
		r[len(r)-1] = 0
		for i := range r {
			r[i] ^= gfMul(div[i], f)
		}
	}
	return r
}

type qrCode struct {
	size int
	mod  [][]bool // [row][column]
	fn   [][]bool // function modules, never masked
	ver  int
}

func newQR(ver int) *qrCode {
	q := &qrCode{size: 17 + 4*ver, ver: ver}
	for range q.size {
		q.mod = append(q.mod, make([]bool, q.size))
		q.fn = append(q.fn, make([]bool, q.size))
	}
	return q
}

func (q *qrCode) set(x, y int, dark bool) { q.mod[y][x], q.fn[y][x] = dark, true }

func (q *qrCode) drawFunctions() {
	for i := range q.size {
		q.set(6, i, i%2 == 0)
		q.set(i, 6, i%2 == 0)
	}
	for _, c := range [][2]int{{3, 3}, {q.size - 4, 3}, {3, q.size - 4}} {
		for dy := -4; dy <= 4; dy++ {
			for dx := -4; dx <= 4; dx++ {
				x, y := c[0]+dx, c[1]+dy
				if x < 0 || y < 0 || x >= q.size || y >= q.size {
					continue
				}
				d := max(abs(dx), abs(dy))
				q.set(x, y, d != 2 && d != 4)
			}
		}
	}
	pos := qrAlign[q.ver]
	for i := range pos {
		for j := range pos {
			if i == 0 && j == 0 || i == 0 && j == len(pos)-1 || i == len(pos)-1 && j == 0 {
				continue
			}
			for dy := -2; dy <= 2; dy++ {
				for dx := -2; dx <= 2; dx++ {
					q.set(pos[i]+dx, pos[j]+dy, max(abs(dx), abs(dy)) != 1)
				}
			}
		}
	}
	q.drawFormat(0) // reserves the format areas; redrawn after masking
	if q.ver >= 7 {
		bits := qrVersionBits(q.ver)
		for i := range 18 {
			dark := bits>>i&1 == 1
			a, b := q.size-11+i%3, i/3
			q.set(a, b, dark)
			q.set(b, a, dark)
		}
	}
}

// qrVersionBits returns the 18 version bits (§7.10).
func qrVersionBits(ver int) int {
	rem := ver
	for range 12 {
		rem = rem<<1 ^ (rem>>11)*0x1f25
	}
	return ver<<12 | rem
}

// qrFormatBits returns the 15 format bits for level L and mask (§7.9).
func qrFormatBits(mask int) int {
	data := 1<<3 | mask // level L is 01
	rem := data
	for range 10 {
		rem = rem<<1 ^ (rem>>9)*0x537
	}
	return (data<<10 | rem) ^ 0x5412
}

func (q *qrCode) drawFormat(mask int) {
	bits := qrFormatBits(mask)
	bit := func(i int) bool { return bits>>i&1 == 1 }
	for i := range 6 {
		q.set(8, i, bit(i))
	}
	q.set(8, 7, bit(6))
	q.set(8, 8, bit(7))
	q.set(7, 8, bit(8))
	for i := 9; i < 15; i++ {
		q.set(14-i, 8, bit(i))
	}
	for i := range 8 {
		q.set(q.size-1-i, 8, bit(i))
	}
	for i := 8; i < 15; i++ {
		q.set(8, q.size-15+i, bit(i))
	}
	q.set(8, q.size-8, true) // the dark module
}

// drawCodewords places the codewords in the zigzag order of §7.7.3.
func (q *qrCode) drawCodewords(cw []byte) {
	i := 0
	for right := q.size - 1; right >= 1; right -= 2 {
		if right == 6 {
			right = 5
		}
		for vert := range q.size {
			for j := range 2 {
				x := right - j
				y := vert
				if (right+1)&2 == 0 {
					y = q.size - 1 - vert
				}
				if !q.fn[y][x] && i < len(cw)*8 {
					q.mod[y][x] = cw[i>>3]>>(7-i&7)&1 == 1
					i++
				}
			}
		}
	}
}

func qrMaskBit(m, x, y int) bool {
	switch m {
	case 0:
		return (x+y)%2 == 0
	case 1:
		return y%2 == 0
	case 2:
		return x%3 == 0
	case 3:
		return (x+y)%3 == 0
	case 4:
		return (x/3+y/2)%2 == 0
	case 5:
		return x*y%2+x*y%3 == 0
	case 6:
		return (x*y%2+x*y%3)%2 == 0
	}
	return ((x+y)%2+x*y%3)%2 == 0
}

func (q *qrCode) applyMask(m int) {
	for y := range q.size {
		for x := range q.size {
			if !q.fn[y][x] && qrMaskBit(m, x, y) {
				q.mod[y][x] = !q.mod[y][x]
			}
		}
	}
}

// penalty scores the symbol by the four rules of §7.8.3.
func (q *qrCode) penalty() int {
	p := 0
	n := q.size
	at := func(x, y int, transpose bool) bool {
		if transpose {
			return q.mod[x][y]
		}
		return q.mod[y][x]
	}
	for _, tr := range []bool{false, true} {
		for y := range n {
			run := 1
			for x := 1; x <= n; x++ {
				if x < n && at(x, y, tr) == at(x-1, y, tr) {
					run++
					continue
				}
				if run >= 5 {
					p += 3 + run - 5
				}
				run = 1
			}
			// 1:1:3:1:1 finder-like runs with 4 light modules on a side.
			for x := 0; x+7 <= n; x++ {
				if at(x, y, tr) && !at(x+1, y, tr) && at(x+2, y, tr) && at(x+3, y, tr) && at(x+4, y, tr) && !at(x+5, y, tr) && at(x+6, y, tr) {
					before, after := true, true
					for k := 1; k <= 4; k++ {
						if x-k >= 0 && at(x-k, y, tr) {
							before = false
						}
						if x+6+k < n && at(x+6+k, y, tr) {
							after = false
						}
					}
					if before || after {
						p += 40
					}
				}
			}
		}
	}
	dark := 0
	for y := range n {
		for x := range n {
			if q.mod[y][x] {
				dark++
			}
			if x+1 < n && y+1 < n {
				c := q.mod[y][x]
				if q.mod[y][x+1] == c && q.mod[y+1][x] == c && q.mod[y+1][x+1] == c {
					p += 3
				}
			}
		}
	}
	k := abs(dark*20-n*n*10) / (n * n)
	return p + k*10
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
