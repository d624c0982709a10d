package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"veil/vault"
)

// Transfer tuning (not protocol).
const (
	xferInFlight     = 128                    // chunks in flight per transfer
	xferCheckpoint   = 256                    // acked positions between watermark checkpoints
	xferCheckEvery   = time.Second            // or this long
	xferEventEvery   = 250 * time.Millisecond // at most 4 progress events a second
	xferRetryEvery   = 5 * time.Second        // how often Run looks for transfers to resume
	xferMaxTries     = 50                     // a transfer failing for a connection this often fails for good
	xferMaxRunning   = 4                      // transfers Run's loop runs at once; the others wait their turn
	xferMaxDownloads = 3                      // of those, downloads: an upload always has a slot
	xferStallAfter   = 2 * time.Minute        // a transfer with no chunk done this long stops as a failed try
	settingAutoFetch = "files/auto"
)

// errXferPermanent marks a transfer error that retrying cannot mend: the
// file is marked failed.
type xferFailed struct {
	msg   string
	local bool // our own copy is damaged, not what the relay holds
}

func (f *xferFailed) Error() string { return "client: " + f.msg }

func failedf(format string, args ...any) error {
	return &xferFailed{msg: fmt.Sprintf(format, args...)}
}

// isFailed reports whether err fails the file for good.
func isFailed(err error) bool {
	var f *xferFailed
	return errors.As(err, &f)
}

// errXferGone is why a transfer stops when its message, chat or record
// went away (burned, erased, cancelled).
var errXferGone = errors.New("client: the file is gone")

// transfers are the transfers running in this process.
type transfers struct {
	mu     sync.Mutex
	m      map[string]*xfer
	runCtx context.Context // Run's, while the transfer loop runs
	kick   chan struct{}
	closed bool           // the engine is closing: no transfer starts
	held   map[string]int // transfers not to start: their message is being deleted
	// gen counts the holds that ended. A transfer record read from the
	// vault before a hold ended may have been deleted under the hold, so
	// it starts only if gen is what it was before the read.
	gen uint64
}

// errXferStale is the error of a start refused because a hold ended
// after the transfer record was read: read it again.
var errXferStale = errors.New("client: the transfer record may be gone; read it again")

// transferGen returns the count of ended holds, for startTransfer: read
// it before reading the transfer records to start.
func (e *Engine) transferGen() uint64 {
	e.xfers.mu.Lock()
	defer e.xfers.mu.Unlock()
	return e.xfers.gen
}

// errXferStopped is why a transfer stops when the engine stops it (a
// cancel, a delete, a burn): that is never a try of the transfer.
var errXferStopped = errors.New("client: the transfer was stopped")

// errXferStalled ends a transfer whose relay let xferStallAfter pass
// without completing one of its chunk commands (a relay that keeps the
// connection open and never answers): it counts as a failed try.
var errXferStalled = fmt.Errorf("client: the relay stopped answering: no chunk moved for %d minutes", int(xferStallAfter/time.Minute))

// errEngineClosed ends what waits for a transfer of a closed engine.
var errEngineClosed = errors.New("client: the engine is closed")

// closeTransfers stops every transfer from starting and cancels the
// running ones, which it returns for the caller to wait for.
func (e *Engine) closeTransfers() []*xfer {
	e.xfers.mu.Lock()
	defer e.xfers.mu.Unlock()
	e.xfers.closed = true
	var xs []*xfer
	for _, x := range e.xfers.m {
		x.stop(errEngineClosed)
		xs = append(xs, x)
	}
	return xs
}

// xfer is one running transfer.
type xfer struct {
	chat, msg string
	up        bool
	cancel    context.CancelFunc
	stop      context.CancelCauseFunc // cancel with a cause
	done      chan struct{}
	err       error
	stale     bool // never started: a hold ended after its record was read
	// moved is when (engine clock, Unix ns) the transfer started or last
	// completed a chunk command; xferIdle while it waits on no relay.
	moved atomic.Int64
}

// xferIdle is xfer.moved of a transfer that waits on no relay (its
// chunks are done): it never stalls.
const xferIdle = 0

// xferKey is the context key of the running xfer, for the pipeline to
// report progress to.
type xferKey struct{}

// xferMoved records that the transfer running under ctx, if any, just
// completed a chunk command (or, with idle, waits on no relay any more).
func (e *Engine) xferMoved(ctx context.Context, idle bool) {
	x, ok := ctx.Value(xferKey{}).(*xfer)
	if !ok {
		return
	}
	if idle {
		x.moved.Store(xferIdle)
	} else {
		x.moved.Store(e.now().UnixNano())
	}
}

