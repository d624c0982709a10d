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
	"veil/vault"
)

// TestGroupMessageByNotice: with the safety poll set to an hour, a
// running member gets a group message within seconds, from the relay's
// notice (spec/relay.md §8.7, spec/groups.md §6.2).
func TestGroupMessageByNotice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := startGroupRelay(t).String()
	ana, _ := groupEngine(t, addr)
	evs := make(chan Event, 256)
	ben, err := Create(ctx, Config{Dir: t.TempDir(), Events: evs, GroupPollEvery: time.Hour,
		Vault: vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1, MemTableSize: testMemTableSize}},
		[]byte("test pin"), CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ben.Close() })
	if err := ben.Setup(ctx, addr); err != nil {
		t.Fatal(err)
	}
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ana.GroupInvite(ctx, gid, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ben.Join(ctx, key, JoinOptions{As: "ben"}); err != nil {
		t.Fatal(err)
	}
	if err := ana.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}

	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { ben.Run(rctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	// The welcome, then each message, reach ben through notices: his
	// first sync ran when Run started, and no poll comes for an hour.
	wait := func(what string, ok func(Event) bool) {
		t.Helper()
		deadline := time.After(15 * time.Second)
		for {
			select {
			case ev := <-evs:
				if ok(ev) {
					return
				}
			case <-deadline:
				t.Fatalf("no %s within 15s", what)
			}
		}
	}
	time.Sleep(300 * time.Millisecond) // let Run's first sync pass
	wait("join", func(ev Event) bool { return ev.Type == EventGroupJoined && ev.From == "ben" })
	for _, text := range []string{"one", "two", "three"} {
		if _, err := ana.Send(ctx, gid, text, SendOptions{}); err != nil {
			t.Fatal(err)
		}
		wait("message "+text, func(ev Event) bool { return ev.Type == EventMessage && ev.From == "ana" && ev.Text == text })
	}
}

// TestGroupInviteWhileRunningByNotice: with the safety poll set to an
// hour on both sides, an invite made while the admin's client runs is
// answered on the relay's notice of the join request: its exchange log is
// subscribed as soon as the invite exists.
func TestGroupInviteWhileRunningByNotice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := startGroupRelay(t).String()
	engine := func() (*Engine, chan Event) {
		evs := make(chan Event, 256)
		e, err := Create(ctx, Config{Dir: t.TempDir(), Events: evs, GroupPollEvery: time.Hour,
			Vault: vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1, MemTableSize: testMemTableSize}},
			[]byte("test pin"), CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		if err := e.Setup(ctx, addr); err != nil {
			t.Fatal(err)
		}
		return e, evs
	}
	ana, _ := engine()
	ben, bevs := engine()
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { ana.Run(rctx) })
	wg.Go(func() { ben.Run(rctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	// The invite must come after Run's first sync, which would read it.
	time.Sleep(300 * time.Millisecond)

	key, err := ana.GroupInvite(ctx, gid, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ben.Join(ctx, key, JoinOptions{As: "ben"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(15 * time.Second)
	for {
		select {
		case ev := <-bevs:
			if ev.Type == EventGroupJoined && ev.From == "ben" {
				return
			}
		case <-deadline:
			t.Fatal("ben is not in the group within 15s")
		}
	}
}

// TestLogWatchBacksOffFromBadNotices: a relay that answers every LSUB with
// a notice breaking spec/relay.md §8.7 loses the connection each time, and
// is reconnected to ever more slowly (spec/client.md §7.2).
func TestLogWatchBacksOffFromBadNotices(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		bad  func(lsub wire.Frame) []byte
	}{
		{"NotAboveCursor", func(f wire.Frame) []byte {
			b, _ := wire.AppendFrame(nil, &wire.Frame{Type: wire.TypeLNOTE, ID: f.ID, Seq: f.Seq})
			return b
		}},
		{"CorrelationID", func(f wire.Frame) []byte {
			b, _ := wire.AppendFrame(nil, &wire.Frame{Type: wire.TypeLNOTE, CID: 9, ID: f.ID, Seq: f.Seq + 1})
			return b
		}},
		{"Truncated", func(f wire.Frame) []byte {
			b, _ := wire.AppendFrame(nil, &wire.Frame{Type: wire.TypeLNOTE, ID: f.ID, Seq: f.Seq + 1})
			return b[:len(b)-1]
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var conns atomic.Int64
			addr := startNoticeRelay(t, &conns, tc.bad).String()
			e := testEngine(t, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
			defer cancel()
			w := newLogWatch(e)
			want := map[string][]followedLog{addr: {{chat: "g", id: crypto.ID{1}, after: 5}}}
			for ctx.Err() == nil {
				due := w.follow(ctx, want)
				var tick <-chan time.Time
				if !due.IsZero() {
					tick = time.After(time.Until(due))
				}
				select {
				case <-w.changed:
				case <-tick:
				case <-ctx.Done():
				}
			}
			w.wg.Wait()
			// Waits of at least 100, 200, 400, 800 ms fit at most 5
			// connections in 2.5 s; a back-off reset at every hello
			// would allow 12 or more.
			if n := conns.Load(); n < 2 || n > 6 {
				t.Fatalf("%d connections in 2.5 s, want 2 to 6", n)
			}
			if len(w.take()) != 0 {
				t.Fatal("a bad notice reached the group loop")
			}
		})
	}
}

// TestLogWatchCoalescesNotices: notices for one group between two takes
// come out as one chat to sync.
func TestLogWatchCoalescesNotices(t *testing.T) {
	t.Parallel()
	w := newLogWatch(nil)
	n := w.notice("g")
	for i := range 1000 {
		n(uint64(i + 1))
	}
	w.notice("h")(1)
	if got := w.take(); len(got) != 2 || !got["g"] || !got["h"] {
		t.Fatalf("take = %v", got)
	}
	select {
	case <-w.noted:
	default:
		t.Fatal("no signal")
	}
	select {
	case <-w.noted:
		t.Fatal("more than one signal waiting")
	default:
	}
}

// startNoticeRelay runs on 127.0.0.1 a relay that completes the handshake
// of spec/relay.md §4, answers OK to every command, and follows each
// OK to an LSUB with the item bad returns for it; it counts connections.
func startNoticeRelay(t *testing.T, conns *atomic.Int64, bad func(wire.Frame) []byte) wire.Address {
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
		open, seal := wire.NewOpener(ch.Suite, k.ClientToRelay), wire.NewSealer(ch.Suite, k.RelayToClient)
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			pt, err := open.Open(nil, b)
			if err != nil {
				return
			}
			items, err := wire.SplitBlock(pt)
			if err != nil {
				return
			}
			var p wire.Packer
			p.Reset(make([]byte, wire.BlockPlainSize))
			for _, it := range items {
				f, err := wire.ParseFrame(it)
				if err != nil {
					return
				}
				ok, _ := wire.AppendFrame(nil, &wire.Frame{Type: wire.TypeOK, CID: f.CID})
				p.Add(ok)
				if f.Type == wire.TypeLSUB {
					p.Add(bad(f))
				}
			}
			if ws.Write(ctx, websocket.MessageBinary, seal.Seal(nil, p.Finish())) != nil {
				return
			}
		}
	})}
	go srv.Serve(ln) // owned by the test: closed at cleanup
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	return wire.Address{Host: "127.0.0.1", Port: uint16(ln.Addr().(*net.TCPAddr).Port), Fingerprint: wire.FingerprintOf(id.Public())}
}
