package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
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
// one connection, window of them in flight; then every file is
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
	eachFile(fs, func(lf *loadFile) { uploadFile(ctx, lf, life, cfg.window, &errs) })
	up := time.Since(start)
	res.Uploaded = res.Chunks - int64(errs.n)
	start = time.Now()
	eachFile(fs, func(lf *loadFile) { downloadFile(ctx, lf, cfg.window, &errs, &res.Corrupt) })
	down := time.Since(start)
	eachFile(fs, func(lf *loadFile) { deleteFile(ctx, lf, &errs) })
	stopRSS()
	res.RelayRSSPeak = rss.peak()

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

func uploadFile(ctx context.Context, lf *loadFile, life time.Duration, window int, errs *errCount) {
	if err := lf.up.ChunkRoom(ctx, uint32(len(lf.chunks)), life); err != nil {
		errs.add(fmt.Errorf("CROOM: %w", err))
		return
	}
	sem := make(chan struct{}, window)
	var wg sync.WaitGroup
	buf := make([]byte, wire.ChunkSize)
	for i := range lf.chunks {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		c := &lf.chunks[i]
		wg.Add(1)
		lf.up.PutChunkAsync(c.id, crypto.Hash(c.read[:]), crypto.Hash(c.del[:]), life, chunkBody(buf, lf.n, i), func(err error) {
			if err != nil {
				errs.add(fmt.Errorf("CPUT: %w", err))
			}
			<-sem
			wg.Done()
		})
	}
	wg.Wait()
}

func downloadFile(ctx context.Context, lf *loadFile, window int, errs *errCount, corrupt *int64) {
	sem := make(chan struct{}, window)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range lf.chunks {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		lf.dn.GetChunkAsync(lf.chunks[i].id, lf.chunks[i].read, func(b []byte, err error) {
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
	wg.Wait()
}

func deleteFile(ctx context.Context, lf *loadFile, errs *errCount) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range lf.chunks {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := lf.dn.DeleteChunk(ctx, lf.chunks[i].id, lf.chunks[i].del); err != nil && ctx.Err() == nil {
				errs.add(fmt.Errorf("CDEL: %w", err))
			}
		}()
	}
	wg.Wait()
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