// stopStalled stops every running transfer that completed no chunk
// command for xferStallAfter on the engine's clock, with errXferStalled:
// its requests in flight end, its connection is dropped and it backs off
// as after a failed try, freeing its slot.
func (e *Engine) stopStalled() {
	e.xfers.mu.Lock()
	defer e.xfers.mu.Unlock()
	if len(e.xfers.m) == 0 {
		return
	}
	now := e.now().UnixNano()
	for _, x := range e.xfers.m {
		if m := x.moved.Load(); m != xferIdle && now-m >= int64(xferStallAfter) {
			x.stop(errXferStalled)
		}
	}
}

// isStalled reports whether the transfer running under ctx was stopped
// by stopStalled.
func isStalled(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), errXferStalled)
}

// kickTransfers makes Run's transfer loop look for transfers to start.
func (e *Engine) kickTransfers() {
	e.xfers.mu.Lock()
	defer e.xfers.mu.Unlock()
	if e.xfers.kick != nil {
		select {
		case e.xfers.kick <- struct{}{}:
		default:
		}
	}
}

// transferLoop resumes every stored transfer while Run runs, and starts
// new ones as they are stored.
func (e *Engine) transferLoop(ctx context.Context) {
	kick := make(chan struct{}, 1)
	e.xfers.mu.Lock()
	e.xfers.runCtx, e.xfers.kick = ctx, kick
	e.xfers.mu.Unlock()
	defer func() {
		e.xfers.mu.Lock()
		e.xfers.runCtx, e.xfers.kick = nil, nil
		e.xfers.mu.Unlock()
	}()
	t := time.NewTicker(xferRetryEvery)
	defer t.Stop()
	for {
		e.resumeTransfers(ctx, false)
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-t.C:
		}
	}
}

// resumeTransfers starts every stored transfer not running whose back-off
// has passed (all of them with force).
func (e *Engine) resumeTransfers(ctx context.Context, force bool) {
	e.stopStalled()
	gen := e.transferGen()
	ts, err := e.v.Transfers()
	if err != nil {
		return
	}
	now := e.now()
	for _, t := range ts {
		if !force && t.NextTry.After(now) {
			continue
		}
		e.xfers.mu.Lock()
		free := e.xfers.m[t.ID] != nil || slotFree(e.xfers.m, t.Up)
		e.xfers.mu.Unlock()
		if !free {
			continue // the next kick or tick starts the rest
		}
		if x := e.startTransfer(ctx, t, gen); x.stale {
			e.kickTransfers() // read the records again
			return
		}
	}
}

// slotFree reports whether Run's loop may start one more upload (up) or
// download beside the running ones: at most xferMaxRunning in all, of
// them at most xferMaxDownloads downloads, so neither kind can starve
// the other.
func slotFree(running map[string]*xfer, up bool) bool {
	if len(running) >= xferMaxRunning {
		return false
	}
	if up {
		return true
	}
	downs := 0
	for _, x := range running {
		if !x.up {
			downs++
		}
	}
	return downs < xferMaxDownloads
}

// startTransfer runs t unless it runs already, and returns it; gen is
// transferGen from before t was read. A transfer whose record a hold
// deleted after that read does not start: the xfer returned has ended
// with errXferStale.
func (e *Engine) startTransfer(ctx context.Context, t vault.Transfer, gen uint64) *xfer {
	e.xfers.mu.Lock()
	defer e.xfers.mu.Unlock()
	if e.xfers.m == nil {
		e.xfers.m = map[string]*xfer{}
	}
	if x := e.xfers.m[t.ID]; x != nil {
		return x
	}
	if e.xfers.gen != gen {
		x := &xfer{chat: t.Chat, msg: t.Message, up: t.Up, cancel: func() {}, stop: func(error) {}, done: make(chan struct{}), err: errXferStale, stale: true}
		close(x.done)
		return x
	}
	if e.xfers.held[t.ID] > 0 || e.xfers.held[chatHold(t.Chat)] > 0 {
		x := &xfer{chat: t.Chat, msg: t.Message, up: t.Up, cancel: func() {}, stop: func(error) {}, done: make(chan struct{}), err: errXferGone}
		close(x.done)
		return x
	}
	if e.xfers.closed {
		x := &xfer{chat: t.Chat, msg: t.Message, up: t.Up, cancel: func() {}, stop: func(error) {}, done: make(chan struct{}), err: errEngineClosed}
		close(x.done)
		return x
	}
	xctx, stop := context.WithCancelCause(ctx)
	cancel := func() { stop(errXferStopped) }
	x := &xfer{chat: t.Chat, msg: t.Message, up: t.Up, cancel: cancel, stop: stop, done: make(chan struct{})}
	x.moved.Store(e.now().UnixNano())
	xctx = context.WithValue(xctx, xferKey{}, x)
	e.xfers.m[t.ID] = x
	go func() {
		defer cancel()
		var err error
		if t.Up {
			err = e.upload(xctx, t)
		} else {
			err = e.download(xctx, t)
		}
		cause := context.Cause(xctx)
		if err != nil && !isFailed(err) && errors.Is(cause, errXferStalled) {
			err = errXferStalled // not the context.Canceled of its requests
		}
		closed := errors.Is(cause, errEngineClosed) || errors.Is(cause, errXferStopped)
		x.err = e.transferEnded(ctx, t, err, closed)
		e.xfers.mu.Lock()
		delete(e.xfers.m, t.ID)
		e.xfers.mu.Unlock()
		close(x.done)
		e.kickTransfers() // one waiting may start
	}()
	return x
}

