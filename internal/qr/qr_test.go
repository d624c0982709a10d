package qr

import (
	"strings"
	"testing"
)

// Total codewords and remainder bits per version (ISO/IEC 18004 Table 1):
// the count of non-function modules must match exactly, which checks the
// finder, separator, timing, alignment, format and version areas.
var qrTotalCodewords = [qrMaxVersion + 1][2]int{
	1: {26, 0}, 2: {44, 7}, 3: {70, 7}, 4: {100, 7}, 5: {134, 7},
	6: {172, 7}, 7: {196, 0}, 8: {242, 0}, 9: {292, 0}, 10: {346, 0},
}

func TestQRLayout(t *testing.T) {
	for v := 1; v <= qrMaxVersion; v++ {
		q := newQR(v)
		q.drawFunctions()
		free := 0
		for y := range q.size {
			for x := range q.size {
				if !q.fn[y][x] {
					free++
				}
			}
		}
		want := qrTotalCodewords[v][0]*8 + qrTotalCodewords[v][1]
		if free != want {
			t.Errorf("version %d: %d data modules, want %d", v, free, want)
		}
		spec := qrBlocksL[v]
		if qrTotalData(v)+spec.ec*len(spec.data) != qrTotalCodewords[v][0] {
			t.Errorf("version %d: block table does not add up", v)
		}
	}
	// Known values from the standard's tables.
	if got := qrFormatBits(0); got != 0b111011111000100 {
		t.Errorf("format bits L/0 = %015b", got)
	}
	for mask, want := range map[int]int{1: 0b111001011110011, 4: 0b110011000101111, 7: 0b110100101110110} {
		if got := qrFormatBits(mask); got != want {
			t.Errorf("format bits L/%d = %015b, want %015b", mask, got, want)
		}
	}
	for v, want := range map[int]int{7: 0x07c94, 8: 0x085bc, 9: 0x09a99, 10: 0x0a4d3} {
		if got := qrVersionBits(v); got != want {
			t.Errorf("version bits %d = %018b, want %018b", v, got, want)
		}
	}
	for v, want := range map[int]int{1: 17, 6: 134, 7: 154, 10: 271} {
		if got := qrCapacity(v); got != want {
			t.Errorf("capacity of version %d = %d, want %d", v, got, want)
		}
	}
}

func TestReedSolomon(t *testing.T) {
	data := []byte("veil reed-solomon test block")
	for _, deg := range []int{7, 10, 18, 30} {
		cw := append(append([]byte(nil), data...), rsRemainder(data, rsDivisor(deg))...)
		// Every codeword of the code vanishes at α^0 … α^(deg-1).
		root := byte(1)
		for range deg {
			var acc byte
			for _, c := range cw {
				acc = gfMul(acc, root) ^ c
			}
			if acc != 0 {
				t.Fatalf("degree %d: syndrome not zero", deg)
			}
			root = gfMul(root, 2)
		}
	}
}

// qrRead decodes a symbol made by Encode: it reads the format, unmasks, reads
// the codewords back in zigzag order, de-interleaves, checks every block's
// Reed–Solomon codewords and parses the byte-mode segment.
func qrRead(t *testing.T, m [][]bool) string {
	t.Helper()
	size := len(m)
	ver := (size - 17) / 4
	var bits int
	for i := range 6 {
		if m[i][8] {
			bits |= 1 << i
		}
	}
	if m[7][8] {
		bits |= 1 << 6
	}
	if m[8][8] {
		bits |= 1 << 7
	}
	if m[8][7] {
		bits |= 1 << 8
	}
	for i := 9; i < 15; i++ {
		if m[8][14-i] {
			bits |= 1 << i
		}
	}
	mask := -1
	for k := range 8 {
		if qrFormatBits(k) == bits {
			mask = k
		}
	}
	if mask < 0 {
		t.Fatalf("format bits %015b match no mask", bits)
	}
	ref := newQR(ver)
	ref.drawFunctions()
	var raw []byte
	var cur byte
	n := 0
	for right := size - 1; right >= 1; right -= 2 {
		if right == 6 {
			right = 5
		}
		for vert := range size {
			for j := range 2 {
				x, y := right-j, vert
				if (right+1)&2 == 0 {
					y = size - 1 - vert
				}
				if ref.fn[y][x] {
					continue
				}
				b := m[y][x] != qrMaskBit(mask, x, y)
				cur <<= 1
				if b {
					cur |= 1
				}
				if n++; n%8 == 0 {
					raw = append(raw, cur)
				}
			}
		}
	}
	spec := qrBlocksL[ver]
	blocks := make([][]byte, len(spec.data))
	k := 0
	for i := 0; k < qrTotalData(ver); i++ {
		for b := range blocks {
			if i < spec.data[b] {
				blocks[b] = append(blocks[b], raw[k])
				k++
			}
		}
	}
	for i := range spec.ec {
		for b := range blocks {
			_ = i
			blocks[b] = append(blocks[b], raw[k])
			k++
		}
	}
	var data []byte
	for b, blk := range blocks {
		d := blk[:spec.data[b]]
		ec := rsRemainder(d, rsDivisor(spec.ec))
		if string(ec) != string(blk[spec.data[b]:]) {
			t.Fatalf("block %d: error-correction codewords do not check", b)
		}
		data = append(data, d...)
	}
	if data[0]>>4 != 0b0100 {
		t.Fatalf("mode %04b, want byte mode", data[0]>>4)
	}
	// Re-read as a bit stream: mode (4), count, bytes.
	bit := func(i int) int { return int(data[i/8]>>(7-i%8)) & 1 }
	pos := 4
	count := 0
	for range qrCountBits(ver) {
		count = count<<1 | bit(pos)
		pos++
	}
	out := make([]byte, count)
	for i := range out {
		for range 8 {
			out[i] = out[i]<<1 | byte(bit(pos))
			pos++
		}
	}
	return string(out)
}

func TestQRRoundTrip(t *testing.T) {
	for _, s := range []string{
		"",
		"a",
		strings.Repeat("x", 17),
		inviteKeyText,
		strings.Repeat("veil", 67) + "abc", // 271 bytes: version 10
	} {
		m, err := Encode(s)
		if err != nil {
			t.Fatalf("%d bytes: %v", len(s), err)
		}
		// The three finder patterns are where a scanner looks for them.
		n := len(m)
		for _, c := range [][2]int{{0, 0}, {n - 7, 0}, {0, n - 7}} {
			for i := range 7 {
				if !m[c[1]][c[0]+i] || !m[c[1]+6][c[0]+i] || !m[c[1]+i][c[0]] || m[c[1]+1][c[0]+1] || !m[c[1]+3][c[0]+3] {
					t.Fatalf("finder pattern at %v is wrong", c)
				}
			}
		}
		if got := qrRead(t, m); got != s {
			t.Fatalf("read back %q, want %q", got, s)
		}
	}
	if _, err := Encode(strings.Repeat("x", 272)); err == nil {
		t.Fatal("272 bytes accepted")
	}
}

func FuzzQR(f *testing.F) {
	f.Add("veil")
	f.Add(strings.Repeat("\xff", 200))
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Encode(s)
		if len(s) > qrCapacity(qrMaxVersion) {
			if err == nil {
				t.Fatal("over-long text accepted")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := qrRead(t, m); got != s {
			t.Fatalf("read back %q, want %q", got, s)
		}
	})
}
