package relay

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"veil/crypto"
	"veil/relay/wire"
)

// blockBuf is one block's plaintext and ciphertext. Buffers come from a
// pool and are held only while a block is read or written, so an idle
// connection holds none (the 24 KiB per idle connection bar of issue 3).
type blockBuf struct {
	pt [wire.BlockPlainSize]byte
	ct [wire.BlockSize]byte
}

// getBlock and putBlock use the Server's pool of block buffers.
func (s *Server) getBlock() *blockBuf {
	if b, ok := s.blocks.Get().(*blockBuf); ok {
		return b
	}
	return new(blockBuf)
}

func (s *Server) putBlock(b *blockBuf) { s.blocks.Put(b) }

// session is one client connection. Its goroutines: run (hello, then
// the reader); one goroutine per executing
// command (at most Limits.InFlight); at most one writer goroutine, started
// when there is something to send and ending when the queue is empty; one
// delivery goroutine per subscription. All are counted in wg; they stop
// when ctx is cancelled or the WebSocket fails.
type session struct {
	s  *Server
	ws *websocket.Conn
	nc net.Conn      // under ws: closing it ends a read at once
	br *bufio.Reader // the WebSocket library reads nc through it
	// readGate is held by the reader while it looks at br between
	// messages, and by another goroutine's Close, whose close handshake
	// reads br: the library's read lock is held only within each read.
	readGate sync.Mutex
	sock     *sockReader // smallBuffers.sock
	nonce    [wire.NonceSize]byte
	id       uint64 // the Observer's name for the connection
	limiter  *rate.Limiter
	chunkRL  *rate.Limiter // chunk commands' own bucket (§11); made by chunkLimiter
	sem      chan struct{} // one token per executing command
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup // writer and delivery goroutines

	outMu    sync.Mutex // guards the fields below
	out      []wire.Frame
	spare    []wire.Frame
	writing  bool // a writer goroutine owns sealer
	closed   bool
	pushed   int           // bytes of MSG bodies queued
	queued   int           // bytes of all frames queued (frameCost)
	drained  chan struct{} // made by a waiter, closed when the writer empties the queue
	room     chan struct{} // made by a waitReplyRoom, closed when queued falls below maxQueuedReplies
	sealer   *wire.Sealer  // used only by the writer
	writeErr error
	// held counts sem tokens of commands that finished on the store's
	// writer (finishAsync) while more than maxQueuedReplies were queued:
	// the writer gives them back once the queue is below it again.
	held int

	waitMu sync.Mutex // serialises waitCommands

	routeMu sync.Mutex // guards routes and asked
	routes  map[[wire.RouteIDSize]byte]*fwdRoute
	asked   map[string]time.Time // destinations FKEY named in the last minute, and when (§11)

	peer  *addrEntry                // the source address's limits (abuse.go)
	quota atomic.Pointer[connQuota] // made by connQuota on the first charge

	subMu   sync.Mutex // guards subs and logSubs
	subs    subSet
	logSubs map[crypto.ID]*logSub
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	peer := s.abuse.connect(r.RemoteAddr)
	if peer == nil { // §11: too many connections from this address
		s.metrics.handshakeFail.Inc()
		http.Error(w, "too many connections", http.StatusTooManyRequests)
		return
	}
	sb := &smallBuffers{ResponseWriter: w}
	ws, err := websocket.Accept(sb, r, &websocket.AcceptOptions{
		CompressionMode:    websocket.CompressionDisabled, // spec/relay.md §2.1
		InsecureSkipVerify: true,                          // no browser clients; any Origin is fine
	})
	if err != nil {
		s.abuse.disconnect(peer)
		s.metrics.handshakeFail.Inc()
		return
	}
	ws.SetReadLimit(wire.BlockSize) // §11: one block is the largest message
	ctx, cancel := context.WithCancel(context.Background())
	c := &session{
		s:       s,
		ws:      ws,
		nc:      sb.nc,
		br:      sb.br,
		sock:    sb.sock,
		limiter: s.newLimiter(),
		sem:     make(chan struct{}, s.limits.InFlight),
		ctx:     ctx,
		cancel:  cancel,
		peer:    peer,
	}
	if !s.addSession(c) {
		s.abuse.disconnect(peer)
		cancel()
		ws.Close(wire.CloseShutdown, "")
		return
	}
	if s.observer != nil {
		c.id = s.connIDs.Add(1)
		remote, _ := netip.ParseAddrPort(r.RemoteAddr)
		s.observer.Conn(c.id, remote)
	}
	opener, err := c.hello()
	if err != nil {
		c.s.metrics.handshakeFail.Inc()
		c.s.log.Debug("relay: handshake failed", "err", addressless(err))
		c.cancel()
		s.removeSession(c)
		return
	}
	// The reader runs on a fresh goroutine so that this handler returns
	// and net/http frees the request and the response, and so that the
	// stack the hello's cryptography grew is not kept by every idle
	// connection. The goroutine is owned by the Server: the session is in
	// s.sessions until it ends, and Drain waits for that.
	go c.run(opener, c.socketIdle(), waits{})
}

