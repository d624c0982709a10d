package client

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"veil/crypto"
	"veil/relay/wire"
)

// TestBackoffGrowsOverShortConnections (spec/client.md §7.2): a connection
// that ends soon after its hello leaves the back-off growing; only one
// that stayed up stableConn resets it.
func TestBackoffGrowsOverShortConnections(t *testing.T) {
	t.Parallel()
	b := backoff{min: 200 * time.Millisecond, max: 30 * time.Second}
	want := b.min
	for n := range 12 {
		d := b.next()
		if d < want/2 || d > want {
			t.Fatalf("attempt %d: %v outside [%v, %v]", n, d, want/2, want)
		}
		b.ended(time.Second) // up, then failed at once
		want = min(want*2, b.max)
	}
	if want != b.max {
		t.Fatalf("the back-off grew to %v only", want)
	}
	b.ended(stableConn)
	if d := b.next(); d > b.min {
		t.Fatalf("after a stable connection: %v, want at most %v", d, b.min)
	}
}

// TestReconnectBacksOffFromARelayThatBreaksAfterHello: a relay that
// completes every handshake and then at once sends a malformed push is
// reconnected to ever more slowly, not in a tight loop (spec/client.md
// §7.2).
func TestReconnectBacksOffFromARelayThatBreaksAfterHello(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	addr := startBreakingRelay(t, &conns)
	e := testEngine(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	e.receiveLoop(ctx, addr.String(), make(chan struct{}))
	// With waits of at least 100, 200, 400, 800 ms... at most 5 connections
	// fit in 2.5 s; with the back-off reset at every hello (waits of 100 to
	// 200 ms) there would be 12 or more.
	if n := conns.Load(); n < 2 || n > 6 {
		t.Fatalf("%d connections in 2.5 s, want 2 to 6", n)
	}
}

// startBreakingRelay runs on 127.0.0.1 a relay that completes the
// handshake of spec/relay.md §4, then sends a block holding one item that
// is no frame (a malformed push), and counts the connections.
func startBreakingRelay(t *testing.T, conns *atomic.Int64) wire.Address {
	t.Helper()
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		conns.Add(1)
		ctx := r.Context()
		eph, _ := crypto.GenerateDH(nil)
		h := wire.RelayHello{MinVersion: 1, MaxVersion: 1, BlockSize: wire.BlockSize, Ephemeral: eph.Public(), Suites: wire.DefaultOffer()}
		crypto.RandomBytes(nil, h.Nonce[:])
		h.Sign(id)
		rhb := h.Marshal()
		if ws.Write(ctx, websocket.MessageBinary, rhb) != nil {
			return
		}
		_, chb, err := ws.Read(ctx)
		if err != nil {
			return
		}
		ch, err := wire.ParseClientHello(chb)
		if err != nil {
			return
		}
		shared, err := crypto.DH(eph, ch.Ephemeral)
		if err != nil {
			return
		}
		k := wire.DeriveKeys(&shared, rhb, chb)
		var p wire.Packer
		p.Reset(make([]byte, wire.BlockPlainSize))
		p.Add([]byte{0xff, 0, 0, 0, 0}) // no such frame type
		if ws.Write(ctx, websocket.MessageBinary, wire.NewSealer(ch.Suite, k.RelayToClient).Seal(nil, p.Finish())) != nil {
			return
		}
		ws.Read(ctx) // until the client hangs up
	})}
	go srv.Serve(ln) // owned by the test: closed at cleanup
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	return wire.Address{Host: "127.0.0.1", Port: uint16(ln.Addr().(*net.TCPAddr).Port), Fingerprint: wire.FingerprintOf(id.Public())}
}