// runningXfer returns the running transfer of a message, or nil.
func (e *Engine) runningXfer(chat, msg string) *xfer {
	e.xfers.mu.Lock()
	defer e.xfers.mu.Unlock()
	return e.xfers.m[transferID(chat, msg)]
}

// holdTransfer stops the running transfer of a message, if any, waits
// for it to end, and keeps it from starting again until release is
// called: what deletes the message calls release once that commits.
func (e *Engine) holdTransfer(chat, msg string) (release func()) {
	id := transferID(chat, msg)
	e.xfers.mu.Lock()
	if e.xfers.held == nil {
		e.xfers.held = map[string]int{}
	}
	e.xfers.held[id]++
	e.xfers.mu.Unlock()
	e.stopTransfer(chat, msg)
	return func() {
		e.xfers.mu.Lock()
		if e.xfers.held[id]--; e.xfers.held[id] <= 0 {
			delete(e.xfers.held, id)
		}
		e.xfers.gen++
		e.xfers.mu.Unlock()
	}
}

// chatHold is the key that holds every transfer of a chat.
func chatHold(chat string) string { return "chat\x00" + chat }

// holdChatTransfers is holdTransfer for every transfer of chat: what
// erases the chat calls release once that is done.
func (e *Engine) holdChatTransfers(chat string) (release func()) {
	id := chatHold(chat)
	e.xfers.mu.Lock()
	if e.xfers.held == nil {
		e.xfers.held = map[string]int{}
	}
	e.xfers.held[id]++
	e.xfers.mu.Unlock()
	e.stopTransfers(chat)
	return func() {
		e.xfers.mu.Lock()
		if e.xfers.held[id]--; e.xfers.held[id] <= 0 {
			delete(e.xfers.held, id)
		}
		e.xfers.gen++
		e.xfers.mu.Unlock()
	}
}

// stopTransfer stops the running transfer of a message, if any, and
// waits for it to end.
func (e *Engine) stopTransfer(chat, msg string) {
	if x := e.runningXfer(chat, msg); x != nil {
		x.cancel()
		<-x.done
	}
}

// cancelUploads cancels the running uploads of chat without waiting.
func (e *Engine) cancelUploads(chat string) {
	e.xfers.mu.Lock()
	defer e.xfers.mu.Unlock()
	for _, x := range e.xfers.m {
		if x.chat == chat && x.up {
			x.cancel()
		}
	}
}

// cancelTransfers cancels the running transfers of chat without waiting.
func (e *Engine) cancelTransfers(chat string) {
	e.xfers.mu.Lock()
	defer e.xfers.mu.Unlock()
	for _, x := range e.xfers.m {
		if x.chat == chat {
			x.cancel()
		}
	}
}

// stopTransfers cancels the running transfers of chat ("" every chat)
// and waits for them to end.
func (e *Engine) stopTransfers(chat string) {
	e.xfers.mu.Lock()
	var xs []*xfer
	for _, x := range e.xfers.m {
		if chat == "" || x.chat == chat {
			x.cancel()
			xs = append(xs, x)
		}
	}
	e.xfers.mu.Unlock()
	for _, x := range xs {
		<-x.done
	}
}

