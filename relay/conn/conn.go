// Package conn is the client side of the relay protocol (spec/relay.md):
// it dials a relay address, checks the relay's signed hello against the
// address's fingerprint, runs the inner transport encryption, batches
// commands into blocks, matches replies to commands and hands pushed
// messages to the caller. The client engine, veil-load and the relay's
// tests use it; it never links the server.
//
// A Conn is safe for concurrent use. It owns two goroutines (a reader and
// a writer) that stop when Close is called or the connection fails.
package conn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"veil/crypto"
	"veil/relay/wire"
)

// Options configure Dial. The zero value is usable.
type Options struct {
	// Rand is the source of the ephemeral key (crypto/rand when nil).
	Rand io.Reader
	// TLSConfig is used for veil:// addresses (for a self-signed
	// certificate, say); the relay's fingerprint is checked regardless.
	TLSConfig *tls.Config
	// Dial, when set, opens the TCP connection to the relay (through a
	// SOCKS5 proxy such as Tor, say); net.Dialer otherwise. HTTP proxy
	// environment variables (HTTPS_PROXY…) are not used: a relay is
	// reached directly or through Dial, never through a proxy nobody chose
	// for veil.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// HTTPClient overrides the client used for the WebSocket handshake.
	// TLSConfig and Dial are then ignored, and writes are not gathered
	// into whole frames (see dialer).
	HTTPClient *http.Client
	// Suite, when set, is the block cipher to choose instead of the
	// usual choice (wire.ChooseSuite); the relay must offer it (tests).
	Suite wire.Suite
	// PushBuffer is the capacity of the Pushes channel (default 256).
	// The reader stops reading when it is full, which is backpressure.
	PushBuffer int
	// OnPush, when set, receives every MSG and END on the connection's
	// reader goroutine instead of the Pushes channel, which then stays
	// empty: no hand-off to another goroutine and no copy of the body.
	// Push.Body aliases the read buffer and is valid only during the
	// call. OnPush must not block and must not wait for a reply on this
	// connection (the reader would wait for itself); AckAsync and
	// AckNoWait are fine.
	OnPush func(Push)
}

// ErrClosed is returned by commands on a closed connection.
var ErrClosed = errors.New("conn: connection closed")

// ErrBadReply is wrapped by the error of a command whose reply breaks the
// protocol (spec/relay.md §7.3): the relay is broken or lying, and retrying
// at once would only get the same reply.
var ErrBadReply = errors.New("conn: relay sent a reply that breaks the protocol")

// Push is a MSG or END the relay pushed (spec/relay.md §7.3, §8).
type Push struct {
	Type      wire.Type // wire.TypeMSG or wire.TypeEND
	Recipient crypto.ID
	Seq       uint64 // MSG only
	Body      []byte // MSG only; owned by the receiver
}

// Conn is one connection to a relay.
type Conn struct {
	ws    *websocket.Conn
	nonce [wire.NonceSize]byte
	ident crypto.SignPublic

	pushes chan Push
	onPush func(Push)    // Options.OnPush
	done   chan struct{} // closed when the connection is finished
	wg     sync.WaitGroup
	cid    atomic.Uint32

	closeOnce sync.Once
	errMu     sync.Mutex // guards err
	err       error

	mu        sync.Mutex // guards pending, callbacks and unwaited
	pending   map[uint32]chan wire.Frame
	callbacks map[uint32]func(wire.Frame, error) // commands sent with Go
	unwaited  map[uint32]struct{}                // correlation IDs whose replies nobody waits for (AckNoWait)

	logMu   sync.Mutex // guards logSubs
	logSubs map[crypto.ID]*logNotify

	chunkPW atomic.Pointer[[wire.CapSize]byte] // CPUT's and CROOM's chunk password; nil: none
	fp      wire.Fingerprint                   // the relay's, which the chunk password names

	out outQueue
	// raw is the connection under the WebSocket when this package dialled
	// it: the writer bounds its writes with the connection's deadline
	// instead of a context per write.
	raw net.Conn
}

