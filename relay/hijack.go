package relay

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/http"

	"veil/relay/wsframe"
)

// connBufSize is the size of the read and write buffers of a hijacked
// connection, the smallest a bufio.Reader takes. Blocks (16 KiB) bypass
// bufio buffers anyway (bufio reads and writes large slices directly),
// so the buffers only carry WebSocket frame headers (at most 14 bytes)
// and the odd control frame, whose pieces wsframe.Writer gathers into one
// write; a larger buffer would only move the start of each block through
// one more copy, and every idle connection holds both (net/http's 4 KiB
// buffers would cost it 8 KiB).
const connBufSize = 16

// smallBuffers wraps a ResponseWriter so that websocket.Accept's Hijack
// gets small buffers, and net/http's own become garbage.
type smallBuffers struct {
	http.ResponseWriter
	nc net.Conn      // the hijacked connection, once Hijack has run
	br *bufio.Reader // the WebSocket library's reader of nc
	// sock is br's source on a plain socket (nil otherwise, and when
	// bytes arrived early: they wait in a reader of their own under br).
	sock *sockReader
}

func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("relay: connection cannot be hijacked")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.nc = nc
	// net/http flushed its writer before Hijack returned; bytes the client
	// sent early may sit in its reader and must be kept.
	r := bufio.NewReaderSize(nc, connBufSize)
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		r = bufio.NewReaderSize(&prefixReader{prefix: bytes.Clone(early), r: nc}, connBufSize)
	} else if w.sock = newSockReader(nc); w.sock != nil {
		r = bufio.NewReaderSize(w.sock, connBufSize)
	}
	w.br = r
	// Whole frames, one write each: the block bypasses the small buffer
	// but its header does not, which would be two writes per block.
	bw := bufio.NewWriterSize(wsframe.NewWriter(nc), connBufSize)
	if w.sock != nil {
		return w.sock.conn(), bufio.NewReadWriter(r, bw), nil
	}
	return nc, bufio.NewReadWriter(r, bw), nil
}

// prefixReader returns prefix, then reads from r.
type prefixReader struct {
	prefix []byte
	r      net.Conn
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		if len(p.prefix) == 0 {
			p.prefix = nil
		}
		return n, nil
	}
	return p.r.Read(b)
}
