package relaytest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/coder/websocket"

	"veil/crypto"
	"veil/relay/wire"
)

// Raw is a relay connection that speaks the wire protocol (spec/relay.md
// §4, §5) with none of a client's care: it sends the items, blocks and
// WebSocket messages a test gives it, malformed on purpose or not. It
// reads only when asked, and is not safe for concurrent use.
type Raw struct {
	ws     *websocket.Conn
	nonce  [wire.NonceSize]byte
	sealer *wire.Sealer
	opener *wire.Opener
	cid    uint32
	queue  []wire.Frame // frames read while waiting for another
}

// DialRaw connects to the relay at a, checks its hello against the
// address's fingerprint and completes the key agreement. The connection
// is closed when the test ends.
func DialRaw(t testing.TB, a wire.Address) *Raw {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, a.WebSocketURL(), &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		t.Fatalf("relaytest: dial: %v", err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	ws.SetReadLimit(wire.BlockSize)
	_, rhb, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("relaytest: relay hello: %v", err)
	}
	rh, err := wire.ParseRelayHello(rhb)
	if err == nil {
		err = wire.CheckRelayHello(&rh, a.Fingerprint)
	}
	if err != nil {
		t.Fatalf("relaytest: relay hello: %v", err)
	}
	eph, err := crypto.GenerateDH(nil)
	if err != nil {
		t.Fatal(err)
	}
	suite, _ := wire.ChooseSuite(rh.Suites, crypto.HasAESHardware())
	chb := (&wire.ClientHello{Version: wire.Version, Ephemeral: eph.Public(), Suite: suite}).Marshal()
	shared, err := crypto.DH(eph, rh.Ephemeral)
	if err != nil {
		t.Fatal(err)
	}
	keys := wire.DeriveKeys(&shared, rhb, chb)
	if err := ws.Write(ctx, websocket.MessageBinary, chb); err != nil {
		t.Fatalf("relaytest: client hello: %v", err)
	}
	return &Raw{
		ws:     ws,
		nonce:  rh.Nonce,
		sealer: wire.NewSealer(suite, keys.ClientToRelay),
		opener: wire.NewOpener(suite, keys.RelayToClient),
	}
}

// Nonce returns the connection nonce that recipient signatures bind to
// (spec/relay.md §7.4).
func (r *Raw) Nonce() [wire.NonceSize]byte { return r.nonce }

// NextCID returns a fresh correlation ID, never 0.
func (r *Raw) NextCID() uint32 {
	r.cid++
	return r.cid
}

// Send packs items, as they are, into one block and sends it.
func (r *Raw) Send(ctx context.Context, items ...[]byte) error {
	var p wire.Packer
	p.Reset(make([]byte, wire.BlockPlainSize))
	for _, it := range items {
		if !p.Add(it) {
			return errors.New("relaytest: items do not fit one block")
		}
	}
	return r.SendBlock(ctx, p.Finish())
}

// SendBlock seals pt, a block plaintext of wire.BlockPlainSize bytes that
// may be malformed on purpose, and sends it.
func (r *Raw) SendBlock(ctx context.Context, pt []byte) error {
	if len(pt) != wire.BlockPlainSize {
		return fmt.Errorf("relaytest: a block plaintext is %d bytes", wire.BlockPlainSize)
	}
	return r.ws.Write(ctx, websocket.MessageBinary, r.sealer.Seal(nil, pt))
}

// WriteMessage writes one WebSocket message as it is, bypassing the inner
// layer (and so breaking the block counter).
func (r *Raw) WriteMessage(ctx context.Context, typ websocket.MessageType, b []byte) error {
	return r.ws.Write(ctx, typ, b)
}

// Read returns the next frame from the relay, a reply or a push, in the
// order it came.
func (r *Raw) Read(ctx context.Context) (wire.Frame, error) {
	if len(r.queue) > 0 {
		f := r.queue[0]
		r.queue = r.queue[1:]
		return f, nil
	}
	for {
		typ, rd, err := r.ws.Reader(ctx)
		if err != nil {
			return wire.Frame{}, err
		}
		b, err := io.ReadAll(rd)
		if err != nil {
			return wire.Frame{}, err
		}
		if typ != websocket.MessageBinary || len(b) != wire.BlockSize {
			return wire.Frame{}, errors.New("relaytest: relay sent a bad block")
		}
		pt, err := r.opener.Open(nil, b)
		if err != nil {
			return wire.Frame{}, err
		}
		items, err := wire.SplitBlock(pt)
		if err != nil {
			return wire.Frame{}, err
		}
		for _, it := range items {
			f, err := wire.ParseFrame(it)
			if err != nil {
				return wire.Frame{}, err
			}
			r.queue = append(r.queue, f)
		}
		if len(r.queue) > 0 {
			return r.Read(ctx)
		}
	}
}

// Reply reads until the reply with correlation ID cid and returns it (an
// ERR as a *wire.Error too); frames read on the way are kept for Read.
func (r *Raw) Reply(ctx context.Context, cid uint32) (wire.Frame, error) {
	var skipped []wire.Frame
	defer func() { r.queue = append(skipped, r.queue...) }()
	for {
		f, err := r.Read(ctx)
		if err != nil {
			return wire.Frame{}, err
		}
		if f.CID != cid || f.Type == wire.TypeMSG || f.Type == wire.TypeEND {
			skipped = append(skipped, f)
			continue
		}
		if f.Type == wire.TypeERR {
			return f, &wire.Error{Code: f.Code}
		}
		return f, nil
	}
}

// Do sends one item in a block of its own and returns the reply with cid.
func (r *Raw) Do(ctx context.Context, item []byte, cid uint32) (wire.Frame, error) {
	if err := r.Send(ctx, item); err != nil {
		return wire.Frame{}, err
	}
	return r.Reply(ctx, cid)
}

// Ping sends PING and waits for its reply.
func (r *Raw) Ping(ctx context.Context) error {
	f := wire.Frame{Type: wire.TypePING, CID: r.NextCID()}
	item, err := wire.AppendFrame(nil, &f)
	if err != nil {
		return err
	}
	_, err = r.Do(ctx, item, f.CID)
	return err
}

// Wait reads and drops frames until the relay closes the connection, and
// returns the close error (websocket.CloseStatus gives its code).
func (r *Raw) Wait(ctx context.Context) error {
	r.queue = nil
	for {
		if _, err := r.Read(ctx); err != nil {
			r.queue = nil
			return err
		}
		r.queue = nil
	}
}
