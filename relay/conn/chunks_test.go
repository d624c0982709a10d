package conn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"

	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
)

// chunkServer answers every item with a CHUNK of n bytes.
func chunkServer(n int) func(ws *websocket.Conn, s *wire.Sealer, o *wire.Opener) {
	return func(ws *websocket.Conn, s *wire.Sealer, o *wire.Opener) {
		ctx := context.Background()
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			pt, err := o.Open(nil, b)
			if err != nil {
				return
			}
			items, _ := wire.SplitBlock(pt)
			for _, it := range items {
				_, cid, _ := wire.PeekHeader(it)
				var p wire.Packer
				p.Reset(make([]byte, wire.BlockPlainSize))
				p.AddFrame(&wire.Frame{Type: wire.TypeCHUNK, CID: cid, Body: make([]byte, n)})
				if ws.Write(ctx, websocket.MessageBinary, s.Seal(nil, p.Finish())) != nil {
					return
				}
			}
		}
	}
}

// TestGetChunkRefusesBadSizes: a CHUNK that is not wire.ChunkSize bytes
// is a broken relay's (spec/relay.md §7.7), for GetChunk and
// GetChunkAsync alike.
func TestGetChunkRefusesBadSizes(t *testing.T) {
	for _, n := range []int{wire.ChunkSize, wire.ChunkSize - 1, 0, 1024} {
		f := &fakeRelay{serve: chunkServer(n)}
		startFake(t, f)
		c, err := conn.DialAddress(dialCtx(t), f.addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := c.GetChunk(dialCtx(t), crypto.ID{1}, [32]byte{2})
		done := make(chan error, 1)
		c.GetChunkAsync(crypto.ID{1}, [32]byte{2}, func(b []byte, err error) {
			if err == nil && len(b) != wire.ChunkSize {
				err = errors.New("a body of the wrong size")
			}
			done <- err
		})
		var aerr error
		select {
		case aerr = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("GetChunkAsync never answered")
		}
		if n == wire.ChunkSize {
			if err != nil || len(body) != n || aerr != nil {
				t.Fatalf("a good chunk: %d bytes, %v, %v", len(body), err, aerr)
			}
		} else if !errors.Is(err, conn.ErrBadReply) || body != nil || !errors.Is(aerr, conn.ErrBadReply) {
			t.Fatalf("a %d-byte chunk: %v, %v", n, err, aerr)
		}
		c.Close()
	}
}

// TestChunkAsyncOnClosed: the async calls answer through done, exactly
// once, when the connection is closed already.
func TestChunkAsyncOnClosed(t *testing.T) {
	f := &fakeRelay{serve: okServer}
	startFake(t, f)
	c, err := conn.DialAddress(dialCtx(t), f.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	n := 0
	c.PutChunkAsync(crypto.ID{1}, [32]byte{}, [32]byte{}, time.Hour, make([]byte, wire.ChunkSize), func(err error) {
		if err == nil {
			t.Error("PutChunkAsync on a closed connection succeeded")
		}
		n++
	})
	c.GetChunkAsync(crypto.ID{1}, [32]byte{}, func(b []byte, err error) {
		if err == nil || b != nil {
			t.Error("GetChunkAsync on a closed connection succeeded")
		}
		n++
	})
	if n != 2 {
		t.Fatalf("done called %d times, want 2", n)
	}
}