// socketIdle reports whether the reader may wait on the socket: it is a
// plain socket and nothing read from it waits above it.
func (c *session) socketIdle() bool {
	c.readGate.Lock()
	defer c.readGate.Unlock()
	return c.sock != nil && c.br.Buffered() == 0 && c.sock.idle()
}

// closeFrom closes the WebSocket with code from a goroutine other than
// the reader: the close handshake reads br, so not while the reader
// looks at it.
func (c *session) closeFrom(code websocket.StatusCode) {
	c.readGate.Lock()
	defer c.readGate.Unlock()
	c.ws.Close(code, "")
}

// run is the session's reader goroutine, then its cleanup. On a plain
// socket, once the reader has handled what arrived and nothing more is
// buffered, it waits for the next bytes. When that wait is likely to be
// long (waits.long), it hands the wait to a fresh goroutine and ends: the
// stack that commands grew goes back to the runtime, and an idle
// connection keeps a goroutine's smallest stack (2 KiB, not 8) waiting in
// a shallow call. A busy connection waits on the goroutine it has, whose
// stack has already grown to what its commands need, but for keyIdle at
// most: a connection that goes quiet after a busy spell then moves to a
// fresh goroutine too. wait says that nothing is buffered above the
// socket.
func (c *session) run(opener *wire.Opener, wait bool, w waits) {
	for {
		if wait {
			long := w.long()
			if long {
				// Keep the 32-byte keys, not the expanded ones
				// (wire.Sealer.Idle).
				opener.Idle()
				c.idleSealer()
			}
			w.n++
			start := time.Now()
			var limit time.Time
			if !long {
				limit = start.Add(keyIdle)
			}
			if !c.sock.wait(limit) {
				// Quiet for keyIdle: wait on a fresh goroutine, with the
				// keys dropped.
				w.last = keyIdle
				go c.run(opener, true, w) // owned by the Server, as this one is
				return
			}
			w.last = time.Since(start)
		}
		if !c.readLoop(opener) {
			break
		}
		wait = true
		if w.long() {
			go c.run(opener, true, w) // owned by the Server, as this one is
			return
		}
	}
	opener.Wipe()
	c.finish()
	c.cancel()
	c.s.removeSession(c)
}

// waits is what the reader knows of its waits on the socket: how many
// there were and how long the last one took. It travels with the reader
// from goroutine to goroutine (run), not in the session.
type waits struct {
	n    uint32
	last time.Duration
}

// A reader expects a long wait when the connection has just been set up
// (its first keyWaits waits: a client that subscribed and now idles) or
// when its last wait took keyIdle or more. Before such a wait it drops
// the connection's expanded block keys and moves to a fresh goroutine; a
// busy connection keeps both, since expanding a key again costs about as
// much as sealing 3 KiB, and a fresh goroutine grows its stack again
// (copying it) on the next block.
const (
	keyWaits = 4
	keyIdle  = time.Second
)

// long reports whether the next wait is likely to be long.
func (w waits) long() bool { return w.n < keyWaits || w.last >= keyIdle }

// idleSealer drops the sealer's expanded key unless a writer uses it.
func (c *session) idleSealer() {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if !c.writing && !c.closed {
		c.sealer.Idle()
	}
}

// helloCloseGrace is how long a client that sent no hello has to answer
// the relay's 4004 close frame before the connection is dropped.
const helloCloseGrace = time.Second

