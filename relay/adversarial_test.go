package relay_test

// The adversarial relay suite (issue 9): a real relay on 127.0.0.1 under
// attacks from a client that follows no rules. After each attack a
// witness checks that the relay still serves others and lost nothing: a
// mailbox filled before the attack is read back whole, in order, on a
// fresh connection, and a fresh send is delivered.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"veil/crypto"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/relaytest"
	"veil/relay/wire"
)

// witness is a bystander mailbox holding messages sent before an attack.
type witness struct {
	m      *mailbox
	bodies [][]byte
}

func newWitness(t *testing.T, tr *testRelay, n int) *witness {
	t.Helper()
	c := tr.dial(t)
	w := &witness{m: newMailbox(t, c)}
	for i := range n {
		b := make([]byte, 1024)
		if err := crypto.RandomBytes(nil, b); err != nil {
			t.Fatal(err)
		}
		b[0] = byte(i)
		if err := c.Send(tctx(t), w.m.sid, &w.m.cap, b); err != nil {
			t.Fatalf("witness send %d: %v", i, err)
		}
		w.bodies = append(w.bodies, b)
	}
	return w
}

// check subscribes on a fresh connection, expects every witness message
// in order, then sends one more and expects it too. It acknowledges
// nothing, so it can run again.
func (w *witness) check(t *testing.T, tr *testRelay) {
	t.Helper()
	c := tr.dial(t)
	ctx := tctx(t)
	if err := c.Subscribe(ctx, w.m.rid, w.m.key); err != nil {
		t.Fatalf("witness: subscribe: %v", err)
	}
	var last uint64
	for i, want := range w.bodies {
		p := nextPush(t, c)
		if p.Type != wire.TypeMSG || p.Recipient != w.m.rid {
			t.Fatalf("witness: push %d is %v", i, p.Type)
		}
		if p.Seq <= last || !bytes.Equal(p.Body, want) {
			t.Fatalf("witness: message %d lost or changed (seq %d after %d)", i, p.Seq, last)
		}
		last = p.Seq
	}
	fresh := body(1024, 0xee)
	if err := tr.dial(t).Send(ctx, w.m.sid, &w.m.cap, fresh); err != nil {
		t.Fatalf("witness: fresh send: %v", err)
	}
	p := nextPush(t, c)
	if p.Type != wire.TypeMSG || p.Seq <= last || !bytes.Equal(p.Body, fresh) {
		t.Fatalf("witness: fresh message not delivered (%v seq %d)", p.Type, p.Seq)
	}
	w.bodies = append(w.bodies, fresh)
	if err := c.Off(ctx, w.m.rid); err != nil {
		t.Fatalf("witness: off: %v", err)
	}
}

func fastRelay(c *relay.Config) { c.Limits.Rate = 1e6; c.Limits.Burst = 1e6 }

