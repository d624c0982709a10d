package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
)

// fileChunk is one chunk of a files-mode file: its ID and capabilities.
type fileChunk struct {
	id        crypto.ID
	read, del [32]byte
}

// loadFile is one files-mode file: its chunks, and the connections that
// upload and download it.
type loadFile struct {
	n      int
	chunks []fileChunk
	up, dn *conn.Conn
}

// chunkBody returns the body of chunk i of file f: recognisable, so a
// download can be checked, and cheap to make.
func chunkBody(buf []byte, f, i int) []byte {
	buf = buf[:wire.ChunkSize]
	for k := range buf {
		buf[k] = byte(f + k)
	}
	binary.BigEndian.PutUint32(buf, uint32(f))
	binary.BigEndian.PutUint32(buf[4:], uint32(i))
	return buf
}

// runFiles is files mode: files files of size bytes each, cut into
// chunks of wire.ChunkSize (spec/relay.md §7.7), spread over the
// connections. Each file is checked with CROOM and uploaded by CPUTs on
// one connection, window of them in flight (a command answered RATE is
// sent again after a pause, rateHold); then every file is
// downloaded by CGETs on the next connection and checked; then deleted by
// CDELs. It reports the upload and download rates and, with pid, the
// relay's resident memory before, at its peak and after.
func runFiles(ctx context.Context, cfg config, files int, size int64, life time.Duration, pid int) (Result, error) {
	res := Result{Mode: "files", Conns: cfg.conns, Files: files, FileSize: size}
	per := int((size + wire.ChunkSize - 1) / wire.ChunkSize)
	res.Chunks = int64(per) * int64(files)
	conns, err := dialAll(ctx, cfg.relay, cfg.conns, 64, nil)
	if err != nil {
		return res, err
	}
	defer closeAll(conns)
	fs := make([]*loadFile, files)
	for f := range fs {
		lf := &loadFile{n: f, chunks: make([]fileChunk, per), up: conns[f%len(conns)], dn: conns[(f+1)%len(conns)]}
		for i := range lf.chunks {
			c := &lf.chunks[i]
			if err := errors.Join(crypto.RandomBytes(nil, c.id[:]), crypto.RandomBytes(nil, c.read[:]), crypto.RandomBytes(nil, c.del[:])); err != nil {
				return res, err
			}
		}
		fs[f] = lf
	}
	var rss rssSampler
	stopRSS := func() {}
	if pid > 0 {
		if res.RelayRSSBefore, err = rssKiB(pid); err != nil {
			return res, err
		}
		stopRSS = rss.start(pid)
	}
	var errs errCount
	total := float64(res.Chunks * wire.ChunkSize)

	start := time.Now()
	var retried atomic.Int64
	eachFile(fs, func(lf *loadFile) { uploadFile(ctx, lf, life, cfg.window, &errs, &retried) })
	up := time.Since(start)
	res.Uploaded = res.Chunks - int64(errs.n)
	start = time.Now()
	eachFile(fs, func(lf *loadFile) { downloadFile(ctx, lf, cfg.window, &errs, &res.Corrupt, &retried) })
	down := time.Since(start)
	eachFile(fs, func(lf *loadFile) { deleteFile(ctx, lf, &errs, &retried) })
	stopRSS()
	res.RelayRSSPeak = rss.peak()

	res.RateRetries = retried.Load()
	res.ElapsedSec = (up + down).Seconds()
	res.UploadMBps = total / up.Seconds() / 1e6
	res.DownloadMBps = total / down.Seconds() / 1e6
	if pid > 0 {
		if res.RelayRSSAfter, err = rssKiB(pid); err != nil {
			return res, err
		}
	}
	res.Errors, res.FirstError = errs.get()
	return res, ctx.Err()
}

// eachFile runs fn for every file, the files of one connection one after
// another and the connections in parallel.
func eachFile(fs []*loadFile, fn func(*loadFile)) {
	byConn := map[*conn.Conn][]*loadFile{}
	for _, lf := range fs {
		byConn[lf.up] = append(byConn[lf.up], lf)
	}
	var wg sync.WaitGroup
	for _, list := range byConn {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, lf := range list {
				fn(lf)
			}
		}()
	}
	wg.Wait()
}