// hello runs spec/relay.md §4 on the relay side and returns the opener of
// client blocks; on failure it has closed the WebSocket with the code of §4.5.
func (c *session) hello() (*wire.Opener, error) {
	s := c.s
	if err := crypto.RandomBytes(s.rand, c.nonce[:]); err != nil {
		c.ws.CloseNow()
		return nil, err
	}
	eph, err := crypto.GenerateDH(s.rand)
	if err != nil {
		c.ws.CloseNow()
		return nil, err
	}
	rh := wire.RelayHello{MinVersion: wire.Version, MaxVersion: wire.Version, BlockSize: wire.BlockSize, Nonce: c.nonce, Ephemeral: eph.Public(), Suites: s.offer}
	rh.Sign(s.identity)
	rhb := rh.Marshal()
	ctx, cancel := context.WithTimeout(context.Background(), s.limits.HandshakeTimeout) // not c.ctx: a child would leave a map in it for good
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageBinary, rhb); err != nil {
		c.ws.CloseNow()
		return nil, err
	}
	// The read has no deadline of its own: the WebSocket library closes
	// the connection without a close frame when a read's context ends.
	// A timer sends the 4004 close frame of §4.5 instead, which ends the
	// read, and a second one drops a client that does not answer it.
	closing := time.AfterFunc(s.limits.HandshakeTimeout, func() { c.closeFrom(wire.CloseHelloTimout) })
	dropping := time.AfterFunc(s.limits.HandshakeTimeout+helloCloseGrace, func() { c.nc.Close() })
	typ, chb, err := c.ws.Read(context.Background())
	late := !closing.Stop() // the 4004 close is under way: too late for this hello
	dropping.Stop()
	if err == nil && late {
		err = errors.New("relay: client hello after the handshake timeout")
	}
	if err != nil {
		c.nc.Close()
		c.ws.CloseNow()
		return nil, err
	}
	ch, err := wire.ParseClientHello(chb)
	if err == nil && typ != websocket.MessageBinary {
		err = errors.New("relay: client hello is not binary")
	}
	if err == nil && ch.Version != wire.Version {
		err = errors.New("relay: unsupported client version")
	}
	if err == nil && !s.offer.Has(ch.Suite) {
		err = errors.New("relay: client chose a suite the relay did not offer")
	}
	if err != nil {
		c.ws.Close(wire.CloseBadHello, "")
		return nil, err
	}
	shared, err := crypto.DH(eph, ch.Ephemeral)
	if err != nil {
		c.ws.Close(wire.CloseBadHello, "")
		return nil, err
	}
	keys := wire.DeriveKeys(&shared, rhb, chb)
	shared.Wipe()
	c.sealer = wire.NewSealer(ch.Suite, keys.RelayToClient)
	o := wire.NewOpener(ch.Suite, keys.ClientToRelay)
	keys.Wipe()
	return o, nil
}

// readLoop reads blocks until the WebSocket fails or the client breaks
// the protocol at the transport level (§4.5: 4002), and returns false;
// on a plain socket it returns true after a block when nothing more is
// buffered above the socket, so that run waits on a fresh stack.
func (c *session) readLoop(o *wire.Opener) (idle bool) {
	for {
		// A client that does not read its replies gets no more read
		// from it (§11): every item of a block may queue a reply.
		c.waitReplyRoom(c.ctx)
		typ, r, err := c.ws.Reader(context.Background())
		if err != nil {
			return false
		}
		b := c.s.getBlock()
		n, err := io.ReadFull(r, b.ct[:])
		idle = c.socketIdle()
		if err == nil {
			var one [1]byte
			if m, rerr := r.Read(one[:]); m != 0 || rerr != nil && rerr != io.EOF {
				// Longer than a block: RFC 6455's "message too big"
				// (§4.5). The read limit makes the library refuse it.
				c.s.putBlock(b)
				c.s.metrics.badBlocks.Inc()
				c.ws.Close(websocket.StatusMessageTooBig, "")
				return false
			}
		}
		if err != nil || typ != websocket.MessageBinary || n != wire.BlockSize {
			c.s.putBlock(b)
			c.s.metrics.badBlocks.Inc()
			c.ws.Close(wire.CloseBadBlock, "")
			return false
		}
		pt, err := o.Open(b.pt[:0], b.ct[:])
		if err != nil {
			c.s.putBlock(b)
			c.s.metrics.badBlocks.Inc()
			c.ws.Close(wire.CloseBadBlock, "")
			return false
		}
		c.s.metrics.blocksIn.Inc()
		items, err := wire.SplitBlock(pt)
		if err != nil {
			c.s.putBlock(b)
			c.reply(wire.Frame{Type: wire.TypeERR, Code: wire.CodeMalformed})
			if idle {
				c.waitReplyRoom(c.ctx)
				return true
			}
			continue
		}
		ok := true
		for _, it := range items {
			if ok = c.handleItem(it); !ok {
				break
			}
		}
		c.s.putBlock(b)
		if !ok {
			return false
		}
		if idle {
			c.waitReplyRoom(c.ctx)
			return true
		}
	}
}

