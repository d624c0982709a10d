package conn_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
)

// fakeRelay is a minimal relay on 127.0.0.1 whose hello and replies a
// test controls, to check the client's side of spec/relay.md §4 and §5.
type fakeRelay struct {
	id    crypto.SignPrivate
	hello func(h *wire.RelayHello) []byte // may tamper; nil: honest
	serve func(ws *websocket.Conn, s *wire.Sealer, o *wire.Opener)
	addr  wire.Address
}

func startFake(t *testing.T, f *fakeRelay) {
	t.Helper()
	if !f.id.Valid() {
		f.id, _ = crypto.GenerateSign(nil)
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
		ctx := r.Context()
		eph, _ := crypto.GenerateDH(nil)
		h := wire.RelayHello{MinVersion: 1, MaxVersion: 1, BlockSize: wire.BlockSize, Ephemeral: eph.Public(), Suites: wire.DefaultOffer()}
		crypto.RandomBytes(nil, h.Nonce[:])
		h.Sign(f.id)
		rhb := h.Marshal()
		if f.hello != nil {
			rhb = f.hello(&h)
		}
		if err := ws.Write(ctx, websocket.MessageBinary, rhb); err != nil {
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
		f.serve(ws, wire.NewSealer(ch.Suite, k.RelayToClient), wire.NewOpener(ch.Suite, k.ClientToRelay))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	port, _ := strconv.Atoi(ln.Addr().(*net.TCPAddr).AddrPort().String()[len("127.0.0.1:"):])
	f.addr = wire.Address{Host: "127.0.0.1", Port: uint16(port), Fingerprint: wire.FingerprintOf(f.id.Public())}
}

// okServer answers every item with OK, several per block when it can.
var okServer = recordingServer(nil)

func dialCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConcurrentCommandsAreCorrelated(t *testing.T) {
	f := &fakeRelay{serve: okServer}
	startFake(t, f)
	c, err := conn.DialAddress(dialCtx(t), f.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Identity() != f.id.Public() {
		t.Fatal("identity")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.Ping(dialCtx(t))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestBadHellos(t *testing.T) {
	other, _ := crypto.GenerateSign(nil)
	cases := map[string]func(h *wire.RelayHello) []byte{
		"signed by another key": func(h *wire.RelayHello) []byte {
			id := h.Identity
			h.Sign(other)
			h.Identity = id
			return h.Marshal()
		},
		"another relay's identity": func(h *wire.RelayHello) []byte {
			h.Sign(other)
			return h.Marshal()
		},
		"tampered nonce": func(h *wire.RelayHello) []byte {
			h.Nonce[0] ^= 1
			return h.Marshal()
		},
		"unknown versions": func(h *wire.RelayHello) []byte {
			h.MinVersion, h.MaxVersion = 2, 3
			return nil // re-signed below
		},
		"truncated": func(h *wire.RelayHello) []byte { return h.Marshal()[:100] },
		"bad magic": func(h *wire.RelayHello) []byte {
			b := h.Marshal()
			b[0] = 'X'
			return b
		},
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			f := &fakeRelay{serve: okServer}
			f.hello = func(h *wire.RelayHello) []byte {
				if b := mut(h); b != nil {
					return b
				}
				h.Sign(f.id)
				return h.Marshal()
			}
			startFake(t, f)
			if c, err := conn.DialAddress(dialCtx(t), f.addr, nil); err == nil {
				c.Close()
				t.Fatal("dial accepted a bad hello")
			}
		})
	}
}

func TestRelayBreaksTransport(t *testing.T) {
	cases := map[string]func(ws *websocket.Conn, s *wire.Sealer){
		"forged block": func(ws *websocket.Conn, s *wire.Sealer) {
			ws.Write(context.Background(), websocket.MessageBinary, make([]byte, wire.BlockSize))
		},
		"short block": func(ws *websocket.Conn, s *wire.Sealer) {
			ws.Write(context.Background(), websocket.MessageBinary, make([]byte, 10))
		},
		"malformed item": func(ws *websocket.Conn, s *wire.Sealer) {
			var p wire.Packer
			p.Reset(make([]byte, wire.BlockPlainSize))
			p.Add([]byte{0x80, 0, 0})
			ws.Write(context.Background(), websocket.MessageBinary, s.Seal(nil, p.Finish()))
		},
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			done := make(chan struct{})
			f := &fakeRelay{serve: func(ws *websocket.Conn, s *wire.Sealer, o *wire.Opener) {
				bad(ws, s)
				<-done
			}}
			startFake(t, f)
			defer close(done)
			c, err := conn.DialAddress(dialCtx(t), f.addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			select {
			case <-c.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("client kept a broken connection")
			}
			if err := c.Ping(dialCtx(t)); err == nil {
				t.Fatal("command succeeded on a broken connection")
			}
			if errors.Is(c.Err(), conn.ErrClosed) {
				t.Fatalf("Err = %v, want the cause", c.Err())
			}
		})
	}
}

func TestDialBadAddress(t *testing.T) {
	if _, err := conn.Dial(dialCtx(t), "veil://example.org:443", nil); err == nil {
		t.Fatal("address without fingerprint accepted")
	}
}

// recordingServer answers every item with OK, one block for each block,
// and, unless got is nil, sends the item types of every block it reads
// to got and closes got when the connection ends.
func recordingServer(got chan<- []wire.Type) func(ws *websocket.Conn, s *wire.Sealer, o *wire.Opener) {
	return recorder(got, true)
}

// recorder is recordingServer that answers only if answer is set.
func recorder(got chan<- []wire.Type, answer bool) func(ws *websocket.Conn, s *wire.Sealer, o *wire.Opener) {
	return func(ws *websocket.Conn, s *wire.Sealer, o *wire.Opener) {
		if got != nil {
			defer close(got)
		}
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
			var types []wire.Type
			var p wire.Packer
			p.Reset(make([]byte, wire.BlockPlainSize))
			for _, it := range items {
				typ, cid, _ := wire.PeekHeader(it)
				types = append(types, typ)
				p.AddFrame(&wire.Frame{Type: wire.TypeOK, CID: cid})
			}
			if got != nil {
				got <- types
			}
			if !answer {
				continue
			}
			if ws.Write(ctx, websocket.MessageBinary, s.Seal(nil, p.Finish())) != nil {
				return
			}
		}
	}
}

// TestAckSharesABlock (spec/relay.md §5.3): an ACK waits for the next
// command and shares its block; alone, it still goes out after about
// AckDelay, never stuck.
func TestAckSharesABlock(t *testing.T) {
	blocks := make(chan []wire.Type, 16)
	f := &fakeRelay{serve: recordingServer(blocks)}
	startFake(t, f)
	c, err := conn.DialAddress(dialCtx(t), f.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := dialCtx(t)
	var rid crypto.ID

	// Alone: sent after the delay.
	start := time.Now()
	if err := c.Ack(ctx, rid, 1); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < conn.AckDelay {
		t.Errorf("a lone ACK went out after %v, before AckDelay", d)
	}
	if got := <-blocks; len(got) != 1 || got[0] != wire.TypeACK {
		t.Fatalf("first block %v, want one ACK", got)
	}

	// With a command queued during the delay: one block for both. The
	// ACK's goroutine may be scheduled late on a loaded machine, so the
	// PING can overtake it; a few tries, and one shared block is enough.
	for try := range 5 {
		done := make(chan error, 1)
		go func() { done <- c.Ack(ctx, rid, uint64(2+try)) }()
		time.Sleep(conn.AckDelay / 5)
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := <-blocks; len(got) == 2 {
			return
		}
		<-blocks // the ACK's own block
	}
	t.Fatal("an ACK never shared a block with the command queued after it")
}

// TestAckNoWait: AckNoWait never waits for the relay's reply (this relay
// never answers, so a call that waited would not return), and Close
// sends ACKs still waiting for company instead of dropping them.
func TestAckNoWait(t *testing.T) {
	got := make(chan []wire.Type, 16)
	f := &fakeRelay{serve: recorder(got, false)}
	startFake(t, f)
	c, err := conn.DialAddress(dialCtx(t), f.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rid crypto.ID
	returned := make(chan error, 1)
	go func() {
		for seq := range uint64(3) {
			if err := c.AckNoWait(rid, seq+1); err != nil {
				returned <- err
				return
			}
		}
		returned <- nil
	}()
	select {
	case err := <-returned:
		if err != nil {
			t.Fatal(err)
		}
	case <-dialCtx(t).Done():
		t.Fatal("AckNoWait waited for a reply the relay never sends")
	}
	c.Close()
	acks := 0
	for types := range got {
		for _, typ := range types {
			if typ == wire.TypeACK {
				acks++
			}
		}
	}
	if acks != 3 {
		t.Fatalf("the relay got %d ACKs before the close, want 3", acks)
	}
	if err := c.AckNoWait(rid, 9); err == nil {
		t.Fatal("AckNoWait on a closed connection succeeded")
	}
}

// TestRefusedDialsLeakNothing: a server that answers the upgrade with a
// page (a proxy's 404) leaves no connection or goroutine behind per dial.
func TestRefusedDialsLeakNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no relay here", http.StatusNotFound)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	a := wire.Address{Host: "127.0.0.1", Port: uint16(ln.Addr().(*net.TCPAddr).Port)}
	dial := func() {
		if c, err := conn.DialAddress(dialCtx(t), a, nil); err == nil {
			c.Close()
			t.Fatal("dial succeeded against a 404")
		}
	}
	dial() // warm up whatever the first dial starts once
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	for range 30 {
		dial()
	}
	var after int
	for range 50 { // closing goroutines take a moment to end
		if after = runtime.NumGoroutine(); after <= before+3 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("goroutines %d before 30 refused dials, %d after", before, after)
}

// TestReadLogRefusesBadEntrySizes (spec/relay.md §7.3): an ENTRIES reply
// with a body that is not a padding bucket is an error, not data.
func TestReadLogRefusesBadEntrySizes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []int
		ok    bool
	}{
		{"buckets", []int{1024, 4096}, true},
		{"empty", nil, true},
		{"one byte short", []int{1024, 1023}, false},
		{"empty body", []int{0}, false},
		{"one byte over", []int{4097}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRelay{serve: entriesServer(tc.sizes)}
			startFake(t, f)
			c, err := conn.DialAddress(dialCtx(t), f.addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var id crypto.ID
			var rcap [wire.CapSize]byte
			es, err := c.ReadLog(dialCtx(t), id, &rcap, 0, 10)
			if tc.ok {
				if err != nil || len(es) != len(tc.sizes) {
					t.Fatalf("ReadLog = %d entries, %v", len(es), err)
				}
				return
			}
			if err == nil || es != nil || !strings.Contains(err.Error(), "padding bucket") {
				t.Fatalf("ReadLog = %d entries, %v; want an error about the bucket", len(es), err)
			}
		})
	}
}

// TestReadLogRefusesEntriesThatDoNotAdvance (spec/relay.md §7.2, §7.3): an
// ENTRIES reply whose entries are not above the cursor and in increasing
// seq, or that holds more than the limit, is refused whole, so a reader
// cannot be held at one cursor for ever.
func TestReadLogRefusesEntriesThatDoNotAdvance(t *testing.T) {
	for _, tc := range []struct {
		name string
		seqs []uint64
		ok   bool
	}{
		{"above the cursor", []uint64{6, 7, 9}, true},
		{"at the cursor", []uint64{5}, false},
		{"below the cursor", []uint64{1, 2}, false},
		{"zero", []uint64{0}, false},
		{"repeated", []uint64{6, 7, 7}, false},
		{"backwards", []uint64{6, 8, 7}, false},
		{"over the limit", []uint64{6, 7, 8, 9}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sizes := make([]int, len(tc.seqs))
			for i := range sizes {
				sizes[i] = 1024
			}
			f := &fakeRelay{serve: seqEntriesServer(tc.seqs, sizes)}
			startFake(t, f)
			c, err := conn.DialAddress(dialCtx(t), f.addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var id crypto.ID
			var rcap [wire.CapSize]byte
			es, err := c.ReadLog(dialCtx(t), id, &rcap, 5, 3)
			if tc.ok {
				if err != nil || len(es) != len(tc.seqs) {
					t.Fatalf("ReadLog = %d entries, %v", len(es), err)
				}
				return
			}
			if !errors.Is(err, conn.ErrBadReply) || es != nil {
				t.Fatalf("ReadLog = %d entries, %v; want ErrBadReply", len(es), err)
			}
		})
	}
}

// entriesServer answers every item with ENTRIES of bodies of the given
// sizes, numbered from 1.
func entriesServer(sizes []int) func(ws *websocket.Conn, s *wire.Sealer, o *wire.Opener) {
	seqs := make([]uint64, len(sizes))
	for i := range seqs {
		seqs[i] = uint64(i + 1)
	}
	return seqEntriesServer(seqs, sizes)
}

// seqEntriesServer answers every item with ENTRIES of the given sequence
// numbers and body sizes.
func seqEntriesServer(seqs []uint64, sizes []int) func(ws *websocket.Conn, s *wire.Sealer, o *wire.Opener) {
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
				r := wire.Frame{Type: wire.TypeENTRIES, CID: cid}
				for i, n := range sizes {
					r.Entries = append(r.Entries, wire.Entry{Seq: seqs[i], Body: make([]byte, n)})
				}
				p.AddFrame(&r)
			}
			if ws.Write(ctx, websocket.MessageBinary, s.Seal(nil, p.Finish())) != nil {
				return
			}
		}
	}
}
