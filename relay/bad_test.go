package relay_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"

	"veil/crypto"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/relaytest"
	"veil/relay/store/memory"
	"veil/relay/wire"
)

func statIdentity(dir string) (os.FileInfo, error) {
	return os.Stat(filepath.Join(dir, relay.IdentityFile))
}

func writeIdentity(dir string, b []byte) error {
	return os.WriteFile(filepath.Join(dir, relay.IdentityFile), b, 0o600)
}

// rawReply sends one raw item and returns the reply with cid.
func rawReply(t *testing.T, r *relaytest.Raw, item []byte, cid uint32) (wire.Frame, error) {
	t.Helper()
	return r.Do(tctx(t), item, cid)
}

func TestMalformedItems(t *testing.T) {
	tr := startRelay(t)
	c, r := tr.dial(t), tr.raw(t)
	m := newMailbox(t, c)

	send := wire.Frame{Type: wire.TypeSEND, CID: r.NextCID(), ID: m.sid, Cap: m.cap, Body: body(1024, 1)}
	full, _ := wire.AppendFrame(nil, &send)
	// A SEND cut inside its capability is malformed; inside its body it
	// is a wrong size.
	_, err := rawReply(t, r, full[:5+24+10], send.CID)
	wantCode(t, err, wire.CodeMalformed)
	send.CID = r.NextCID()
	full, _ = wire.AppendFrame(nil, &send)
	_, err = rawReply(t, r, full[:len(full)-1], send.CID)
	wantCode(t, err, wire.CodeBadSize)

	// Every truncation of a SUB is malformed.
	sub := wire.Frame{Type: wire.TypeSUB, CID: r.NextCID(), ID: m.rid}
	nonce := r.Nonce()
	wire.SignFrame(&sub, &nonce, m.key)
	item, _ := wire.AppendFrame(nil, &sub)
	for n := 5; n < len(item); n++ {
		_, err := rawReply(t, r, item[:n], sub.CID)
		wantCode(t, err, wire.CodeMalformed)
	}
	// One byte too many.
	_, err = rawReply(t, r, append(append([]byte(nil), item...), 0), sub.CID)
	wantCode(t, err, wire.CodeMalformed)

	// Unknown type, and a reply type sent as a command.
	cid := r.NextCID()
	_, err = rawReply(t, r, []byte{0x7f, byte(cid >> 24), byte(cid >> 16), byte(cid >> 8), byte(cid)}, cid)
	wantCode(t, err, wire.CodeUnknown)
	ok := wire.Frame{Type: wire.TypeOK, CID: r.NextCID()}
	okItem, _ := wire.AppendFrame(nil, &ok)
	_, err = rawReply(t, r, okItem, ok.CID)
	wantCode(t, err, wire.CodeUnknown)
	healthyRaw(t, r)
	healthy(t, c)
}

func TestShortItemAndMalformedBlock(t *testing.T) {
	tr := startRelay(t)
	r := tr.raw(t)
	ctx := tctx(t)

	// A 2-byte item: no header, so the ERR carries cid 0.
	var p wire.Packer
	p.Reset(make([]byte, wire.BlockPlainSize))
	p.Add([]byte{0x0e, 0})
	if err := r.SendBlock(ctx, p.Finish()); err != nil {
		t.Fatal(err)
	}
	expectErr0(t, r, wire.CodeMalformed)

	// A block whose padding is not zero: one ERR, cid 0, connection kept.
	p.Reset(make([]byte, wire.BlockPlainSize))
	p.Add([]byte{0x0e, 0, 0, 0, 1})
	pt := p.Finish()
	pt[len(pt)-1] = 1
	if err := r.SendBlock(ctx, pt); err != nil {
		t.Fatal(err)
	}
	expectErr0(t, r, wire.CodeMalformed)
	// A block claiming more items than it holds.
	pt = make([]byte, wire.BlockPlainSize)
	pt[1] = 3
	if err := r.SendBlock(ctx, pt); err != nil {
		t.Fatal(err)
	}
	expectErr0(t, r, wire.CodeMalformed)
	healthyRaw(t, r)
}

func expectErr0(t *testing.T, r *relaytest.Raw, code wire.Code) {
	t.Helper()
	f, err := r.Read(tctx(t))
	if err != nil {
		t.Fatalf("no ERR with cid 0: %v", err)
	}
	if f.Type != wire.TypeERR || f.Code != code || f.CID != 0 {
		t.Fatalf("got %v cid %d code %v, want ERR %v with cid 0", f.Type, f.CID, f.Code, code)
	}
}