// handleItem parses one item and starts its command; false when the
// session is ending.
func (c *session) handleItem(item []byte) bool {
	f, err := wire.ParseFrame(item)
	if err != nil {
		_, cid, _ := wire.PeekHeader(item)
		code := wire.CodeMalformed
		if wire.IsUnknownType(err) {
			code = wire.CodeUnknown
		}
		c.s.metrics.errors.WithLabelValues(code.String()).Inc()
		c.reply(wire.Frame{Type: wire.TypeERR, CID: cid, Code: code})
		return true
	}
	if !f.Type.IsCommand() {
		c.replyErr(f.CID, wire.CodeUnknown)
		return true
	}
	if c.s.draining.Load() {
		c.replyErr(f.CID, wire.CodeShutdown)
		return true
	}
	limiter := c.limiter
	if isChunkCommand(f.Type) {
		limiter = c.chunkLimiter()
	}
	if !limiter.Allow() {
		// Over the rate: refused at once, never delayed, so the
		// reader does not stall (§11).
		c.replyErr(f.CID, wire.CodeRate)
		return true
	}
	// The item aliases the pooled block: copy what the command keeps.
	cmd := command{f: f}
	if f.Type.Signed() {
		cmd.raw = append([]byte(nil), item...)
	}
	if f.Body != nil {
		cmd.f.Body = append([]byte(nil), f.Body...)
	}
	if f.Password != nil {
		cmd.f.Password = append([]byte(nil), f.Password...)
	}
	if f.Dest != nil {
		cmd.f.Dest = append([]byte(nil), f.Dest...)
	}
	select {
	case c.sem <- struct{}{}:
	default:
		// Only now the context's Done channel, which an idle
		// connection then never makes.
		select {
		case c.sem <- struct{}{}:
		case <-c.ctx.Done():
			return false
		}
	}
	if c.s.async != nil {
		// SEND and ACK wait for the store's group commit on no goroutine
		// of their own: the checks run here and the reply is queued when
		// the write is durable (asyncCommand).
		switch f.Type {
		case wire.TypeSEND:
			c.startSend(&cmd)
			return true
		case wire.TypeACK:
			c.startAck(&cmd)
			return true
		}
	}
	go func() { // owned by the session: holds a sem token until it ends
		defer func() { <-c.sem }()
		start := time.Now()
		c.execute(&cmd)
		c.s.metrics.observe(cmd.f.Type, time.Since(start))
		c.writeQueued()
		// The token is kept while the writer is behind: a client that
		// stops reading runs out of tokens, and the reader stops (§11).
		c.waitReplyRoom(c.ctx)
	}()
	return true
}

// chunkLimiter returns the bucket of chunk commands, made on the first
// one: most connections never send any. Only the reader calls it.
func (c *session) chunkLimiter() *rate.Limiter {
	if c.chunkRL == nil {
		c.chunkRL = c.s.newChunkLimiter()
	}
	return c.chunkRL
}

// observe tells the Observer about one command typ of this connection
// that named or returned the IDs ids (zero ones are skipped) and carried
// a body of size bytes.
func (c *session) observe(typ wire.Type, size int, ids ...crypto.ID) {
	o := c.s.observer
	if o == nil {
		return
	}
	var list [][24]byte
	for _, id := range ids {
		if !id.IsZero() {
			list = append(list, id)
		}
	}
	o.Item(c.id, byte(typ), list, size, c.s.now())
}

// reply queues a reply or push for the writer (§5.3), and starts a
// writer goroutine when none runs.
func (c *session) reply(f wire.Frame) {
	c.outMu.Lock()
	c.replyLocked(f)
	c.outMu.Unlock()
}