// Dial connects to the relay at address (veil:// or veil+ws://), checks
// its hello (spec/relay.md §4.3) and completes the key agreement.
func Dial(ctx context.Context, address string, opt *Options) (*Conn, error) {
	a, err := wire.ParseAddress(address)
	if err != nil {
		return nil, fmt.Errorf("conn: %w", err)
	}
	return DialAddress(ctx, a, opt)
}

// DialAddress is Dial with a parsed address.
func DialAddress(ctx context.Context, a wire.Address, opt *Options) (*Conn, error) {
	if opt == nil {
		opt = &Options{}
	}
	d := &dialer{dial: opt.Dial, tls: opt.TLSConfig}
	hc := opt.HTTPClient
	if hc == nil {
		hc = d.client()
	}
	ws, _, err := websocket.Dial(ctx, a.WebSocketURL(), &websocket.DialOptions{
		HTTPClient:      hc,
		CompressionMode: websocket.CompressionDisabled, // spec/relay.md §2.1
	})
	if opt.HTTPClient == nil {
		// A refused upgrade (a 404 from a proxy, say) leaves its
		// connection idle in this dial's own transport: close it. The
		// upgraded connection is not in the pool.
		hc.CloseIdleConnections()
	}
	if err != nil {
		return nil, fmt.Errorf("conn: dial: %w", err)
	}
	var raw net.Conn
	if opt.HTTPClient == nil {
		d.arm()
		if fc := d.last.Load(); fc != nil {
			raw = fc.Conn
		}
	}
	c, err := handshake(ctx, ws, a.Fingerprint, opt, raw)
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	return c, nil
}

// handshake runs spec/relay.md §4 on the client side. raw is the
// connection under ws when this package dialled it, else nil.
func handshake(ctx context.Context, ws *websocket.Conn, fp wire.Fingerprint, opt *Options, raw net.Conn) (*Conn, error) {
	ws.SetReadLimit(wire.BlockSize)
	typ, rhb, err := ws.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("conn: reading relay hello: %w", err)
	}
	if typ != websocket.MessageBinary {
		return nil, errors.New("conn: relay hello is not a binary message")
	}
	rh, err := wire.ParseRelayHello(rhb)
	if err != nil {
		return nil, fmt.Errorf("conn: %w", err)
	}
	if err := wire.CheckRelayHello(&rh, fp); err != nil {
		return nil, fmt.Errorf("conn: %w", err)
	}
	eph, err := crypto.GenerateDH(opt.Rand)
	if err != nil {
		return nil, fmt.Errorf("conn: %w", err)
	}
	suite, _ := wire.ChooseSuite(rh.Suites, crypto.HasAESHardware()) // CheckRelayHello made sure there is one
	if opt.Suite != 0 {
		if !(rh.Suites & wire.Known).Has(opt.Suite) {
			return nil, errors.New("conn: the relay does not offer the requested suite")
		}
		suite = opt.Suite
	}
	ch := wire.ClientHello{Version: wire.Version, Ephemeral: eph.Public(), Suite: suite}
	chb := ch.Marshal()
	shared, err := crypto.DH(eph, rh.Ephemeral)
	if err != nil {
		return nil, fmt.Errorf("conn: %w", err)
	}
	keys := wire.DeriveKeys(&shared, rhb, chb)
	shared.Wipe()
	if err := ws.Write(ctx, websocket.MessageBinary, chb); err != nil {
		return nil, fmt.Errorf("conn: writing client hello: %w", err)
	}
	n := opt.PushBuffer
	if n <= 0 {
		n = 256
	}
	c := &Conn{
		fp:        fp,
		ws:        ws,
		nonce:     rh.Nonce,
		ident:     rh.Identity,
		pushes:    make(chan Push, n),
		onPush:    opt.OnPush,
		raw:       raw,
		done:      make(chan struct{}),
		pending:   map[uint32]chan wire.Frame{},
		callbacks: map[uint32]func(wire.Frame, error){},
		unwaited:  map[uint32]struct{}{},
		logSubs:   map[crypto.ID]*logNotify{},
	}
	c.out.init()
	opener := wire.NewOpener(suite, keys.RelayToClient)
	sealer := wire.NewSealer(suite, keys.ClientToRelay)
	keys.Wipe()
	c.wg.Add(2)
	go c.readLoop(opener)
	go c.writeLoop(sealer)
	return c, nil
}