func TestAuthorisationFailures(t *testing.T) {
	tr := startRelay(t, func(c *relay.Config) { c.Limits.MaxPending = 3 })
	ctx := tctx(t)
	c := tr.dial(t)
	m := newMailbox(t, c)
	other, _ := crypto.GenerateSign(nil)

	// A second SKEY fails.
	var cap2 [32]byte
	cap2[0] = 1
	wantCode(t, c.SecureSender(ctx, m.sid, &cap2), wire.CodeAlreadySecured)
	// SEND with the wrong capability.
	wantCode(t, c.Send(ctx, m.sid, &cap2, body(1024, 1)), wire.CodeAuth)
	// SEND to an unsecured mailbox.
	_, sid2, err := c.New(ctx, m.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Send(ctx, sid2, &m.cap, body(1024, 1)), wire.CodeNotSecured)
	// A body that is not a bucket.
	wantCode(t, c.Send(ctx, m.sid, &m.cap, body(1000, 1)), wire.CodeBadSize)
	// Unknown IDs.
	var unknown crypto.ID
	unknown[0] = 9
	wantCode(t, c.Send(ctx, unknown, &m.cap, body(1024, 1)), wire.CodeAuth)
	wantCode(t, c.SecureSender(ctx, unknown, &m.cap), wire.CodeAuth)
	wantCode(t, c.Subscribe(ctx, unknown, m.key), wire.CodeAuth)
	wantCode(t, c.Ack(ctx, unknown, 1), wire.CodeAuth)
	_, err = c.Take(ctx, unknown)
	wantCode(t, err, wire.CodeNotFound)
	_, err = c.Append(ctx, unknown, &m.cap, body(1024, 1))
	wantCode(t, err, wire.CodeAuth)
	// A signature by another key.
	wantCode(t, c.Subscribe(ctx, m.rid, other), wire.CodeAuth)
	wantCode(t, c.Delete(ctx, m.rid, other), wire.CodeAuth)
	// NEW signed by a key other than the one it registers.
	r := tr.raw(t)
	nw := wire.Frame{Type: wire.TypeNEW, CID: r.NextCID(), Key: m.key.Public()}
	nonce := r.Nonce()
	wire.SignFrame(&nw, &nonce, other)
	item, _ := wire.AppendFrame(nil, &nw)
	_, err = r.Do(ctx, item, nw.CID)
	wantCode(t, err, wire.CodeAuth)
	// Quota: MaxPending is 3 here.
	for range 3 {
		if err := c.Send(ctx, m.sid, &m.cap, body(1024, 1)); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, c.Send(ctx, m.sid, &m.cap, body(1024, 1)), wire.CodeQuota)
	healthy(t, c)
}

// TestReplayOnAnotherConnection captures a signed SUB from one connection
// and replays it on another: the connection nonce differs, so AUTH.
func TestReplayOnAnotherConnection(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	c1, c2 := tr.raw(t), tr.raw(t)
	m := newMailbox(t, tr.dial(t))
	for _, typ := range []wire.Type{wire.TypeSUB, wire.TypeDEL} {
		f := wire.Frame{Type: typ, CID: 4242, ID: m.rid}
		n1 := c1.Nonce()
		wire.SignFrame(&f, &n1, m.key)
		item, _ := wire.AppendFrame(nil, &f)
		_, err := c2.Do(ctx, item, f.CID)
		wantCode(t, err, wire.CodeAuth)
	}
	// The same SUB is valid on its own connection.
	f := wire.Frame{Type: wire.TypeSUB, CID: 4243, ID: m.rid}
	n1 := c1.Nonce()
	wire.SignFrame(&f, &n1, m.key)
	item, _ := wire.AppendFrame(nil, &f)
	if _, err := c1.Do(ctx, item, f.CID); err != nil {
		t.Fatal(err)
	}
	healthyRaw(t, c2)
}

func TestRateLimit(t *testing.T) {
	tr := startRelay(t, func(c *relay.Config) { c.Limits.Rate = 0.01; c.Limits.Burst = 2 })
	ctx := tctx(t)
	c := tr.dial(t)
	for range 2 {
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, c.Ping(ctx), wire.CodeRate)
}

