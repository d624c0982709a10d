package conn_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/relaytest"
	"veil/relay/wire"
)

// TestAsyncCommands runs SendAsync and AckAsync against a real relay:
// every callback is called exactly once, with nil for what the relay
// accepted and the relay's code for what it refused.
func TestAsyncCommands(t *testing.T) {
	r := relaytest.Start(t)
	c, err := conn.DialAddress(dialCtx(t), r.Address, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := dialCtx(t)
	key, _ := crypto.GenerateSign(nil)
	rid, sid, err := c.New(ctx, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	var capability [wire.CapSize]byte
	crypto.RandomBytes(nil, capability[:])
	if err := c.SecureSender(ctx, sid, &capability); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(ctx, rid, key); err != nil {
		t.Fatal(err)
	}

	const n = 50
	var wg sync.WaitGroup
	var calls, failures atomic.Int64
	body := make([]byte, crypto.Buckets()[0])
	for range n {
		wg.Add(1)
		if err := c.SendAsync(sid, &capability, body, func(err error) {
			calls.Add(1)
			if err != nil {
				failures.Add(1)
			}
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if calls.Load() != n || failures.Load() != 0 {
		t.Fatalf("SendAsync: %d callbacks, %d failures; want %d, 0", calls.Load(), failures.Load(), n)
	}
	// A refused send reports the relay's code.
	var wrong [wire.CapSize]byte
	refused := make(chan error, 1)
	if err := c.SendAsync(sid, &wrong, body, func(err error) { refused <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-refused; !errors.Is(err, &wire.Error{Code: wire.CodeAuth}) {
		t.Fatalf("SendAsync with a wrong capability: %v, want AUTH", err)
	}

	// ACK what arrives, then one seq twice: OK once, NOT_FOUND once.
	acked := make(chan error, n+1)
	var last uint64
	for range n {
		p := <-c.Pushes()
		last = p.Seq
		if err := c.AckAsync(rid, p.Seq, func(err error) { acked <- err }); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AckAsync(rid, last, func(err error) { acked <- err }); err != nil {
		t.Fatal(err)
	}
	var ok, notFound int
	for range n + 1 {
		switch err := <-acked; {
		case err == nil:
			ok++
		case errors.Is(err, &wire.Error{Code: wire.CodeNotFound}):
			notFound++
		default:
			t.Fatalf("AckAsync: %v", err)
		}
	}
	if ok != n || notFound != 1 {
		t.Fatalf("ACKs: %d OK and %d NOT_FOUND, want %d and 1", ok, notFound, n)
	}
}

// TestAsyncCallbacksOnClose: a command whose reply never comes learns
// that the connection ended, exactly once; after Close, Go refuses.
func TestAsyncCallbacksOnClose(t *testing.T) {
	f := &fakeRelay{serve: silentServer}
	startFake(t, f)
	c, err := conn.DialAddress(dialCtx(t), f.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	var capability [wire.CapSize]byte
	var sid crypto.ID
	const n = 20
	var calls atomic.Int64
	errs := make(chan error, 2*n)
	for range n {
		if err := c.SendAsync(sid, &capability, make([]byte, crypto.Buckets()[0]), func(err error) {
			calls.Add(1)
			errs <- err
		}); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	for range n {
		select {
		case err := <-errs:
			if !errors.Is(err, conn.ErrClosed) {
				t.Fatalf("callback error %v, want ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d callbacks called", calls.Load(), n)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if calls.Load() != n {
		t.Fatalf("%d callbacks for %d commands", calls.Load(), n)
	}
	if err := c.SendAsync(sid, &capability, nil, func(error) { t.Error("callback after a refused Go") }); err == nil {
		t.Fatal("SendAsync on a closed connection succeeded")
	}
}

// silentServer reads blocks and never answers.
func silentServer(ws *websocket.Conn, _ *wire.Sealer, _ *wire.Opener) {
	for {
		if _, _, err := ws.Read(context.Background()); err != nil {
			return
		}
	}
}

// TestOnPush: with Options.OnPush, every MSG reaches the callback on the
// reader goroutine, which may ACK from there, and Pushes stays empty.
func TestOnPush(t *testing.T) {
	r := relaytest.Start(t)
	type got struct {
		seq  uint64
		body string
	}
	pushes := make(chan got, 16)
	var c *conn.Conn
	var rid crypto.ID
	acked := make(chan error, 16)
	ready := make(chan struct{})
	onPush := func(p conn.Push) {
		<-ready
		pushes <- got{p.Seq, string(bytes.TrimRight(p.Body, "\x00"))} // Body is valid only during the call
		if err := c.AckAsync(rid, p.Seq, func(err error) { acked <- err }); err != nil {
			acked <- err
		}
	}
	c, err := conn.DialAddress(dialCtx(t), r.Address, &conn.Options{OnPush: onPush})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := dialCtx(t)
	key, _ := crypto.GenerateSign(nil)
	var sid crypto.ID
	if rid, sid, err = c.New(ctx, key, nil); err != nil {
		t.Fatal(err)
	}
	close(ready)
	var capability [wire.CapSize]byte
	crypto.RandomBytes(nil, capability[:])
	if err := c.SecureSender(ctx, sid, &capability); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(ctx, rid, key); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"one", "two", "three"} {
		body := make([]byte, crypto.Buckets()[0])
		copy(body, b)
		if err := c.Send(ctx, sid, &capability, body); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"one", "two", "three"} {
		select {
		case g := <-pushes:
			if g.body != want {
				t.Fatalf("OnPush got %q, want %q", g.body, want)
			}
		case <-ctx.Done():
			t.Fatal("no push")
		}
		if err := <-acked; err != nil {
			t.Fatalf("ACK from OnPush: %v", err)
		}
	}
	select {
	case p := <-c.Pushes():
		t.Fatalf("Pushes got %+v with OnPush set", p)
	default:
	}
}