// Identity returns the relay's identity key, already checked against the
// address fingerprint.
func (c *Conn) Identity() crypto.SignPublic { return c.ident }

// Pushes returns the channel of MSG and END pushes. It is closed when the
// connection ends. The caller must keep reading it while subscribed
// (unless Options.OnPush takes the pushes).
func (c *Conn) Pushes() <-chan Push { return c.pushes }

// Done is closed when the connection has ended; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is open.
func (c *Conn) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// Close closes the connection and waits for its goroutines to stop.
func (c *Conn) Close() error {
	// ACKs waiting to share a block go out first, so that their messages
	// are not delivered again (§5.3), if the writer manages within a
	// moment.
	if c.out.flush(c.done) {
		t := time.NewTimer(closeFlush)
		select {
		case <-c.out.drained:
		case <-t.C:
		case <-c.done:
		}
		t.Stop()
	}
	c.fail(ErrClosed)
	c.ws.Close(websocket.StatusNormalClosure, "")
	c.wg.Wait()
	return nil
}

// fail records the first error and tears the connection down.
func (c *Conn) fail(err error) {
	c.closeOnce.Do(func() {
		c.errMu.Lock()
		c.err = err
		c.errMu.Unlock()
		close(c.done)
		c.ws.CloseNow()
		// Commands sent with Go learn that no reply will come. Go
		// registers only while done is open, under mu: none is missed.
		c.mu.Lock()
		cbs := c.callbacks
		c.callbacks = map[uint32]func(wire.Frame, error){}
		c.mu.Unlock()
		for _, done := range cbs {
			done(wire.Frame{}, err)
		}
	})
}

// nextCID returns a fresh correlation ID (never 0, which pushes use).
func (c *Conn) nextCID() uint32 {
	for {
		if id := c.cid.Add(1); id != 0 {
			return id
		}
	}
}

// Do sends f with a fresh correlation ID and waits for its reply. An ERR
// reply is returned as a *wire.Error.
func (c *Conn) Do(ctx context.Context, f *wire.Frame) (wire.Frame, error) {
	f.CID = c.nextCID()
	item, err := wire.AppendFrame(nil, f)
	if err != nil {
		return wire.Frame{}, fmt.Errorf("conn: %w", err)
	}
	return c.do(ctx, item, f.CID, false)
}

// do sends item, lazily for ACKs (outQueue), and waits for its reply.
func (c *Conn) do(ctx context.Context, item []byte, cid uint32, lazy bool) (wire.Frame, error) {
	ch := make(chan wire.Frame, 1)
	c.mu.Lock()
	if _, dup := c.pending[cid]; dup {
		c.mu.Unlock()
		return wire.Frame{}, fmt.Errorf("conn: correlation ID %d already in use", cid)
	}
	c.pending[cid] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, cid)
		c.mu.Unlock()
	}()
	if err := c.out.push(item, lazy, c.done); err != nil {
		return wire.Frame{}, c.errOr(err)
	}
	select {
	case r := <-ch:
		if r.Type == wire.TypeERR {
			return r, &wire.Error{Code: r.Code}
		}
		return r, nil
	case <-ctx.Done():
		return wire.Frame{}, ctx.Err()
	case <-c.done:
		return wire.Frame{}, c.errOr(ErrClosed)
	}
}

