// Package wsframe hands a network connection whole WebSocket frames
// (RFC 6455 §5.2), one write each, so that a relay block and its frame
// header leave in one system call and one TCP segment (spec/relay.md §13).
// It reads frame headers only and never changes a byte.
package wsframe

import (
	"encoding/binary"
	"io"
	"math"
	"net"
	"sync"

	"veil/relay/wire"
)

// maxWholeFrame is the largest WebSocket frame Writer gathers: a
// block (§5) with the largest header RFC 6455 allows. Longer frames pass
// through as they come.
const maxWholeFrame = wire.BlockSize + 14

// framePool holds the buffers of incomplete frames. They start small: a
// relay connection gathers only its small buffer's first flush before
// the rest of the block arrives in one piece.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// Writer sits between a WebSocket library's buffered writer and the
// network connection and hands the connection whole WebSocket frames
// (RFC 6455 §5.2), one write each. A block written through a 4 KiB
// buffer otherwise costs five system calls and five TCP segments, and the
// reader as many wake-ups (spec/relay.md §13). A frame that arrives in one
// piece goes out as it is; the pieces of a split frame are gathered in a
// pooled buffer, and on a TCP connection the last piece is not copied but
// written with the others in one vectored write. An idle connection holds
// no buffer.
//
// It only reads frame headers to find where frames end; it never changes
// a byte. Like the connection it wraps, it is not safe for concurrent
// writes (WebSocket libraries serialise frame writes).
type Writer struct {
	w        io.Writer
	vectored bool    // w takes net.Buffers in one system call (a TCP connection)
	buf      *[]byte // bytes of the frame being gathered; nil when none
	pass     uint64  // bytes of an oversize frame still to pass through
}

// NewWriter returns a Writer that writes whole frames to w.
func NewWriter(w io.Writer) *Writer {
	// Only the standard library's own socket types: net.Buffers writes to
	// a type that embeds one past that type's Write.
	var vectored bool
	switch w.(type) {
	case *net.TCPConn, *net.UnixConn:
		vectored = true
	}
	return &Writer{w: w, vectored: vectored}
}

// Write gathers p and writes every frame it completes.
func (f *Writer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if f.pass > 0 {
			k := int(min(f.pass, uint64(len(p))))
			if _, err := f.w.Write(p[:k]); err != nil {
				return n - len(p), err
			}
			f.pass -= uint64(k)
			p = p[k:]
			continue
		}
		if f.buf == nil {
			// Nothing gathered: a frame whose header is in p.
			if size, known := frameSize(p); known {
				if size > maxWholeFrame { // a frame longer than a block is not gathered
					f.pass = size
					continue
				}
				if size <= uint64(len(p)) { // whole: out as it is
					if _, err := f.w.Write(p[:size]); err != nil {
						return n - len(p), err
					}
					p = p[size:]
					continue
				}
			}
			f.buf = framePool.Get().(*[]byte)
		}
		b := *f.buf
		size, known := frameSize(b)
		if !known {
			// Take one byte at a time until the header is complete
			// (at most 14 bytes, so this loop is short).
			b = append(b, p[0])
			p = p[1:]
			*f.buf = b
			if size, known = frameSize(b); !known {
				continue
			}
			if size > maxWholeFrame {
				_, err := f.w.Write(b)
				f.pass = size - uint64(len(b))
				f.release()
				if err != nil {
					return n - len(p), err
				}
				continue
			}
			if uint64(len(b)) < size {
				continue
			}
		} else {
			k := min(int(size)-len(b), len(p))
			last := p[:k]
			p = p[k:]
			if uint64(len(b)+k) < size {
				*f.buf = append(b, last...)
				continue
			}
			if f.vectored { // the last piece is not copied
				bufs := net.Buffers{b, last}
				_, err := bufs.WriteTo(f.w)
				f.release()
				if err != nil {
					return n - len(p), err
				}
				continue
			}
			b = append(b, last...)
			*f.buf = b
		}
		_, err := f.w.Write(b)
		f.release()
		if err != nil {
			return n - len(p), err
		}
	}
	return n, nil
}

func (f *Writer) release() {
	*f.buf = (*f.buf)[:0]
	framePool.Put(f.buf)
	f.buf = nil
}

// frameSize returns the whole size of the frame that b starts (header and
// payload) once b holds its complete header.
func frameSize(b []byte) (uint64, bool) {
	if len(b) < 2 {
		return 0, false
	}
	hdr := 2
	plen := uint64(b[1] & 0x7f)
	switch plen {
	case 126:
		hdr += 2
	case 127:
		hdr += 8
	}
	if b[1]&0x80 != 0 { // masked
		hdr += 4
	}
	if len(b) < hdr {
		return 0, false
	}
	switch plen {
	case 126:
		plen = uint64(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		plen = binary.BigEndian.Uint64(b[2:10])
	}
	if plen >= 1<<63 { // RFC 6455 forbids it; pass everything through from here on
		return math.MaxUint64, true
	}
	return uint64(hdr) + plen, true
}
