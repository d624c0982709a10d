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

// replyServer answers every item with reply(cid).
func replyServer(reply func(cid uint32) wire.Frame) func(ws *websocket.Conn, s *wire.Sealer, o *wire.Opener) {
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
			var p wire.Packer
			p.Reset(make([]byte, wire.BlockPlainSize))
			for _, it := range items {
				_, cid, _ := wire.PeekHeader(it)
				r := reply(cid)
				p.AddFrame(&r)
			}
			if ws.Write(ctx, websocket.MessageBinary, s.Seal(nil, p.Finish())) != nil {
				return
			}
		}
	}
}

// TestFKeyChecksTheReply: FKEYS must be signed by the destination's
// identity (spec/relay.md §7.6.2); anything else is ErrBadReply.
func TestFKeyChecksTheReply(t *testing.T) {
	dest, _ := crypto.GenerateSign(nil)
	destAddr := wire.Address{Host: "192.0.2.1", Port: 443, TLS: true, Fingerprint: wire.FingerprintOf(dest.Public())}
	const period = 20000
	for _, tc := range []struct {
		name   string
		signer func(f *fakeRelay) crypto.SignPrivate
		to     wire.Address
		tamper func(*wire.Frame)
		ok     bool
	}{
		{"own key", func(f *fakeRelay) crypto.SignPrivate { return f.id }, wire.Address{}, nil, true},
		{"destination's key", func(*fakeRelay) crypto.SignPrivate { return dest }, destAddr, nil, true},
		{"forwarder's key for the destination", func(f *fakeRelay) crypto.SignPrivate { return f.id }, destAddr, nil, false},
		{"another key for itself", func(*fakeRelay) crypto.SignPrivate { return dest }, wire.Address{}, nil, false},
		{"bad signature", func(*fakeRelay) crypto.SignPrivate { return dest }, destAddr, func(f *wire.Frame) { f.Sig[0] ^= 1 }, false},
		{"changed forward key", func(*fakeRelay) crypto.SignPrivate { return dest }, destAddr, func(f *wire.Frame) { f.ForwardKey[0] ^= 1 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRelay{}
			f.id, _ = crypto.GenerateSign(nil)
			fk, err := wire.FKeysFrame(tc.signer(f), period, [wire.RouteIDSize]byte{1})
			if err != nil {
				t.Fatal(err)
			}
			if tc.tamper != nil {
				tc.tamper(&fk)
			}
			f.serve = replyServer(func(cid uint32) wire.Frame { r := fk; r.CID = cid; return r })
			startFake(t, f)
			c, err := conn.DialAddress(dialCtx(t), f.addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			route, err := c.FKey(dialCtx(t), nil, tc.to)
			if tc.ok {
				if err != nil || route.Key != fk.ForwardKey || route.NotAfter != time.Unix(int64(wire.ForwardNotAfter(period)), 0) {
					t.Fatalf("FKey = %+v, %v", route, err)
				}
				return
			}
			if !errors.Is(err, conn.ErrBadReply) {
				t.Fatalf("FKey error %v, want ErrBadReply", err)
			}
		})
	}
}

// TestForwardCommandRefusesBadReplies: a reply that is not FRES, or whose
// sealed part does not open, is ErrBadReply; a plain ERR is a *wire.Error.
func TestForwardCommandRefusesBadReplies(t *testing.T) {
	dest, _ := crypto.GenerateSign(nil)
	fwd, _ := wire.DeriveForwardKey(dest, 20000)
	route := conn.Route{ID: [wire.RouteIDSize]byte{1}, Dest: wire.FingerprintOf(dest.Public()), Key: fwd.Public(), NotAfter: time.Unix(20002*86400, 0)}
	for _, tc := range []struct {
		name  string
		reply wire.Frame
		want  error
	}{
		{"garbage FRES", wire.Frame{Type: wire.TypeFRES, Body: make([]byte, 40)}, conn.ErrBadReply},
		{"empty FRES", wire.Frame{Type: wire.TypeFRES}, conn.ErrBadReply},
		{"plain ERR", wire.Frame{Type: wire.TypeERR, Code: wire.CodeUnreachable}, &wire.Error{Code: wire.CodeUnreachable}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRelay{serve: replyServer(func(cid uint32) wire.Frame { r := tc.reply; r.CID = cid; return r })}
			startFake(t, f)
			c, err := conn.DialAddress(dialCtx(t), f.addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			item := wire.Frame{Type: wire.TypeTAKE, ID: crypto.ID{1}}
			if _, err := c.ForwardCommand(dialCtx(t), route, item, time.Now(), nil); !errors.Is(err, tc.want) {
				t.Fatalf("ForwardCommand: %v, want %v", err, tc.want)
			}
			done := make(chan error, 1)
			if err := c.ForwardCommandAsync(route, item, time.Now(), nil, func(_ wire.Frame, err error) { done <- err }); err != nil {
				t.Fatal(err)
			}
			if err := <-done; !errors.Is(err, tc.want) {
				t.Fatalf("ForwardCommandAsync: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestForwardCommandPadsItems: SKEY, TAKE and a SEND of the smallest
// bucket leave as FWDs of one size, and the destination opens a plaintext
// padded to wire.ForwardPaddedSize (spec/relay.md §7.6.3).
func TestForwardCommandPadsItems(t *testing.T) {
	dest, _ := crypto.GenerateSign(nil)
	fp := wire.FingerprintOf(dest.Public())
	fwd, _ := wire.DeriveForwardKey(dest, 20000)
	route := conn.Route{ID: [wire.RouteIDSize]byte{1}, Dest: fp, Key: fwd.Public(), NotAfter: time.Unix(20002*86400, 0)}
	type seen struct {
		size, inner int
		typ         wire.Type
	}
	got := make(chan seen, 3)
	f := &fakeRelay{serve: func(ws *websocket.Conn, s *wire.Sealer, o *wire.Opener) {
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
			var p wire.Packer
			p.Reset(make([]byte, wire.BlockPlainSize))
			for _, it := range items {
				fr, err := wire.ParseFrame(it)
				if err != nil || fr.Type != wire.TypeFWD {
					return
				}
				keys, err := wire.DestForwardKeys(fwd, fp, fr.Ephemeral)
				if err != nil {
					return
				}
				inner, err := keys.OpenItem(nil, fr.Body)
				if err != nil {
					return
				}
				_, item, err := wire.ParseForwardInner(inner)
				if err != nil {
					return
				}
				got <- seen{len(it), len(inner), item.Type}
				ok, _ := wire.AppendFrame(nil, &wire.Frame{Type: wire.TypeOK})
				sealed, err := keys.SealReply(nil, nil, ok)
				if err != nil {
					return
				}
				p.AddFrame(&wire.Frame{Type: wire.TypeFRES, CID: fr.CID, Body: sealed})
			}
			if ws.Write(ctx, websocket.MessageBinary, s.Seal(nil, p.Finish())) != nil {
				return
			}
		}
	}}
	startFake(t, f)
	c, err := conn.DialAddress(dialCtx(t), f.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, item := range []wire.Frame{
		{Type: wire.TypeSKEY, ID: crypto.ID{1}, Cap: [32]byte{2}},
		{Type: wire.TypeTAKE, ID: crypto.ID{3}},
		{Type: wire.TypeSEND, ID: crypto.ID{4}, Cap: [32]byte{5}, Body: make([]byte, wire.MinBucket)},
	} {
		if _, err := c.ForwardCommand(dialCtx(t), route, item, time.Now(), nil); err != nil {
			t.Fatalf("%v: %v", item.Type, err)
		}
		s := <-got
		want := 5 + wire.RouteIDSize + 32 + wire.ForwardPaddedSize + crypto.Overhead
		if s.typ != item.Type || s.inner != wire.ForwardPaddedSize || s.size != want {
			t.Fatalf("%v: FWD of %d bytes, plaintext %d (%v); want %d and %d", item.Type, s.size, s.inner, s.typ, want, wire.ForwardPaddedSize)
		}
	}
}
