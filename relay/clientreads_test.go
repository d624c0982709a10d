package relay_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"veil/relay/conn"
)

// countingConn counts the reads made on a connection.
type countingConn struct {
	net.Conn
	reads *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(p)
}

// TestClientReadsBlockOnce: the client reads a block that has arrived
// from its connection in one read, not in the WebSocket library's 4 KiB
// pieces (the relay writes each block, frame header included, at once).
func TestClientReadsBlockOnce(t *testing.T) {
	tr := startRelay(t)
	var reads atomic.Int64
	opt := &conn.Options{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, reads: &reads}, nil
	}}
	ctx := tctx(t)
	c, err := conn.DialAddress(ctx, tr.addr, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const pings = 200
	before := reads.Load()
	for range pings {
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Each reply is a block of its own: the next PING waits for it.
	if per := float64(reads.Load()-before) / pings; per > 1.05 {
		t.Fatalf("%.2f reads per block, want 1", per)
	}
}