// validItems returns one well-formed item of every command type, each
// addressing real objects on c, with bodies of the smallest bucket so
// that no truncation is another valid size.
func validItems(t *testing.T, r *relaytest.Raw, m *mailbox, logID crypto.ID, wcap, rcap *[32]byte) map[string][]byte {
	t.Helper()
	nonce := r.Nonce()
	items := map[string][]byte{}
	add := func(name string, f wire.Frame) {
		if f.Type.Signed() {
			if err := wire.SignFrame(&f, &nonce, m.key); err != nil {
				t.Fatal(err)
			}
		}
		item, err := wire.AppendFrame(nil, &f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		items[name] = item
	}
	var blob crypto.ID
	blob[0] = 0xb1
	add("NEW", wire.Frame{Type: wire.TypeNEW, Key: m.key.Public()})
	add("SKEY", wire.Frame{Type: wire.TypeSKEY, ID: m.sid, Cap: m.cap})
	add("SEND", wire.Frame{Type: wire.TypeSEND, ID: m.sid, Cap: m.cap, Body: body(1024, 3)})
	add("SUB", wire.Frame{Type: wire.TypeSUB, ID: m.rid})
	add("ACK", wire.Frame{Type: wire.TypeACK, ID: m.rid, Seq: 1})
	add("DEL", wire.Frame{Type: wire.TypeDEL, ID: m.rid})
	add("OFF", wire.Frame{Type: wire.TypeOFF, ID: m.rid})
	add("PUT", wire.Frame{Type: wire.TypePUT, ID: blob, Seconds: 60, Body: body(1024, 4)})
	add("TAKE", wire.Frame{Type: wire.TypeTAKE, ID: blob})
	add("LNEW", wire.Frame{Type: wire.TypeLNEW, Cap: *wcap, ReadCap: *rcap, Seconds: 60})
	add("LAPPEND", wire.Frame{Type: wire.TypeLAPPEND, ID: logID, Cap: *wcap, Body: body(1024, 5)})
	add("LREAD", wire.Frame{Type: wire.TypeLREAD, ID: logID, Cap: *rcap, Limit: 10})
	add("LDEL", wire.Frame{Type: wire.TypeLDEL, ID: logID, Cap: *wcap})
	return items
}

// TestAdversarialTruncatedAndExtended sends every proper prefix (with a
// header) and a one-byte extension of every command type. None may
// succeed or change anything; the connection and the relay stay healthy.
func TestAdversarialTruncatedAndExtended(t *testing.T) {
	tr := startRelay(t, fastRelay)
	w := newWitness(t, tr, 5)
	c := tr.dial(t)
	ctx := tctx(t)
	m := newMailbox(t, c)
	var wcap, rcap [32]byte
	wcap[0], rcap[0] = 1, 2
	logID, err := c.NewLog(ctx, &wcap, &rcap, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Append(ctx, logID, &wcap, body(1024, 9)); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, m.sid, &m.cap, body(1024, 8)); err != nil {
		t.Fatal(err)
	}
	tried := 0
	r := tr.raw(t)
	for name, item := range validItems(t, r, m, logID, &wcap, &rcap) {
		var bad [][]byte
		for n := 5; n < len(item); n++ {
			bad = append(bad, item[:n])
		}
		bad = append(bad, append(slices.Clone(item), 0))
		for _, b := range bad {
			b = slices.Clone(b)
			cid := r.NextCID()
			b[1], b[2], b[3], b[4] = byte(cid>>24), byte(cid>>16), byte(cid>>8), byte(cid)
			_, err := r.Do(ctx, b, cid)
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Fatalf("%s cut to %d of %d bytes: %v, want an ERR", name, len(b), len(item), err)
			}
			tried++
		}
	}
	t.Logf("%d truncated or extended items, all refused", tried)
	healthyRaw(t, r)
	healthy(t, c)
	// Nothing changed: the log has its one entry, the mailbox its one
	// message, no blob exists.
	entries, err := c.ReadLog(ctx, logID, &rcap, 0, 100)
	if err != nil || len(entries) != 1 {
		t.Fatalf("log after attack: %d entries, %v", len(entries), err)
	}
	var blob crypto.ID
	blob[0] = 0xb1
	if _, err := c.Take(ctx, blob); err == nil {
		t.Fatal("a truncated PUT stored a blob")
	}
	if err := c.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatal(err)
	}
	if p := nextPush(t, c); p.Type != wire.TypeMSG || p.Body[0] != 8 {
		t.Fatalf("mailbox after attack: %v", p.Type)
	}
	w.check(t, tr)
}