// TestRateAtOnce floods one connection with PINGs in one block: the
// burst is answered, every command past it gets RATE at once, not after
// a wait, and the connection stays usable (spec/relay.md §11).
func TestRateAtOnce(t *testing.T) {
	tr := startRelay(t, func(c *relay.Config) { c.Limits.Rate = 1; c.Limits.Burst = 5 })
	ctx := tctx(t)
	r := tr.raw(t)
	var items [][]byte
	for range 40 {
		f := wire.Frame{Type: wire.TypePING, CID: r.NextCID()}
		item, _ := wire.AppendFrame(nil, &f)
		items = append(items, item)
	}
	start := time.Now()
	if err := r.Send(ctx, items...); err != nil {
		t.Fatal(err)
	}
	ok, rate := 0, 0
	for range items {
		f, err := r.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case f.Type == wire.TypeOK:
			ok++
		case f.Type == wire.TypeERR && f.Code == wire.CodeRate:
			rate++
		default:
			t.Fatalf("reply %v code %v", f.Type, f.Code)
		}
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("40 replies took %v: commands over the rate were delayed", took)
	}
	if ok < 5 || ok > 6 || rate != 40-ok {
		t.Errorf("%d OK and %d RATE, want the burst of 5 (6 if a token came meanwhile) and RATE for the rest", ok, rate)
	}
	f := wire.Frame{Type: wire.TypePING, CID: r.NextCID()}
	item, _ := wire.AppendFrame(nil, &f)
	time.Sleep(1100 * time.Millisecond) // a token again
	if _, err := r.Do(ctx, item, f.CID); err != nil {
		t.Fatalf("PING after the flood: %v", err)
	}
}

// TestTransportViolations: each closes the offending connection with the
// close code of spec/relay.md §4.5 and leaves the relay healthy.
func TestTransportViolations(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	cases := map[string]func(r *relaytest.Raw) error{
		"oversize message": func(r *relaytest.Raw) error {
			return r.WriteMessage(ctx, websocket.MessageBinary, make([]byte, wire.BlockSize+1))
		},
		"truncated block": func(r *relaytest.Raw) error {
			return r.WriteMessage(ctx, websocket.MessageBinary, make([]byte, 100))
		},
		"forged block": func(r *relaytest.Raw) error {
			return r.WriteMessage(ctx, websocket.MessageBinary, make([]byte, wire.BlockSize))
		},
		"text message": func(r *relaytest.Raw) error {
			return r.WriteMessage(ctx, websocket.MessageText, make([]byte, wire.BlockSize))
		},
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			r := tr.raw(t)
			if err := bad(r); err != nil {
				t.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			err := r.Wait(wctx)
			if wctx.Err() != nil {
				t.Fatal("relay kept the connection")
			}
			want := websocket.StatusCode(wire.CloseBadBlock)
			if name == "oversize message" {
				want = websocket.StatusMessageTooBig // RFC 6455's 1009
			}
			if code := websocket.CloseStatus(err); code != want {
				t.Fatalf("close status %v, want %v (%v)", code, want, err)
			}
			healthy(t, tr.dial(t))
		})
	}
}