// replyLocked queues f and starts a writer when none runs; the caller
// holds outMu.
func (c *session) replyLocked(f wire.Frame) {
	if !c.queueLocked(f) || c.writing {
		return
	}
	c.writing = true
	c.wg.Add(1)
	go c.writeLoop() // owned by the session: counted in wg, ends when the queue is empty
}

// queueReply queues a command's own reply without starting a writer: the
// command's goroutine, which is done with the command, calls writeQueued
// next and becomes the writer itself when none runs, which saves a
// goroutine and a hand-off per reply.
func (c *session) queueReply(f wire.Frame) {
	c.outMu.Lock()
	c.queueLocked(f)
	c.outMu.Unlock()
}

// writeQueued writes what is queued on the calling goroutine unless a
// writer runs (which will write it); it returns when the queue is empty.
func (c *session) writeQueued() {
	c.outMu.Lock()
	if c.writing || len(c.out) == 0 {
		c.outMu.Unlock()
		return
	}
	c.writing = true
	c.wg.Add(1)
	c.outMu.Unlock()
	c.writeLoop()
}

// queueLocked appends f to the queue; false once the session is closed.
// c.outMu is held.
func (c *session) queueLocked(f wire.Frame) bool {
	if c.closed {
		return false
	}
	c.out = append(c.out, f)
	c.queued += frameCost(&f)
	if f.Type == wire.TypeMSG {
		c.pushed += len(f.Body)
	}
	return true
}

func (c *session) replyErr(cid uint32, code wire.Code) {
	c.s.metrics.errors.WithLabelValues(code.String()).Inc()
	c.reply(wire.Frame{Type: wire.TypeERR, CID: cid, Code: code})
}

// writeLoop packs everything queued into as few blocks as possible and
// sends them; it exits when the queue is empty (§5.3: no added delay).
func (c *session) writeLoop() {
	defer c.wg.Done()
	var b *blockBuf
	defer func() {
		if b != nil {
			c.s.putBlock(b)
		}
	}()
	var p wire.Packer
	for {
		// Let goroutines that are ready to queue replies (a group commit
		// just answered several SENDs, say) run first: more items share
		// the block, and no timer delays anything (§5.3).
		runtime.Gosched()
		c.outMu.Lock()
		frames := c.out
		c.out, c.spare = c.spare[:0], nil
		if len(frames) == 0 || c.writeErr != nil {
			if b != nil && c.writeErr == nil {
				// The library's own writes (pongs, the close frame) must
				// not meet this run's deadline later on.
				c.nc.SetWriteDeadline(time.Time{})
			}
			c.writing = false
			c.pushed = 0
			c.queued = 0
			c.releaseHeldLocked()
			if c.room != nil {
				close(c.room)
				c.room = nil
			}
			if c.drained != nil {
				close(c.drained)
				c.drained = nil
			}
			c.out = frames[:0]
			c.outMu.Unlock()
			return
		}
		c.outMu.Unlock()
		if b == nil {
			b = c.s.getBlock()
		}
		pushed, queued := 0, 0
		for i := 0; i < len(frames); {
			p.Reset(b.pt[:])
			for i < len(frames) {
				ok, err := p.AddFrame(&frames[i])
				if err != nil { // cannot happen for frames the server builds
					c.s.log.Error("relay: unencodable reply", "type", frames[i].Type.String())
					i++
					continue
				}
				if !ok {
					break
				}
				if frames[i].Type == wire.TypeMSG {
					pushed += len(frames[i].Body)
				}
				queued += frameCost(&frames[i])
				i++
			}
			if p.Len() == 0 { // nothing fitted an empty block: drop the frame
				if i < len(frames) {
					queued += frameCost(&frames[i])
					i++
				}
				continue
			}
			ct := c.sealer.Seal(b.ct[:0], p.Finish())
			// A deadline on the socket, not a context: a context with a
			// timeout costs the WebSocket library a timer, an AfterFunc
			// and their allocations for every block. finish closes the
			// WebSocket, which ends a stuck write too.
			err := c.nc.SetWriteDeadline(time.Now().Add(c.s.limits.WriteTimeout))
			if err == nil {
				err = c.ws.Write(context.Background(), websocket.MessageBinary, ct)
			}
			if err != nil {
				c.outMu.Lock()
				c.writeErr = err
				c.outMu.Unlock()
				c.ws.CloseNow()
				break
			}
			c.s.metrics.blocksOut.Inc()
		}
		clear(frames) // drop references to bodies
		c.outMu.Lock()
		c.spare = frames[:0]
		c.pushed -= pushed
		if c.pushed < 0 {
			c.pushed = 0
		}
		c.queued -= queued
		if c.queued < 0 {
			c.queued = 0
		}
		if c.queued < maxQueuedReplies {
			if c.room != nil {
				close(c.room)
				c.room = nil
			}
			c.releaseHeldLocked()
		}
		c.outMu.Unlock()
	}
}