// Go sends f with a fresh correlation ID and returns without waiting
// for its reply: done is called exactly once, with the reply (an ERR
// reply as a *wire.Error), or with the error that ended the connection.
// It runs on the connection's reader goroutine, or on whichever
// goroutine closes the connection, and must not block. An error returned
// by Go itself means the command was not sent and done is not called.
// lazy sends the command as ACKs are sent (§5.3).
func (c *Conn) Go(f *wire.Frame, lazy bool, done func(wire.Frame, error)) error {
	f.CID = c.nextCID()
	item, err := wire.AppendFrame(c.out.buffer(), f)
	if err != nil {
		return fmt.Errorf("conn: %w", err)
	}
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return c.errOr(ErrClosed)
	default:
	}
	c.callbacks[f.CID] = done
	c.mu.Unlock()
	if err := c.out.push(item, lazy, c.done); err != nil {
		c.mu.Lock()
		_, still := c.callbacks[f.CID]
		delete(c.callbacks, f.CID)
		c.mu.Unlock()
		if !still {
			return nil // fail has called done already
		}
		return c.errOr(err)
	}
	return nil
}

func (c *Conn) errOr(def error) error {
	if err := c.Err(); err != nil {
		return err
	}
	return def
}

// readLoop owns the Opener. It stops when the WebSocket fails.
func (c *Conn) readLoop(o *wire.Opener) {
	defer o.Wipe()
	defer c.wg.Done()
	defer close(c.pushes)
	buf := make([]byte, wire.BlockSize)
	ctx := context.Background()
	for {
		typ, r, err := c.ws.Reader(ctx)
		if err != nil {
			c.fail(fmt.Errorf("conn: read: %w", err))
			return
		}
		n, err := io.ReadFull(r, buf)
		if err == nil {
			_, err = r.Read(buf[:0]) // must be at EOF
			if err == io.EOF {
				err = nil
			} else if err == nil {
				err = errors.New("block too long")
			}
		}
		if err != nil || typ != websocket.MessageBinary || n != wire.BlockSize {
			c.fail(fmt.Errorf("conn: bad block from relay: %v", err))
			return
		}
		pt, err := o.Open(buf[:0], buf)
		if err != nil {
			c.fail(fmt.Errorf("conn: %w", err))
			return
		}
		items, err := wire.SplitBlock(pt)
		if err != nil {
			c.fail(fmt.Errorf("conn: relay sent %w", err))
			return
		}
		for _, it := range items {
			f, err := wire.ParseFrame(it)
			if err != nil {
				c.fail(fmt.Errorf("conn: relay sent %w", err))
				return
			}
			if !c.dispatch(&f) {
				return
			}
		}
	}
}

// dispatch hands one frame to its waiter or to Pushes; false when the
// connection ended meanwhile.
func (c *Conn) dispatch(f *wire.Frame) bool {
	switch f.Type {
	case wire.TypeLNOTE:
		return c.logNote(f)
	case wire.TypeMSG, wire.TypeEND:
		p := Push{Type: f.Type, Recipient: f.ID, Seq: f.Seq}
		if c.onPush != nil {
			if f.Type == wire.TypeMSG {
				p.Body = f.Body
			}
			c.onPush(p)
			return true
		}
		if f.Type == wire.TypeMSG {
			p.Body = append([]byte(nil), f.Body...)
		}
		select {
		case c.pushes <- p:
			return true
		case <-c.done:
			return false
		}
	}
	// Replies: copy what aliases the read buffer.
	if f.Body != nil {
		f.Body = append([]byte(nil), f.Body...)
	}
	for i := range f.Entries {
		f.Entries[i].Body = append([]byte(nil), f.Entries[i].Body...)
	}
	c.mu.Lock()
	ch := c.pending[f.CID]
	var cb func(wire.Frame, error)
	if ch == nil {
		if cb = c.callbacks[f.CID]; cb != nil {
			delete(c.callbacks, f.CID)
		} else {
			delete(c.unwaited, f.CID)
		}
	}
	c.mu.Unlock()
	if cb != nil {
		if f.Type == wire.TypeERR {
			cb(*f, &wire.Error{Code: f.Code})
		} else {
			cb(*f, nil)
		}
		return true
	}
	if ch != nil {
		select {
		case ch <- *f:
		default: // a duplicate reply: the relay misbehaved; drop it
		}
	}
	return true
}