func TestHelloFailures(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	// Unknown version: 4001.
	ws, _, err := websocket.Dial(ctx, tr.addr.WebSocketURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if _, _, err := ws.Read(ctx); err != nil {
		t.Fatal(err)
	}
	ch := wire.ClientHello{Version: 2, Suite: wire.SuiteChaCha20Poly1305}
	if err := ws.Write(ctx, websocket.MessageBinary, ch.Marshal()); err != nil {
		t.Fatal(err)
	}
	_, _, err = ws.Read(ctx)
	if code := websocket.CloseStatus(err); code != wire.CloseBadHello {
		t.Fatalf("unknown version: close status %v (%v)", code, err)
	}
	// An all-zero ephemeral key (a low-order point: the shared secret
	// would be all zero, §4.4): 4001.
	zws, _, err := websocket.Dial(ctx, tr.addr.WebSocketURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zws.CloseNow()
	if _, _, err := zws.Read(ctx); err != nil {
		t.Fatal(err)
	}
	zero := wire.ClientHello{Version: wire.Version, Suite: wire.SuiteChaCha20Poly1305}
	if err := zws.Write(ctx, websocket.MessageBinary, zero.Marshal()); err != nil {
		t.Fatal(err)
	}
	_, _, err = zws.Read(ctx)
	if code := websocket.CloseStatus(err); code != wire.CloseBadHello {
		t.Fatalf("all-zero key: close status %v (%v)", code, err)
	}
	// A wrong fingerprint: the client refuses the relay.
	a := tr.addr
	a.Fingerprint[0] ^= 1
	if c, err := conn.DialAddress(ctx, a, nil); err == nil {
		c.Close()
		t.Fatal("dial succeeded with a wrong fingerprint")
	}
	healthy(t, tr.dial(t))
}

func TestHealthzAndDrain(t *testing.T) {
	tr := startRelay(t)
	url := "http://" + tr.addr.WebSocketURL()[len("ws://"):]
	url = url[:len(url)-len("/v1")] + "/healthz"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	c := tr.dial(t)
	m := newMailbox(t, c)
	if err := c.Send(tctx(t), m.sid, &m.cap, body(1024, 1)); err != nil {
		t.Fatal(err)
	}
	tr.stop()
	select {
	case <-c.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("connection survived shutdown")
	}
	if code := websocket.CloseStatus(c.Err()); code != wire.CloseShutdown {
		t.Fatalf("close status %v (%v)", code, c.Err())
	}
	if err := c.Ping(tctx(t)); !errors.Is(err, conn.ErrClosed) && err == nil {
		t.Fatal("ping after shutdown succeeded")
	}
}

// TestSuites (spec/relay.md §4.1, §4.2): a client may pick either suite
// the relay offers and works with it end to end; a relay that offers
// ChaCha20-Poly1305 only (a CPU without AES instructions) gets it from
// every client; a suite the relay did not offer closes with 4001.
func TestSuites(t *testing.T) {
	ctx := tctx(t)
	both := startRelay(t, func(c *relay.Config) {
		c.Suites = wire.OfferOf(wire.SuiteAES256GCM, wire.SuiteChaCha20Poly1305)
	})
	for _, s := range []wire.Suite{wire.SuiteAES256GCM, wire.SuiteChaCha20Poly1305} {
		c, err := conn.DialAddress(ctx, both.addr, &conn.Options{Suite: s})
		if err != nil {
			t.Fatalf("suite %d: %v", s, err)
		}
		roundTrip(t, c)
		c.Close()
	}

	chachaOnly := startRelay(t, func(c *relay.Config) { c.Suites = wire.OfferOf(wire.SuiteChaCha20Poly1305) })
	c := chachaOnly.dial(t) // the usual choice: ChaCha20-Poly1305, the only one offered
	roundTrip(t, c)
	c.Close()
	if _, err := conn.DialAddress(ctx, chachaOnly.addr, &conn.Options{Suite: wire.SuiteAES256GCM}); err == nil {
		t.Fatal("the client used a suite the relay did not offer")
	}

	// A raw client hello choosing AES from the ChaCha-only relay: 4001.
	ws, _, err := websocket.Dial(ctx, chachaOnly.addr.WebSocketURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if _, _, err := ws.Read(ctx); err != nil {
		t.Fatal(err)
	}
	ch := wire.ClientHello{Version: wire.Version, Suite: wire.SuiteAES256GCM}
	ch.Ephemeral[0] = 9
	if err := ws.Write(ctx, websocket.MessageBinary, ch.Marshal()); err != nil {
		t.Fatal(err)
	}
	_, _, err = ws.Read(ctx)
	if code := websocket.CloseStatus(err); code != wire.CloseBadHello {
		t.Fatalf("unoffered suite: close status %v (%v)", code, err)
	}
	healthy(t, chachaOnly.dial(t))

	// A configured offer of a suite this relay does not speak is refused.
	id, _ := crypto.GenerateSign(nil)
	if _, err := relay.New(relay.Config{Store: memory.New(memory.Config{}), Identity: id, Suites: 0x04}); err == nil {
		t.Fatal("a relay offering an unknown suite was configured")
	}
}

// roundTrip sends one message to a fresh mailbox of c and receives it.
func roundTrip(t *testing.T, c *conn.Conn) {
	t.Helper()
	ctx := tctx(t)
	rk, _ := crypto.GenerateSign(nil)
	rid, sid, err := c.New(ctx, rk, nil)
	if err != nil {
		t.Fatal(err)
	}
	var capability [32]byte
	capability[0] = 7
	if err := c.SecureSender(ctx, sid, &capability); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 1024)
	body[0] = 42
	if err := c.Send(ctx, sid, &capability, body); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(ctx, rid, rk); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-c.Pushes():
		if p.Type != wire.TypeMSG || p.Body[0] != 42 {
			t.Fatalf("got %v", p.Type)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
	}
}
