package client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"veil/crypto"
	"veil/relay/wire"
	"veil/vault"
)

// fileJob is what a transfer reads of its message before it starts.
type fileJob struct {
	t     vault.Transfer
	fm    fileMeta
	blob  string // the blob's name; "" when a download has none yet
	group bool
	relay string // where the chunks are
}

// loadJob reads what transfer t needs; errXferGone when the message is.
func (e *Engine) loadJob(ctx context.Context, t vault.Transfer) (*fileJob, error) {
	j := &fileJob{t: t}
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		m, err := tx.Message(t.Chat, t.Message)
		if errors.Is(err, vault.ErrNotFound) {
			return errXferGone
		}
		if err != nil {
			return err
		}
		fm, _ := fileOf(&m)
		if fm == nil || len(fm.Secret) == 0 {
			return errXferGone
		}
		j.fm = *fm
		if fr, err := tx.GetFile(t.Chat, t.Message); err == nil {
			j.blob = fr.Blob
		} else if !errors.Is(err, vault.ErrNotFound) {
			return err
		}
		c, err := tx.Chat(t.Chat)
		if err != nil {
			return errXferGone
		}
		j.group = c.Kind == vault.ChatGroup
		if t.Up {
			j.relay = fm.Relay
			return nil
		}
		j.relay, err = fetchRelay(tx, &c, fm.Slot)
		return err
	})
	if err != nil {
		return nil, err
	}
	if j.relay == "" {
		return nil, failedf("no relay of slot %d to fetch from", j.fm.Slot)
	}
	return j, nil
}

// upload sends a stored file's chunks (spec/client.md §7.8): CROOM
// first, so a full relay fails before any CPUT, then every chunk in the
// file's order, xferInFlight at a time, checkpointing a watermark; then
// the descriptor is queued as the message.
func (e *Engine) upload(ctx context.Context, t vault.Transfer) error {
	e.xferMoved(ctx, false)
	j, err := e.loadJob(ctx, t)
	if err != nil {
		return err
	}
	s, ok := j.fm.secret()
	lk, ok2 := j.fm.localKey()
	if !ok || !ok2 || j.blob == "" {
		return failedf("its keys are missing")
	}
	defer s.Wipe()
	defer lk.Wipe()
	keys := crypto.NewFileKeys(&s)
	defer keys.Wipe()
	n := j.fm.Chunks
	life := chunkLife(time.Unix(j.fm.Expires, 0).Sub(e.now()))
	if j.fm.Expires != 0 && !e.now().Before(time.Unix(j.fm.Expires, 0)) {
		return failedf("its relay deadline passed before the upload ended")
	}
	if err := e.setFileState(ctx, t.Chat, t.Message, FileUploading, t.Done); err != nil {
		return err
	}
	xc, err := e.xferConn(ctx, j.relay, t.Chat)
	if err != nil {
		return err
	}
	defer xc.dropStalled(ctx)
	if t.Done == 0 {
		if err := xc.room(ctx, n, life); err != nil {
			return chunkErr(xc, err, "")
		}
	}
	blob, err := e.v.OpenBlob(j.blob)
	if err != nil {
		return failedf("its local copy is gone")
	}
	defer blob.Close()
	order := keys.Order(n)
	ad := blobAD(t.Chat, t.Message)
	dh := keys.DeleteRoot()
	err = e.pipeline(ctx, &j.t, n, j.fm.Size, FileUploading, nil, func(ctx context.Context, pos uint32, buf []byte) error {
		i := order[pos]
		ct, err := blob.ReadChunk(i, buf[:0])
		if err != nil {
			return err
		}
		pt, err := crypto.OpenLocalChunk(&lk, ct[:0], i, n, ct, ad)
		if err != nil {
			return failedf("its local copy is damaged (chunk %d of %d)", i+1, n)
		}
		// Sealed in place: the command is encoded before put returns.
		body := keys.SealChunk(pt[:0], i, n, pt)
		rc := keys.ReadCap(i)
		dc := crypto.FileDeleteCap(&dh, i)
		err = xc.put(ctx, keys.ChunkID(i), crypto.CapHash(&rc), crypto.CapHash(&dc), life, body)
		if wire.IsCode(err, wire.CodeExists) {
			return nil // stored by an earlier try whose reply was lost
		}
		return chunkErr(xc, err, "")
	})
	if err != nil {
		return err
	}
	return e.uploaded(ctx, j)
}

// chunkErr turns a relay's answer to a chunk command into the transfer's
// error: permanent answers fail the file, a dropped connection is closed
// for the next try. what names the chunk for a download's messages.
func chunkErr(xc *xferConn, err error, what string) error {
	switch {
	case err == nil:
		return nil
	case wire.IsCode(err, wire.CodeStorageFull):
		return failedf("relay full: %s has no room for this file", shortRelay(xc.addr))
	case wire.IsCode(err, wire.CodeUnknown):
		return failedf("%s does not store files", shortRelay(xc.addr))
	case wire.IsCode(err, wire.CodeBadSize):
		return failedf("%s refused the file's size or lifetime", shortRelay(xc.addr))
	case wire.IsCode(err, wire.CodePassword):
		return failedf("%s needs a password to store files, and veil holds none that works for it: veil relay add ADDRESS --password-file FILE (ask its operator or your contact)", shortRelay(xc.addr))
	case wire.IsCode(err, wire.CodeAuth), wire.IsCode(err, wire.CodeNotFound):
		if what != "" {
			return failedf("%s is missing on the relay (expired or deleted)", what)
		}
		return failedf("%s refused the file", shortRelay(xc.addr))
	case isConnErr(err):
		xc.drop()
	}
	return err
}