// transferEnded records how a transfer ended: a permanent failure marks
// the file failed and drops its blob; a temporary one backs the record
// off for a later try; one stopped by Engine.Close or by the engine
// itself (closed) records nothing. It returns what WaitTransfer reports.
func (e *Engine) transferEnded(ctx context.Context, t vault.Transfer, err error, closed bool) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errXferGone):
		_ = e.v.Update(context.WithoutCancel(ctx), func(tx *vault.Tx) error {
			m, err := tx.Message(t.Chat, t.Message)
			if err != nil {
				return tx.DeleteTransfer(t.ID)
			}
			// Cancelled: a download's partial blob goes.
			if fm, _ := fileOf(&m); !t.Up && (fm == nil || fm.State != FileReady) {
				if _, ok := findTransfer(tx, t.ID); !ok {
					if err := tx.DeleteFile(t.Chat, t.Message); err != nil && !errors.Is(err, vault.ErrNotFound) {
						return err
					}
				}
			}
			return nil
		})
		return err
	case isFailed(err):
		e.fileFailed(ctx, t, err)
		return err
	case closed || ctx.Err() != nil:
		// Stopped with the engine: resumes next time, and it is no try,
		// error or back-off of the transfer.
		return err
	}
	if errors.Is(err, errRateGiveUp) {
		// A busy relay (or a shared forwarder others keep busy) only
		// delays a transfer: it backs off as after its last try, and is
		// never a try that could fail the file for good.
		t.NextTry = e.now().Add(retryDelay(max(t.Tries, 1)))
		t.Err = "the relay is busy: tried again later"
	} else {
		t.Tries++
		t.NextTry = e.now().Add(retryDelay(t.Tries))
		t.Err = err.Error()
	}
	if t.Tries > xferMaxTries {
		ferr := failedf("%s", strings.TrimPrefix(err.Error(), "client: "))
		e.fileFailed(ctx, t, ferr)
		return ferr
	}
	_ = e.v.Update(context.WithoutCancel(ctx), func(tx *vault.Tx) error {
		if _, err := tx.Message(t.Chat, t.Message); err != nil {
			return err // gone meanwhile: no record comes back
		}
		cur, ok := findTransfer(tx, t.ID)
		if !ok {
			return nil
		}
		cur.Tries, cur.NextTry, cur.Err = t.Tries, t.NextTry, t.Err
		return tx.PutTransfer(cur)
	})
	return err
}

// findTransfer returns the stored transfer record id.
func findTransfer(tx *vault.Tx, id string) (vault.Transfer, bool) {
	ts, err := tx.Transfers()
	if err != nil {
		return vault.Transfer{}, false
	}
	for _, t := range ts {
		if t.ID == id {
			return t, true
		}
	}
	return vault.Transfer{}, false
}

// fileFailed marks a file failed for good: its transfer record and blob
// go, and an upload's chunks on the relay get a cdel task.
func (e *Engine) fileFailed(ctx context.Context, t vault.Transfer, cause error) {
	msg := cause.Error()
	var f *xferFailed
	if errors.As(cause, &f) {
		msg = f.msg
	}
	var ev *Event
	var name string
	// Stored even when ctx ended; the events are given up with it.
	_ = e.v.Update(context.WithoutCancel(ctx), func(tx *vault.Tx) error {
		ev = nil
		m, err := tx.Message(t.Chat, t.Message)
		if err != nil {
			return err
		}
		fm, mm := fileOf(&m)
		if fm == nil {
			return nil
		}
		if err := tx.DeleteTransfer(t.ID); err != nil && !errors.Is(err, vault.ErrNotFound) {
			return err
		}
		if err := tx.DeleteFile(t.Chat, t.Message); err != nil && !errors.Is(err, vault.ErrNotFound) {
			return err
		}
		if t.Up {
			if tk, ok := cdelTask(fm, t.Chat); ok {
				if err := addTasks(tx, tk); err != nil {
					return err
				}
			}
			m.Status = vault.StatusFailed
		}
		fm.State, fm.Err = FileFailed, msg
		setMeta(&m, &mm)
		if err := tx.PutMessage(&m); err != nil {
			return err
		}
		name = fm.Name
		ev = &Event{Type: EventTransfer, Chat: t.Chat, Message: t.Message, Status: FileFailed, Err: msg, Total: fm.Chunks}
		return nil
	})
	if ev != nil {
		e.emit(ctx, *ev)
		e.emit(ctx, Event{Type: EventWarning, Chat: t.Chat, Message: t.Message, Err: "file " + SanitizeLine(name) + ": " + msg})
	}
	e.kickOutbox()
}