// releaseHeldLocked gives back the sem tokens that finishAsync kept;
// c.outMu is held. It never waits: the tokens are in c.sem.
func (c *session) releaseHeldLocked() {
	for ; c.held > 0; c.held-- {
		<-c.sem
	}
}

// frameCost is what a queued frame counts against maxQueuedReplies.
func frameCost(f *wire.Frame) int {
	return queuedFrameCost + len(f.Body) + len(f.Password) + len(f.Dest)
}

// waitReplyRoom blocks while more than maxQueuedReplies bytes of frames
// wait for the writer; it returns when they fit, the writer failed, the
// session closed or ctx ended.
func (c *session) waitReplyRoom(ctx context.Context) {
	for {
		c.outMu.Lock()
		if c.queued < maxQueuedReplies || c.closed || c.writeErr != nil {
			c.outMu.Unlock()
			return
		}
		if c.room == nil {
			c.room = make(chan struct{})
		}
		ch := c.room
		c.outMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// waitPushRoom blocks a delivery goroutine while more than maxQueuedPush
// bytes of MSGs wait for the writer; false when ctx ends first.
func (c *session) waitPushRoom(ctx context.Context) bool {
	for {
		c.outMu.Lock()
		if c.pushed < maxQueuedPush || c.closed {
			c.outMu.Unlock()
			return ctx.Err() == nil
		}
		ch := c.drainedLocked()
		c.outMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// drainedLocked returns the channel the writer closes when it empties
// the queue, made on demand: an idle connection holds none. c.outMu is
// held.
func (c *session) drainedLocked() <-chan struct{} {
	if c.drained == nil {
		c.drained = make(chan struct{})
	}
	return c.drained
}

// hasPushRoom reports whether MSGs may be queued without waiting
// (waitPushRoom).
func (c *session) hasPushRoom() bool {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	return c.pushed < maxQueuedPush && !c.closed
}

// waitWritten waits until the writer has sent everything queued so far.
func (c *session) waitWritten(ctx context.Context) {
	for {
		c.outMu.Lock()
		if !c.writing || c.writeErr != nil {
			c.outMu.Unlock()
			return
		}
		ch := c.drainedLocked()
		c.outMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// finish runs after the reader stops: it ends subscriptions, lets
// commands finish and their replies go out, and releases everything.
func (c *session) finish() {
	c.waitCommands(context.Background())
	c.endSubscriptions()
	c.endLogSubs()
	c.releaseRoutes()
	ctx, cancel := context.WithTimeout(context.Background(), c.s.limits.WriteTimeout)
	c.waitWritten(ctx)
	cancel()
	c.cancel()
	c.outMu.Lock()
	c.closed = true
	c.out = nil
	if c.room != nil {
		close(c.room)
		c.room = nil
	}
	c.outMu.Unlock()
	c.ws.CloseNow()
	c.wg.Wait()
	c.sealer.Wipe() // no writer is left
}

// drain is the shutdown path (Server.Drain): commands in progress finish
// and their replies are written, then the connection closes with 4003.
func (c *session) drain(ctx context.Context) {
	c.waitCommands(ctx)
	c.waitWritten(ctx)
	c.closeFrom(wire.CloseShutdown)
	c.ws.CloseNow()
}

// waitCommands waits until no command executes (or ctx ends) by taking
// every token of sem, then gives them back.
func (c *session) waitCommands(ctx context.Context) {
	// Two waiters (finish and drain) each holding part of the tokens
	// would block each other: take them one waiter at a time.
	c.waitMu.Lock()
	defer c.waitMu.Unlock()
	n := 0
	defer func() {
		for ; n > 0; n-- {
			<-c.sem
		}
	}()
	for ; n < cap(c.sem); n++ {
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
	}
}
