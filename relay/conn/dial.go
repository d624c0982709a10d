package conn

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync/atomic"

	"veil/relay/wire"
	"veil/relay/wsframe"
)

// frameConn is a connection that, once armed after the WebSocket
// handshake, writes whole WebSocket frames (wsframe.Writer): the
// WebSocket library writes a client's masked frame through a 4 KiB
// buffer, which would cost five writes and five TCP segments per block.
// Armed, it also reads through a buffer that holds a whole block and its
// frame header: the library reads through a 4 KiB buffer, so a block
// that has arrived would take two reads (the first 4 KiB, then the rest).
// Before it is armed (the HTTP upgrade) reads and writes pass straight
// through.
type frameConn struct {
	net.Conn
	fw    *wsframe.Writer
	br    *bufio.Reader
	armed atomic.Bool
}

// readBufSize holds one block with its WebSocket frame header (at most
// 14 bytes).
const readBufSize = wire.BlockSize + 64

func (c *frameConn) Write(p []byte) (int, error) {
	if c.armed.Load() {
		return c.fw.Write(p)
	}
	return c.Conn.Write(p)
}

func (c *frameConn) Read(p []byte) (int, error) {
	if c.armed.Load() {
		return c.br.Read(p)
	}
	return c.Conn.Read(p)
}

// dialer builds the HTTP client of one WebSocket dial whose connection is
// a frameConn: plain TCP for veil+ws:// and TLS for veil://, through
// dial (a SOCKS5 proxy, say) or net.Dialer. Once the dial has succeeded,
// arm switches the connection to whole-frame writes.
type dialer struct {
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	tls  *tls.Config
	last atomic.Pointer[frameConn]
}

func (d *dialer) client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.tcp(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return d.wrap(c), nil
		},
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.tcp(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			cfg := &tls.Config{}
			if d.tls != nil {
				cfg = d.tls.Clone()
			}
			if cfg.ServerName == "" {
				host, _, err := net.SplitHostPort(addr)
				if err != nil {
					c.Close()
					return nil, err
				}
				cfg.ServerName = host
			}
			cfg.NextProtos = []string{"http/1.1"} // WebSocket needs HTTP/1.1 (RFC 6455 §4.1)
			tc := tls.Client(c, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			return d.wrap(tc), nil
		},
	}}
}

func (d *dialer) tcp(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.dial != nil {
		return d.dial(ctx, network, addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func (d *dialer) wrap(c net.Conn) net.Conn {
	fc := &frameConn{Conn: c, fw: wsframe.NewWriter(c), br: bufio.NewReaderSize(c, readBufSize)}
	d.last.Store(fc)
	return fc
}

// arm switches the connection of the last dial to whole-frame writes.
func (d *dialer) arm() {
	if fc := d.last.Load(); fc != nil {
		fc.armed.Store(true)
	}
}