// writeLoop owns the Sealer: it packs queued items into blocks and sends
// each block as soon as the queue is empty (spec/relay.md §5.3).
func (c *Conn) writeLoop(s *wire.Sealer) {
	defer s.Wipe()
	defer c.wg.Done()
	// Each block is sealed in place, over its plaintext: one buffer.
	pt := make([]byte, wire.BlockPlainSize, wire.BlockSize)
	var p wire.Packer
	w := blockWriter{raw: c.raw}
	for {
		runtime.Gosched() // let ready callers queue first: fuller blocks, no delay (§5.3)
		items, ok := c.out.wait(c.done)
		if !ok {
			return
		}
		all := items
		for len(items) > 0 {
			p.Reset(pt)
			for len(items) > 0 && p.Add(items[0]) {
				items = items[1:]
			}
			if p.Len() == 0 { // an item larger than a block: drop it
				items = items[1:]
				continue
			}
			if !c.writeBlock(&w, s.Seal(pt[:0], p.Finish())) {
				return
			}
		}
		c.out.recycle(all) // the packer copied them
		w.clearDeadline()
		c.out.written()
	}
}

// blockWriter is the writer goroutine's record of the write deadline
// it last set on the raw connection (zero: none); raw is nil when the
// deadline is not used.
type blockWriter struct {
	raw      net.Conn
	deadline time.Time
}

// clearDeadline lifts the write deadline once the writer has nothing
// left to write, so that what the WebSocket writes meanwhile (a pong, a
// close frame) is not cut by a deadline that has passed.
func (w *blockWriter) clearDeadline() {
	if w.raw == nil || w.deadline.IsZero() {
		return
	}
	w.deadline = time.Time{}
	if w.raw.SetWriteDeadline(time.Time{}) != nil {
		w.raw = nil // a connection without deadlines: contexts from now on
	}
}

func (c *Conn) writeBlock(w *blockWriter, b []byte) bool {
	var err error
	if w.raw != nil {
		// A deadline set once per run of writes, and moved forward only
		// now and then, bounds every write to between
		// writeTimeout-deadlineSlack and writeTimeout, without the timer
		// and allocations of a context with a timeout for each write.
		if now := time.Now(); w.deadline.Sub(now) < writeTimeout-deadlineSlack {
			w.deadline = now.Add(writeTimeout)
			if w.raw.SetWriteDeadline(w.deadline) != nil {
				w.raw = nil
			}
		}
	}
	if w.raw != nil {
		err = c.ws.Write(context.Background(), websocket.MessageBinary, b)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		err = c.ws.Write(ctx, websocket.MessageBinary, b)
		cancel()
	}
	if err != nil {
		c.fail(fmt.Errorf("conn: write: %w", err))
		return false
	}
	return true
}

// writeTimeout bounds one block write; with the raw connection's
// deadline, a write may be cut deadlineSlack sooner.
const (
	writeTimeout  = 30 * time.Second
	deadlineSlack = 10 * time.Second
)

// closeFlush bounds how long Close waits for queued ACKs to be written.
const closeFlush = 200 * time.Millisecond

// AckDelay is how long an ACK may wait for another item to share its
// block (spec/relay.md §5.3), and lazyMax how many ACKs may wait at most.
// A subscriber that both sends and receives thus sends one block per
// message instead of two, and the relay answers both in one block; the
// wait delays only the ACK, never a delivery (the window of §8.2).
const (
	AckDelay = 5 * time.Millisecond
	lazyMax  = 32
)

// outQueue is the writer's queue of encoded items: eager ones, sent as
// soon as the writer can, and lazy ones (ACKs), sent with the next eager
// item, after AckDelay, or when lazyMax of them wait.
type outQueue struct {
	mu    sync.Mutex // guards the fields below
	items [][]byte
	lazy  [][]byte
	due   bool          // the lazy items' delay has passed
	timer *time.Timer   // marks lazy items due
	wake  chan struct{} // buffer of one
	// Close's flush: flushing while the lazy items wait, handed once wait
	// has given them to the writer, and drained gets a value once the
	// writer has written them.
	flushing, handed bool
	drained          chan struct{}
	// free holds encoded items the writer has packed, for Go to encode
	// the next commands into: a busy connection then allocates nothing
	// per command for its encoding.
	free [][]byte
	// spare is the slice of a batch the writer has finished with, for
	// the next batch's items.
	spare [][]byte
}

