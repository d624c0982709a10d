//go:build !unix

package relay

import (
	"net"
	"time"
)

// sockReader waits for a socket's bytes in a shallow call where the
// relay can read the socket itself (sock_unix.go); elsewhere there is
// none, and readers wait in the WebSocket's read.
type sockReader struct{ net.Conn }

func newSockReader(net.Conn) *sockReader  { return nil }
func (r *sockReader) idle() bool          { return false }
func (r *sockReader) conn() net.Conn      { return r.Conn }
func (r *sockReader) wait(time.Time) bool { return true }