// TestAdversarialRandomItems sends random items (a bounded count) with
// valid headers: every one gets an ERR, none panics the relay.
func TestAdversarialRandomItems(t *testing.T) {
	tr := startRelay(t, fastRelay)
	w := newWitness(t, tr, 3)
	c := tr.raw(t)
	ctx := tctx(t)
	rng := make([]byte, 4096)
	const n = 2000
	for i := range n {
		if err := crypto.RandomBytes(nil, rng); err != nil {
			t.Fatal(err)
		}
		size := 5 + int(rng[0])<<4 | int(rng[1]&0x0f)
		item := slices.Clone(rng[:min(size, len(rng))])
		item[0] = byte(i%14) + 1 // every command type
		cid := c.NextCID()
		item[1], item[2], item[3], item[4] = byte(cid>>24), byte(cid>>16), byte(cid>>8), byte(cid)
		_, err := c.Do(ctx, item, cid)
		var we *wire.Error
		if err != nil && !errors.As(err, &we) {
			t.Fatalf("random item %d: %v", i, err)
		}
		// A random PING, OFF of nothing or TAKE... may not all fail;
		// what matters is an answer and a healthy relay.
	}
	healthyRaw(t, c)
	w.check(t, tr)
}

// TestAdversarialBadSignaturesAndCapabilities: every signed command with
// a signature altered in one bit, or over a different body, or by another
// key, or from another connection; every capability-authorised command
// with a capability altered in one bit. All AUTH, and nothing changes.
func TestAdversarialBadSignaturesAndCapabilities(t *testing.T) {
	tr := startRelay(t, fastRelay)
	w := newWitness(t, tr, 4)
	ctx := tctx(t)
	c, other := tr.dial(t), tr.dial(t)
	victim := w.m
	mallory, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	r, otherRaw := tr.raw(t), tr.raw(t)
	nonce := r.Nonce()
	otherNonce := otherRaw.Nonce()

	type variant struct {
		name string
		make func(f *wire.Frame)
	}
	variants := []variant{
		{"by another key", func(f *wire.Frame) { wire.SignFrame(f, &nonce, mallory) }},
		{"other connection's nonce", func(f *wire.Frame) { wire.SignFrame(f, &otherNonce, victim.key) }},
		{"zero signature", func(f *wire.Frame) { f.Sig = [wire.SigSize]byte{} }},
	}
	for _, bit := range []int{0, 7, 100, 255, 256, 511} {
		variants = append(variants, variant{"signature bit flipped", func(f *wire.Frame) {
			wire.SignFrame(f, &nonce, victim.key)
			f.Sig[bit/8] ^= 1 << (bit % 8)
		}})
	}
	variants = append(variants, variant{"signed, then the ID changed", func(f *wire.Frame) {
		wire.SignFrame(f, &nonce, victim.key)
		if f.Type == wire.TypeNEW {
			f.Key[0] ^= 1
		} else {
			f.ID[23] ^= 1
		}
	}})
	n := 0
	for _, typ := range []wire.Type{wire.TypeNEW, wire.TypeSUB, wire.TypeDEL} {
		for _, v := range variants {
			f := wire.Frame{Type: typ, CID: r.NextCID(), ID: victim.rid, Key: victim.key.Public()}
			v.make(&f)
			item, err := wire.AppendFrame(nil, &f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Do(ctx, item, f.CID)
			var we *wire.Error
			if !errors.As(err, &we) || we.Code != wire.CodeAuth {
				t.Fatalf("%v %s: %v, want AUTH", typ, v.name, err)
			}
			n++
		}
	}
	// Capabilities: one bit off in each position tried.
	var wcap, rcap [32]byte
	wcap[5], rcap[6] = 7, 8
	logID, err := other.NewLog(ctx, &wcap, &rcap, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Append(ctx, logID, &wcap, body(1024, 1)); err != nil {
		t.Fatal(err)
	}
	for bit := range 256 {
		if bit%37 != 0 && bit != 255 {
			continue
		}
		flip := func(k [32]byte) *[32]byte { k[bit/8] ^= 1 << (bit % 8); return &k }
		wantCode(t, c.Send(ctx, victim.sid, flip(victim.cap), body(1024, 1)), wire.CodeAuth)
		_, err := c.Append(ctx, logID, flip(wcap), body(1024, 1))
		wantCode(t, err, wire.CodeAuth)
		_, err = c.ReadLog(ctx, logID, flip(rcap), 0, 10)
		wantCode(t, err, wire.CodeAuth)
		wantCode(t, c.DeleteLog(ctx, logID, flip(wcap)), wire.CodeAuth)
		// The read capability does not write, nor the write one read.
		_, err = c.Append(ctx, logID, &rcap, body(1024, 1))
		wantCode(t, err, wire.CodeAuth)
		n += 5
	}
	// ACK and OFF without this connection's subscription, even while
	// another connection holds one.
	if err := other.Subscribe(ctx, victim.rid, victim.key); err != nil {
		t.Fatal(err)
	}
	p := nextPush(t, other)
	wantCode(t, c.Ack(ctx, victim.rid, p.Seq), wire.CodeAuth)
	wantCode(t, c.Off(ctx, victim.rid), wire.CodeAuth)
	// SKEY again cannot take over the mailbox.
	var cap2 [32]byte
	wantCode(t, c.SecureSender(ctx, victim.sid, &cap2), wire.CodeAlreadySecured)
	n += 3
	if err := other.Off(ctx, victim.rid); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d forged commands, all refused", n)
	entries, err := other.ReadLog(ctx, logID, &rcap, 0, 10)
	if err != nil || len(entries) != 1 {
		t.Fatalf("log after attack: %d entries, %v", len(entries), err)
	}
	healthy(t, c)
	w.check(t, tr)
}

// TestAdversarialReplayNEW: a NEW signed for one connection and replayed
// on another is refused; SUB and DEL are covered by
// TestReplayOnAnotherConnection.
func TestAdversarialReplayNEW(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	c1, c2 := tr.raw(t), tr.raw(t)
	k, _ := crypto.GenerateSign(nil)
	f := wire.Frame{Type: wire.TypeNEW, CID: 77, Key: k.Public()}
	n1 := c1.Nonce()
	wire.SignFrame(&f, &n1, k)
	item, _ := wire.AppendFrame(nil, &f)
	_, err := c2.Do(ctx, item, f.CID)
	wantCode(t, err, wire.CodeAuth)
	if _, err := c1.Do(ctx, item, f.CID); err != nil {
		t.Fatalf("NEW on its own connection: %v", err)
	}
}

// TestAdversarialIDGuessing guesses mailbox, blob and log IDs: random ones
// and real ones with one bit flipped. The measured hit rate must be zero,
// and every miss must carry the same code as a wrong key (no oracle).
func TestAdversarialIDGuessing(t *testing.T) {
	tr := startRelay(t, fastRelay)
	w := newWitness(t, tr, 2)
	ctx := ctxTimeout(t, 2*time.Minute)
	c := tr.dial(t)
	real := make([]*mailbox, 4)
	for i := range real {
		real[i] = newMailbox(t, c)
		if err := c.Send(ctx, real[i].sid, &real[i].cap, body(1024, byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	var wcap, rcap [32]byte
	wcap[0], rcap[0] = 3, 4
	logID, err := c.NewLog(ctx, &wcap, &rcap, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	var blobID crypto.ID
	if err := crypto.RandomBytes(nil, blobID[:]); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, blobID, time.Hour, nil, body(1024, 1)); err != nil {
		t.Fatal(err)
	}
	guesser, _ := crypto.GenerateSign(nil)

	var ids []crypto.ID
	const randomGuesses = 500
	for range randomGuesses {
		var id crypto.ID
		crypto.RandomBytes(nil, id[:])
		ids = append(ids, id)
	}
	nearMisses := func(id crypto.ID) {
		for bit := range 192 {
			x := id
			x[bit/8] ^= 1 << (bit % 8)
			ids = append(ids, x)
		}
	}
	for _, m := range real[:2] {
		nearMisses(m.sid)
		nearMisses(m.rid)
	}
	nearMisses(logID)
	nearMisses(blobID)

	var hits, tries, failed atomic.Int64
	codes := map[string]map[wire.Code]int{}
	var mu sync.Mutex
	record := func(kind string, err error) {
		tries.Add(1)
		var we *wire.Error
		if err == nil {
			hits.Add(1)
			return
		}
		if !errors.As(err, &we) {
			failed.Add(1)
			return
		}
		mu.Lock()
		if codes[kind] == nil {
			codes[kind] = map[wire.Code]int{}
		}
		codes[kind][we.Code]++
		mu.Unlock()
	}
	work := make(chan crypto.ID)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for id := range work {
				var cp [32]byte
				crypto.RandomBytes(nil, cp[:])
				record("SEND", c.Send(ctx, id, &cp, body(1024, 0)))
				record("SKEY", c.SecureSender(ctx, id, &cp))
				record("SUB", c.Subscribe(ctx, id, guesser))
				record("DEL", c.Delete(ctx, id, guesser))
				_, err := c.Take(ctx, id)
				record("TAKE", err)
				_, err = c.ReadLog(ctx, id, &rcap, 0, 1)
				record("LREAD", err)
				_, err = c.Append(ctx, id, &wcap, body(1024, 0))
				record("LAPPEND", err)
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	t.Logf("ID guessing: %d guesses (%d random IDs, %d one-bit near misses, 7 commands each), %d hits; codes %v",
		tries.Load(), randomGuesses, len(ids)-randomGuesses, hits.Load(), codes)
	if hits.Load() != 0 || failed.Load() != 0 {
		t.Fatalf("%d guesses hit, %d failed without an ERR", hits.Load(), failed.Load())
	}
	// One code per command for an unknown ID, whatever the kind.
	for kind, m := range codes {
		if len(m) != 1 {
			t.Errorf("%s: misses answered with several codes %v (an oracle)", kind, m)
		}
	}
	for _, kind := range []string{"SEND", "SUB", "DEL", "SKEY", "LREAD", "LAPPEND"} {
		if codes[kind][wire.CodeAuth] == 0 {
			t.Errorf("%s: misses not answered AUTH: %v", kind, codes[kind])
		}
	}
	// The real objects are intact.
	if b, err := c.Take(ctx, blobID); err != nil || len(b) != 1024 {
		t.Fatalf("blob after guessing: %v", err)
	}
	for i, m := range real {
		if err := c.Subscribe(ctx, m.rid, m.key); err != nil {
			t.Fatal(err)
		}
		if p := nextPush(t, c); p.Type != wire.TypeMSG || p.Body[0] != byte(i) {
			t.Fatalf("mailbox %d after guessing: %v", i, p.Type)
		}
	}
	w.check(t, tr)
}

// stallProxy forwards TCP between a client and the relay and can stop
// forwarding the relay's bytes to the client: a reader that stops
// reading, as the relay sees it.
type stallProxy struct {
	ln     net.Listener
	target string
	paused atomic.Bool
	resume chan struct{}
	wg     sync.WaitGroup
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target, resume: make(chan struct{})}
	p.wg.Go(func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				down.Close()
				continue
			}
			// A bounded receive buffer so the relay's writes block
			// (autotuning could otherwise absorb megabytes).
			up.(*net.TCPConn).SetReadBuffer(256 << 10)
			p.wg.Go(func() { io.Copy(up, down); up.Close() })
			p.wg.Go(func() {
				buf := make([]byte, 4096)
				for {
					if p.paused.Load() {
						<-p.resume
					}
					n, err := up.Read(buf)
					if n > 0 {
						if _, werr := down.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				down.Close()
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		if p.paused.Load() {
			p.paused.Store(false)
			close(p.resume)
		}
		p.wg.Wait()
	})
	return p
}

// TestAdversarialSlowReader: a subscriber that stops reading while its
// relay has megabytes to push. The relay must drop it after WriteTimeout
// and serve everyone else meanwhile; its unacknowledged messages wait for
// the next subscription.
func TestAdversarialSlowReader(t *testing.T) {
	tr := startRelay(t, fastRelay, func(c *relay.Config) { c.Limits.WriteTimeout = 2 * time.Second })
	w := newWitness(t, tr, 3)
	ctx := tctx(t)
	feeder := tr.dial(t)
	// Enough mailboxes of 130 messages (one delivery window, 128 blocks of
	// 16 KiB, each) that the pushes exceed twice the kernel's largest
	// send buffer, so the relay's writes block.
	const msgs = 130
	boxes := 4
	if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_wmem"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 3 {
			if wmax, err := strconv.Atoi(f[2]); err == nil {
				boxes = max(boxes, (2*wmax+(1<<20))/(128*wire.BlockSize)+1)
			}
		}
	}
	if boxes > 40 {
		t.Skipf("send buffers of this machine are too large to stall (%d mailboxes needed)", boxes)
	}
	var ms []*mailbox
	for range boxes {
		m := newMailbox(t, feeder)
		ms = append(ms, m)
		for i := range msgs {
			if err := feeder.Send(ctx, m.sid, &m.cap, body(16000, byte(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	px := newStallProxy(t, net.JoinHostPort(tr.addr.Host, itoa(int(tr.addr.Port))))
	a := tr.addr
	a.Port = uint16(px.ln.Addr().(*net.TCPAddr).Port)
	slow, err := conn.DialAddress(ctx, a, &conn.Options{PushBuffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	px.paused.Store(true)
	for _, m := range ms {
		go func() { // ends with its context; the reply may never come
			c2, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			slow.Subscribe(c2, m.rid, m.key)
		}()
	}
	// Meanwhile everyone else is served, quickly.
	start := time.Now()
	var worst time.Duration
	other := tr.dial(t)
	for time.Since(start) < 4*time.Second {
		t0 := time.Now()
		healthy(t, other)
		worst = max(worst, time.Since(t0))
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("slow reader: worst PING of another client while it stalled: %v", worst)
	if worst > 2*time.Second {
		t.Errorf("a stalled reader delayed another client's PING by %v", worst)
	}
	// Let bytes flow again: the relay must have dropped the connection.
	px.paused.Store(false)
	close(px.resume)
	var drained atomic.Int64
	go func() { // drains what was buffered, so the reader sees the close
		for range slow.Pushes() {
			drained.Add(1)
		}
	}()
	select {
	case <-slow.Done():
		t.Logf("slow reader dropped by the relay: %v", slow.Err())
	case <-time.After(15 * time.Second):
		t.Fatalf("the relay kept a connection that did not read for longer than WriteTimeout (%d pushes drained)", drained.Load())
	}
	// Nothing lost: every message arrives on a fresh subscription.
	fresh := tr.dial(t)
	for _, m := range ms {
		if err := fresh.Subscribe(ctx, m.rid, m.key); err != nil {
			t.Fatal(err)
		}
		for i := range msgs {
			p := nextPush(t, fresh)
			if p.Type != wire.TypeMSG || p.Recipient != m.rid || p.Body[0] != byte(i) {
				t.Fatalf("message %d after the stall: %v first byte %d", i, p.Type, p.Body[0])
			}
			if err := fresh.Ack(ctx, m.rid, p.Seq); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.check(t, tr)
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestAdversarialSlowWriters: connections that never finish their HTTP
// request or never send a hello are closed by the relay (ReadHeaderTimeout,
// HandshakeTimeout) while others are served.
func TestAdversarialSlowWriters(t *testing.T) {
	tr := startRelay(t, func(c *relay.Config) { c.Limits.HandshakeTimeout = time.Second })
	w := newWitness(t, tr, 2)
	ctx := tctx(t)
	hostport := net.JoinHostPort(tr.addr.Host, itoa(int(tr.addr.Port)))
	const lorises = 20
	closed := make(chan time.Duration, lorises)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	defer func() { close(stop); wg.Wait() }()
	for range lorises {
		c, err := net.Dial("tcp", hostport)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		wg.Go(func() { // trickles a header; ends when the relay closes or stop
			io.WriteString(c, "GET /v1 HTTP/1.1\r\nHost: x\r\n")
			go func() { // reader: notices the close
				io.Copy(io.Discard, c)
				closed <- time.Since(start)
			}()
			for i := 0; i < 100; i++ {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
				if _, err := c.Write([]byte("X")); err != nil {
					return
				}
			}
		})
	}
	// WebSockets that never send a hello: closed with 4004.
	silent := make([]*websocket.Conn, 10)
	for i := range silent {
		ws, _, err := websocket.Dial(ctx, tr.addr.WebSocketURL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		silent[i] = ws
	}
	healthy(t, tr.dial(t))
	for _, ws := range silent {
		var err error
		for err == nil {
			_, _, err = ws.Read(ctxTimeout(t, 10*time.Second))
		}
		// spec/relay.md §4.5: closed with 4004.
		if code := websocket.CloseStatus(err); code != wire.CloseHelloTimout {
			t.Errorf("a silent WebSocket was closed with %v, want close code %d", err, wire.CloseHelloTimout)
		}
	}
	var slowest time.Duration
	for range lorises {
		select {
		case d := <-closed:
			slowest = max(slowest, d)
		case <-time.After(30 * time.Second):
			t.Fatal("a slow-loris HTTP request was kept open longer than 30 s")
		}
	}
	t.Logf("slow writers: %d trickling HTTP requests closed after at most %v; 10 silent WebSockets closed with 4004", lorises, slowest.Round(time.Millisecond))
	w.check(t, tr)
}

// TestAdversarialFlood: one connection floods the relay with SENDs and
// PINGs from 16 goroutines while another measures its PING round trips.
// The flood is bounded by the rate limit (RATE replies); the victim's
// latency is logged and must stay within a generous bound.
func TestAdversarialFlood(t *testing.T) {
	tr := startRelay(t, func(c *relay.Config) { c.Limits.Rate = 2000; c.Limits.Burst = 2000 })
	w := newWitness(t, tr, 3)
	ctx := tctx(t)
	victim := tr.dial(t)
	measure := func(n int) []time.Duration {
		var out []time.Duration
		for range n {
			t0 := time.Now()
			healthy(t, victim)
			out = append(out, time.Since(t0))
			time.Sleep(5 * time.Millisecond)
		}
		slices.Sort(out)
		return out
	}
	q := func(d []time.Duration, p float64) time.Duration { return d[int(p*float64(len(d)-1))] }
	base := measure(100)

	flooder := tr.dial(t)
	fm := newMailbox(t, flooder)
	var ok, rate, quota, other atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := 0; i < 20000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if g%2 == 0 {
					err = flooder.Send(ctx, fm.sid, &fm.cap, body(16000, byte(i)))
				} else {
					err = flooder.Ping(ctx)
				}
				var we *wire.Error
				switch {
				case err == nil:
					ok.Add(1)
				case errors.As(err, &we) && we.Code == wire.CodeRate:
					rate.Add(1)
				case errors.As(err, &we) && we.Code == wire.CodeQuota:
					quota.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	under := measure(200)
	close(stop)
	wg.Wait()
	t.Logf("flood: %d OK, %d RATE, %d QUOTA, %d other; victim PING p50/p99/max without flood %v/%v/%v, under flood %v/%v/%v",
		ok.Load(), rate.Load(), quota.Load(), other.Load(),
		q(base, .5), q(base, .99), base[len(base)-1], q(under, .5), q(under, .99), under[len(under)-1])
	if other.Load() != 0 {
		t.Errorf("%d flood commands failed other than RATE or QUOTA", other.Load())
	}
	if q(under, .99) > 2*time.Second {
		t.Errorf("victim's PING p99 under flood is %v", q(under, .99))
	}
	w.check(t, tr)
}

// TestAdversarialQuotas: a client fills its mailbox to MaxPending, opens
// MaxSubs subscriptions, then fills the relay's storage quota. Writes fail
// with QUOTA and STORAGE_FULL; reads, ACKs and deletes still work for
// everyone, and space freed by an attacker's DEL is usable again.
func TestAdversarialQuotas(t *testing.T) {
	const maxStorage = 190 * 16000
	tr := startRelay(t, fastRelay, func(c *relay.Config) {
		// The global quota is under test: no per-connection budget
		// may stop the client first.
		c.Limits = relay.NoAbuseLimits(c.Limits)
		c.Limits.MaxPending = 50
		c.Limits.MaxSubs = 5
		c.Limits.MaxStorage = maxStorage
	})
	w := newWitness(t, tr, 5)
	ctx := tctx(t)
	c := tr.dial(t)
	// MaxSubs per connection.
	sc := tr.dial(t)
	for i := range 6 {
		m := newMailbox(t, sc)
		err := sc.Subscribe(ctx, m.rid, m.key)
		if i < 5 && err != nil {
			t.Fatalf("sub %d: %v", i, err)
		}
		if i == 5 {
			wantCode(t, err, wire.CodeQuota)
		}
	}
	// Per-mailbox quota.
	var boxes []*mailbox
	full := false
	for len(boxes) < 20 && !full {
		m := newMailbox(t, c)
		boxes = append(boxes, m)
		for i := 0; ; i++ {
			err := c.Send(ctx, m.sid, &m.cap, body(16000, byte(i)))
			if err == nil {
				continue
			}
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Fatal(err)
			}
			if we.Code == wire.CodeStorageFull {
				full = true
				break
			}
			if we.Code != wire.CodeQuota || i != 50 {
				t.Fatalf("send %d: %v, want QUOTA at 50", i, err)
			}
			break
		}
	}
	if !full {
		t.Fatal("storage quota never reached")
	}
	// Every write is refused now.
	if _, _, err := c.New(ctx, boxes[0].key, nil); err == nil {
		t.Fatal("NEW with storage full")
	} else {
		wantCode(t, err, wire.CodeStorageFull)
	}
	var blob crypto.ID
	blob[3] = 3
	wantCode(t, c.Put(ctx, blob, time.Minute, nil, body(1024, 1)), wire.CodeStorageFull)
	wantCode(t, tr.dial(t).Send(ctx, w.m.sid, &w.m.cap, body(1024, 1)), wire.CodeStorageFull)
	// Reads still work: the witness gets everything (its fresh send
	// must wait for space, below).
	rc := tr.dial(t)
	if err := rc.Subscribe(ctx, w.m.rid, w.m.key); err != nil {
		t.Fatal(err)
	}
	for i := range w.bodies {
		if p := nextPush(t, rc); !bytes.Equal(p.Body, w.bodies[i]) {
			t.Fatalf("witness message %d with storage full", i)
		}
	}
	if err := rc.Off(ctx, w.m.rid); err != nil {
		t.Fatal(err)
	}
	// The attacker deletes its mailboxes: space is usable again.
	for _, m := range boxes {
		if err := c.Delete(ctx, m.rid, m.key); err != nil {
			t.Fatal(err)
		}
	}
	if got := tr.store.Size(); got > maxStorage {
		t.Fatalf("size %d after deletes", got)
	}
	w.check(t, tr)
}

// TestSilentClientDropped: a client that upgrades, reads the relay's hello
// and then neither sends its own nor answers the 4004 close frame is
// dropped helloCloseGrace (1 s) after the handshake timeout, not after the
// WebSocket library's 5 s close handshake.
func TestSilentClientDropped(t *testing.T) {
	tr := startRelay(t, func(c *relay.Config) { c.Limits.HandshakeTimeout = time.Second })
	nc, err := net.Dial("tcp", net.JoinHostPort(tr.addr.Host, strconv.Itoa(int(tr.addr.Port))))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := "GET /v1 HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	start := time.Now()
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(io.Discard, nc) // the 101, the hello, the close frame, then EOF
	d := time.Since(start)
	if err != nil {
		t.Fatalf("read: %v after %v", err, d)
	}
	if n < 200 {
		t.Fatalf("read only %d bytes: no upgrade and hello?", n)
	}
	if d < time.Second || d > 4*time.Second {
		t.Fatalf("a silent client was dropped after %v, want about 2 s", d)
	}
}