// Bounds of the free list: at most freeMax buffers of freeMin to freeCap
// bytes each.
const (
	freeMax = 64
	freeMin = 1024
	freeCap = 4096
)

// buffer returns an empty buffer to encode an item into (nil when none
// is free).
func (q *outQueue) buffer() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n := len(q.free); n > 0 {
		b := q.free[n-1]
		q.free = q.free[:n-1]
		return b
	}
	return nil
}

// recycle keeps items, which nobody uses any more, for buffer, and the
// slice that held them for the next batch.
func (q *outQueue) recycle(items [][]byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	defer func() {
		clear(items)
		q.spare = items[:0]
	}()
	for _, it := range items {
		if len(q.free) >= freeMax {
			return
		}
		if cap(it) >= freeMin && cap(it) <= freeCap { // small ones would grow under a larger item
			// A kept buffer may hold a SEND's capability in the clear:
			// wipe it so it does not outlive the write.
			clear(it[:cap(it)])
			q.free = append(q.free, it[:0])
		}
	}
}

func (q *outQueue) init() {
	q.wake = make(chan struct{}, 1)
	q.drained = make(chan struct{}, 1)
	q.timer = time.AfterFunc(time.Hour, func() {
		q.mu.Lock()
		q.due = len(q.lazy) > 0
		q.mu.Unlock()
		q.signal()
	})
	q.timer.Stop()
}

func (q *outQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *outQueue) push(item []byte, lazy bool, done <-chan struct{}) error {
	select {
	case <-done:
		return ErrClosed
	default:
	}
	q.mu.Lock()
	wake := true
	if lazy {
		q.lazy = append(q.lazy, item)
		if len(q.lazy) == 1 {
			q.timer.Reset(AckDelay)
		}
		wake = len(q.lazy) >= lazyMax
	} else {
		if q.items == nil {
			q.items, q.spare = q.spare, nil
		}
		q.items = append(q.items, item)
	}
	q.mu.Unlock()
	if wake {
		q.signal()
	}
	return nil
}

// flush makes the lazy items due now; false when there are none.
func (q *outQueue) flush(done <-chan struct{}) bool {
	select {
	case <-done:
		return false
	default:
	}
	q.mu.Lock()
	n := len(q.lazy)
	if n > 0 {
		q.due, q.flushing = true, true
	}
	q.mu.Unlock()
	if n > 0 {
		q.signal()
	}
	return n > 0
}

// written tells the queue that the writer has written what wait gave it.
func (q *outQueue) written() {
	q.mu.Lock()
	h := q.handed
	q.handed = false
	q.mu.Unlock()
	if h {
		select {
		case q.drained <- struct{}{}:
		default:
		}
	}
}

// wait returns every queued item, blocking until an eager one is queued
// or lazy ones are due; false when done is closed.
func (q *outQueue) wait(done <-chan struct{}) ([][]byte, bool) {
	for {
		q.mu.Lock()
		var items [][]byte
		if len(q.items) > 0 || (len(q.lazy) > 0 && (q.due || len(q.lazy) >= lazyMax)) {
			items = append(q.items, q.lazy...)
			q.handed = q.handed || (q.flushing && len(q.lazy) > 0)
			clear(q.lazy) // copied into items; its array is reused
			q.items, q.lazy, q.due, q.flushing = nil, q.lazy[:0], false, false
			q.timer.Stop()
		}
		q.mu.Unlock()
		if len(items) > 0 {
			return items, true
		}
		select {
		case <-q.wake:
		case <-done:
			q.timer.Stop()
			return nil, false
		}
	}
}