// pipeline runs step for every position of a transfer's order from its
// watermark on, xferInFlight at a time, reporting progress and storing
// the watermark as it goes; durable, when set, makes what the watermark
// covers durable before each checkpoint. A step the relay answers RATE
// is tried again after a pause that every worker keeps (ratePause); the
// first other error stops it.
func (e *Engine) pipeline(ctx context.Context, t *vault.Transfer, n uint32, size int64, state string, durable func() error,
	step func(ctx context.Context, pos uint32, buf []byte) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wm := newWatermark(n, min(t.Done, n))
	// checked starts at the stored watermark: only a watermark past it is
	// progress to store (a checkpoint clears the record's tries and error).
	p := &progress{e: e, t: *t, state: state, total: n, size: size, start: time.Now(), startDone: wm.count, checked: wm.water, sync: durable}
	var mu sync.Mutex
	var first error
	positions := make(chan uint32)
	acked := make(chan uint32, xferInFlight)
	// Positions are handed out at most xferInFlight past the watermark, so
	// one slow chunk cannot let the others run ahead: a kill repeats at
	// most a checkpoint interval plus that window.
	var water atomic.Uint32
	water.Store(wm.water)
	moved := make(chan struct{}, 1)
	var pace ratePause
	var wg sync.WaitGroup
	workers := int(min(uint32(xferInFlight), max(n-wm.water, 1)))
	for range workers {
		wg.Go(func() {
			buf := make([]byte, 0, crypto.FileChunkSize)
			for pos := range positions {
				if err := pace.run(ctx, func() error { return step(ctx, pos, buf) }); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
					continue
				}
				select {
				case acked <- pos:
				case <-ctx.Done():
				}
			}
		})
	}
	go func() {
		defer close(positions)
		for pos := wm.water; pos < n; pos++ {
			for pos >= water.Load()+xferInFlight {
				select {
				case <-moved:
				case <-ctx.Done():
					return
				}
			}
			select {
			case positions <- pos:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(acked) }()
	var cerr error
	for pos := range acked {
		e.xferMoved(ctx, false)
		wm.mark(pos)
		water.Store(wm.water)
		select {
		case moved <- struct{}{}:
		default:
		}
		if cerr == nil {
			if cerr = p.report(ctx, wm.count, wm.water, false); cerr != nil {
				cancel()
			}
		}
	}
	if werr := p.wait(); cerr == nil {
		cerr = werr
	}
	mu.Lock()
	err := first
	mu.Unlock()
	if err == nil {
		err = cerr
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		if wm.water > t.Done && !errors.Is(err, errXferGone) && (durable == nil || durable() == nil) {
			_ = e.checkpoint(context.WithoutCancel(ctx), *t, wm.water)
		}
		return err
	}
	t.Done = n
	e.xferMoved(ctx, true) // every chunk is done: what follows is local
	return p.report(ctx, n, n, true)
}

// Pauses after a RATE answer (not protocol): the relay refuses chunk
// commands over its rate at once, so the pipeline backs off and tries the
// same step again rather than failing the transfer.
// A transfer whose commands stay RATE for xferRateMaxPauses pauses in a
// row (about 3 s without one command taken) ends with an ordinary error:
// it counts a try and backs off, so a relay that answers RATE to
// everything cannot hold a transfer slot for ever.
const (
	xferRatePause     = 20 * time.Millisecond
	xferRatePauseMax  = time.Second
	xferRateMaxPauses = 8
)

// errRateGiveUp ends a transfer whose relay kept answering RATE.
var errRateGiveUp = errors.New("client: the relay kept refusing chunk commands over its rate")

// ratePause holds a pipeline's workers back after a RATE answer: every
// worker waits until the pause ends before its next command, and the
// pause doubles while answers stay RATE, up to xferRatePauseMax.
type ratePause struct {
	mu     sync.Mutex
	until  time.Time
	pause  time.Duration
	pauses int // pauses in a row without a command taken
}

// run calls step, again after a pause for as long as it fails with RATE.
func (r *ratePause) run(ctx context.Context, step func() error) error {
	for {
		if err := r.wait(ctx); err != nil {
			return err
		}
		err := step()
		if !wire.IsCode(err, wire.CodeRate) {
			if err == nil {
				r.ok()
			}
			return err
		}
		if r.limited() {
			return errRateGiveUp
		}
	}
}

func (r *ratePause) wait(ctx context.Context) error {
	r.mu.Lock()
	d := time.Until(r.until)
	r.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// limited starts (or lengthens) the pause after a RATE answer; it
// reports whether the transfer should give up instead.
func (r *ratePause) limited() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pauses >= xferRateMaxPauses {
		return true
	}
	now := time.Now()
	if now.Before(r.until) {
		return false // a pause already running covers this answer
	}
	r.pauses++
	r.pause = min(max(2*r.pause, xferRatePause), xferRatePauseMax)
	r.until = now.Add(r.pause)
	return false
}

// ok shortens the pause after a command the relay took.
func (r *ratePause) ok() {
	r.mu.Lock()
	r.pauses = 0
	if r.pause > 0 && time.Now().After(r.until) {
		r.pause /= 2
		if r.pause < xferRatePause {
			r.pause = 0
		}
	}
	r.mu.Unlock()
}