func uploadFile(ctx context.Context, lf *loadFile, life time.Duration, window int, errs *errCount, retried *atomic.Int64) {
	if err := lf.up.ChunkRoom(ctx, uint32(len(lf.chunks)), life); err != nil {
		errs.add(fmt.Errorf("CROOM: %w", err))
		return
	}
	sem := make(chan struct{}, window)
	var wg sync.WaitGroup
	var hold rateHold
	buf := make([]byte, wire.ChunkSize)
	var put func(i int, body []byte)
	put = func(i int, body []byte) {
		c := &lf.chunks[i]
		lf.up.PutChunkAsync(c.id, crypto.Hash(c.read[:]), crypto.Hash(c.del[:]), life, body, func(err error) {
			if hold.again(ctx, err, retried, func() { put(i, chunkBody(make([]byte, wire.ChunkSize), lf.n, i)) }) {
				return
			}
			if err != nil {
				errs.add(fmt.Errorf("CPUT: %w", err))
			}
			<-sem
			wg.Done()
		})
	}
	for i := range lf.chunks {
		if !hold.wait(ctx) {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		put(i, chunkBody(buf, lf.n, i))
	}
	wg.Wait()
}

func downloadFile(ctx context.Context, lf *loadFile, window int, errs *errCount, corrupt *int64, retried *atomic.Int64) {
	sem := make(chan struct{}, window)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var hold rateHold
	var get func(i int)
	get = func(i int) {
		lf.dn.GetChunkAsync(lf.chunks[i].id, lf.chunks[i].read, func(b []byte, err error) {
			if hold.again(ctx, err, retried, func() { get(i) }) {
				return
			}
			defer wg.Done()
			defer func() { <-sem }()
			if err != nil {
				errs.add(fmt.Errorf("CGET: %w", err))
				return
			}
			if !bytes.Equal(b, chunkBody(make([]byte, wire.ChunkSize), lf.n, i)) {
				mu.Lock()
				*corrupt++
				mu.Unlock()
			}
		})
	}
	for i := range lf.chunks {
		if !hold.wait(ctx) {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		get(i)
	}
	wg.Wait()
}

func deleteFile(ctx context.Context, lf *loadFile, errs *errCount, retried *atomic.Int64) {
	var wg sync.WaitGroup
	var hold rateHold
	sem := make(chan struct{}, 64)
	for i := range lf.chunks {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			for hold.wait(ctx) {
				err := lf.dn.DeleteChunk(ctx, lf.chunks[i].id, lf.chunks[i].del)
				if hold.again(ctx, err, retried, nil) {
					continue
				}
				if err != nil && ctx.Err() == nil {
					errs.add(fmt.Errorf("CDEL: %w", err))
				}
				return
			}
		}()
	}
	wg.Wait()
}

// rateHold paces one file's commands under the relay's chunk rate: a
// RATE answer starts a pause (20 ms, doubling while RATE answers go on,
// at most 1 s) during which no new command is sent, and the refused
// command is sent again after it.
type rateHold struct {
	mu    sync.Mutex
	until time.Time
	pause time.Duration
}

// again reports whether err is RATE (and ctx has not ended); then it
// starts or keeps the pause, and retry, when not nil, runs after it.
func (h *rateHold) again(ctx context.Context, err error, retried *atomic.Int64, retry func()) bool {
	if !wire.IsCode(err, wire.CodeRate) || ctx.Err() != nil {
		if err == nil {
			h.ok()
		}
		return false
	}
	retried.Add(1)
	h.mu.Lock()
	now := time.Now()
	if !now.Before(h.until) {
		h.pause = min(max(2*h.pause, 20*time.Millisecond), time.Second)
		h.until = now.Add(h.pause)
	}
	d := time.Until(h.until)
	h.mu.Unlock()
	if retry != nil {
		time.AfterFunc(d, retry)
	}
	return true
}

// ok shortens the pause after a command the relay took.
func (h *rateHold) ok() {
	h.mu.Lock()
	if h.pause > 0 && time.Now().After(h.until) {
		if h.pause /= 2; h.pause < 20*time.Millisecond {
			h.pause = 0
		}
	}
	h.mu.Unlock()
}

// wait blocks while a pause runs; false when ctx ends first.
func (h *rateHold) wait(ctx context.Context) bool {
	h.mu.Lock()
	d := time.Until(h.until)
	h.mu.Unlock()
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// rssSampler records the highest resident memory of a process.
type rssSampler struct {
	mu  sync.Mutex
	max int64
}

// start samples pid every 100 ms until the returned function is called.
func (r *rssSampler) start(pid int) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if v, err := rssKiB(pid); err == nil {
				r.mu.Lock()
				r.max = max(r.max, v)
				r.mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

func (r *rssSampler) peak() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.max
}