// setFileState stores a file's state (and progress) in its message and
// reports it.
func (e *Engine) setFileState(ctx context.Context, chat, msg, state string, done uint32) error {
	var total uint32
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		m, err := tx.Message(chat, msg)
		if errors.Is(err, vault.ErrNotFound) {
			return errXferGone
		}
		if err != nil {
			return err
		}
		fm, mm := fileOf(&m)
		if fm == nil {
			return errXferGone
		}
		fm.State, fm.Done, fm.Err = state, done, ""
		total = fm.Chunks
		setMeta(&m, &mm)
		return tx.PutMessage(&m)
	})
	if err == nil {
		e.emit(ctx, Event{Type: EventTransfer, Chat: chat, Message: msg, Status: state, Done: done, Total: total})
	}
	return err
}

// progress paces a transfer's events and watermark checkpoints. A
// checkpoint (syncing the blob, then storing the watermark) runs beside
// the pipeline, so its disk writes do not stall the chunks; one starts
// every xferCheckpoint/2 positions (or xferCheckEvery), and the pipeline
// waits for it only when the watermark gets xferCheckpoint/2 past the
// one it stores. The stored watermark is thus never more than
// xferCheckpoint behind, as if checkpoints were synchronous every
// xferCheckpoint positions.
type progress struct {
	e         *Engine
	t         vault.Transfer
	state     string
	total     uint32
	size      int64
	start     time.Time
	startDone uint32
	lastEv    time.Time
	lastCheck time.Time
	checked   uint32
	sync      func() error // makes the written chunks durable (a download's blob)
	ckDone    chan error   // the running checkpoint's result; nil when none runs
}

// report emits a transfer event at most every xferEventEvery, and starts
// a checkpoint of the watermark when one is due (the final report waits
// for it); it returns the error of a checkpoint that failed.
func (p *progress) report(ctx context.Context, done, water uint32, final bool) error {
	now := time.Now()
	if final || now.Sub(p.lastEv) >= xferEventEvery {
		p.lastEv = now
		ev := Event{Type: EventTransfer, Chat: p.t.Chat, Message: p.t.Message, Status: p.state, Done: done, Total: p.total}
		ev.Bytes = min(int64(done)*fileChunkPlain, p.size)
		if el := now.Sub(p.start); el > 0 && done > p.startDone {
			ev.Rate = int64(float64(done-p.startDone) * fileChunkPlain / el.Seconds())
		}
		p.e.emit(ctx, ev)
	}
	if p.ckDone != nil {
		if final || water >= p.checked+xferCheckpoint/2 {
			if err := p.wait(); err != nil {
				return err
			}
		} else {
			select {
			case err := <-p.ckDone:
				if p.ckDone = nil; err != nil {
					return err
				}
			default:
				return nil
			}
		}
	}
	if water >= p.checked+xferCheckpoint/2 || (water > p.checked && now.Sub(p.lastCheck) >= xferCheckEvery) {
		p.lastCheck, p.checked = now, water
		p.ckDone = make(chan error, 1)
		go func() { // waited for by wait before the pipeline returns
			p.ckDone <- p.store(context.WithoutCancel(ctx), water)
		}()
		if final {
			return p.wait()
		}
	}
	return nil
}

// store makes what watermark water covers durable and stores it.
func (p *progress) store(ctx context.Context, water uint32) error {
	if p.sync != nil {
		if err := p.sync(); err != nil { // what the watermark covers is on the disk first
			return err
		}
	}
	return p.e.checkpoint(ctx, p.t, water)
}

// wait waits for the running checkpoint, if any, and returns its error.
func (p *progress) wait() error {
	if p.ckDone == nil {
		return nil
	}
	err := <-p.ckDone
	p.ckDone = nil
	return err
}

// checkpoint stores a transfer's watermark, unless the file is gone.
func (e *Engine) checkpoint(ctx context.Context, t vault.Transfer, water uint32) error {
	return e.v.Update(ctx, func(tx *vault.Tx) error {
		cur, ok := findTransfer(tx, t.ID)
		if !ok {
			return errXferGone
		}
		if _, err := tx.Message(t.Chat, t.Message); err != nil {
			return errXferGone
		}
		if water > cur.Done {
			cur.Done = water
		}
		cur.Tries, cur.Err = 0, ""
		return tx.PutTransfer(cur)
	})
}

// watermark tracks which positions of a transfer's order are done; water
// is the contiguous prefix of done positions (spec/client.md §7.8).
type watermark struct {
	done  []bool
	water uint32
	count uint32
}

func newWatermark(n, from uint32) *watermark {
	w := &watermark{done: make([]bool, n), water: from, count: from}
	for i := range from {
		w.done[i] = true
	}
	return w
}

func (w *watermark) mark(pos uint32) {
	if w.done[pos] {
		return
	}
	w.done[pos] = true
	w.count++
	for w.water < uint32(len(w.done)) && w.done[w.water] {
		w.water++
	}
}
