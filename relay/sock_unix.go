//go:build unix

package relay

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"veil/relay/wire"
)

// sockBufSize is the size of the buffer a sockReader's wait reads into:
// a whole block with its WebSocket frame header, so that a block that
// has arrived is read in one system call, not in a first small read and
// a second one for the rest. The buffer is held only while its bytes
// wait for the reader above, so idle connections do not pay for it.
const sockBufSize = wire.BlockSize + 512

// sockBufs holds the buffers of bytes a sockReader's wait read.
var sockBufs = sync.Pool{New: func() any { b := make([]byte, sockBufSize); return &b }}

// sockReader is the source of a session's buffered reader on a plain
// TCP socket. Its wait reads the next bytes in a shallow call, so that
// the goroutine that waits keeps a small stack, and holds a buffer only
// from when bytes arrive until the reader above takes them.
type sockReader struct {
	nc  net.Conn
	raw syscall.RawConn
	try func(fd uintptr) bool // tryRead as a function value, made once

	mu      sync.Mutex // held while reading; guards the fields below
	buf     *[]byte    // from sockBufs while pending holds bytes
	pending []byte     // bytes wait read and Read has not returned yet
	err     error      // the error wait met, for Read to return
}

// sockConn is the connection the WebSocket library gets: its reads go
// through the sockReader (the library reads its connection directly
// under the buffered reader it was given), the rest to the socket.
type sockConn struct {
	*net.TCPConn
	r *sockReader
}

func (c sockConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// conn returns the connection to hand the WebSocket library.
func (r *sockReader) conn() net.Conn { return sockConn{TCPConn: r.nc.(*net.TCPConn), r: r} }

// newSockReader returns a sockReader of nc, or nil when nc is not a
// plain TCP socket.
func newSockReader(nc net.Conn) *sockReader {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &sockReader{nc: nc, raw: raw}
	r.try = r.tryRead
	return r
}

// Read returns the bytes wait read, then reads the socket.
func (r *sockReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		if len(r.pending) == 0 {
			r.release()
		}
		return n, nil
	}
	if r.err != nil {
		return 0, r.err
	}
	return r.nc.Read(p)
}

// idle reports whether wait may be called: Read has returned
// everything wait read.
func (r *sockReader) idle() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending) == 0 && r.err == nil
}

// wait returns once bytes have arrived (kept for Read) or the socket
// failed (the error is kept for Read). With a zero limit it has no
// deadline and costs no timer; otherwise it returns false, with nothing
// read, if no byte has come by then.
func (r *sockReader) wait(limit time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) > 0 || r.err != nil {
		return true
	}
	if !limit.IsZero() {
		if err := r.nc.SetReadDeadline(limit); err != nil {
			limit = time.Time{} // a socket that refuses deadlines: wait for good
		} else {
			// The reads that follow, of the rest of a block, must not
			// meet it.
			defer r.nc.SetReadDeadline(time.Time{})
		}
	}
	err := r.raw.Read(r.try)
	switch {
	case err == nil || r.err != nil:
	case !limit.IsZero() && errors.Is(err, os.ErrDeadlineExceeded):
		return false
	default:
		r.err = err
	}
	return true
}

// tryRead reads what the socket holds into a pooled buffer; false when
// nothing is there yet (the poller then waits for bytes). r.mu is held.
func (r *sockReader) tryRead(fd uintptr) bool {
	b := sockBufs.Get().(*[]byte)
	n, err := syscall.Read(int(fd), *b)
	for err == syscall.EINTR {
		n, err = syscall.Read(int(fd), *b)
	}
	switch {
	case err == syscall.EAGAIN:
		sockBufs.Put(b)
		return false
	case err != nil:
		sockBufs.Put(b)
		r.err = &net.OpError{Op: "read", Net: "tcp", Err: err}
	case n == 0:
		sockBufs.Put(b)
		r.err = io.EOF
	default:
		r.buf, r.pending = b, (*b)[:n]
	}
	return true
}

func (r *sockReader) release() {
	sockBufs.Put(r.buf)
	r.buf, r.pending = nil, nil
}
