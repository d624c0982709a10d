package client

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"veil/crypto"
	"veil/vault"
)

// The local passes over a whole blob: sealing a file into it (SendFile)
// and verifying a download. Both hash the plaintext in order in the
// calling goroutine while blobWorkers others seal or open chunks, so a
// pass uses every core; at most blobWindow chunks are in memory at once,
// whatever the file's size.

// Tuning of the passes (not protocol).
const (
	blobWindow    = 32  // chunks a pass holds in memory
	blobSyncEvery = 512 // chunks sealed between two syncs in the background (8 MB)
)

// blobWorkers is how many goroutines seal or open a pass's chunks.
func blobWorkers() int { return max(1, min(runtime.GOMAXPROCS(0), 8)) }

var errFileChanged = errors.New("client: the file changed while it was read")

// sealInto reads size bytes of r into blob, chunk by chunk sealed under
// lk, the last chunk padded with zeros, and returns their SHA-256.
func sealInto(blob *vault.Blob, r io.Reader, lk *crypto.LocalFileKey, n uint32, size int64, ad []byte) ([]byte, error) {
	type job struct {
		i  uint32
		pt []byte
	}
	free := make(chan []byte, blobWindow)
	for range blobWindow {
		free <- make([]byte, fileChunkPlain)
	}
	jobs := make(chan job, blobWindow)
	stop := make(chan struct{})
	var once sync.Once
	var werr error
	fail := func(err error) { once.Do(func() { werr = err; close(stop) }) }
	var wg sync.WaitGroup
	for range blobWorkers() {
		wg.Go(func() {
			ct := make([]byte, 0, crypto.FileChunkSize)
			for j := range jobs {
				select {
				case <-stop:
				default:
					ct = crypto.SealLocalChunk(lk, ct[:0], j.i, n, j.pt, ad)
					if err := blob.WriteChunk(j.i, ct); err != nil {
						fail(err)
					}
				}
				free <- j.pt
			}
		})
	}
	// The disk writes the blob while it is sealed: a sync every
	// blobSyncEvery chunks, beside the pass, leaves little for the last.
	kick := make(chan struct{}, 1)
	wg.Go(func() {
		for range kick {
			if err := blob.Sync(); err != nil {
				fail(err) // a later sync may not report it again
			}
		}
	})
	h := crypto.NewFileHash()
	rerr := func() error {
		defer close(kick)
		defer close(jobs)
		left := size
		for i := range n {
			if i%blobSyncEvery == blobSyncEvery-1 {
				select {
				case kick <- struct{}{}:
				default:
				}
			}
			var pt []byte
			select {
			case pt = <-free:
			case <-stop:
				return nil
			}
			clear(pt)
			if want := min(left, fileChunkPlain); want > 0 {
				if _, err := io.ReadFull(r, pt[:want]); err != nil {
					free <- pt
					return errFileChanged
				}
				h.Write(pt[:want])
				left -= want
			}
			jobs <- job{i: i, pt: pt}
		}
		return nil
	}()
	wg.Wait()
	close(free)
	for pt := range free {
		clear(pt)
	}
	if rerr != nil {
		return nil, rerr
	}
	if werr != nil {
		return nil, werr
	}
	var one [1]byte
	if k, _ := r.Read(one[:]); k > 0 {
		return nil, errFileChanged
	}
	if err := blob.Sync(); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// verifyBlob decrypts a downloaded blob and checks it against its
// descriptor: the bytes past size are zero and the SHA-256 of the first
// size bytes is the descriptor's. Workers read and open chunks ahead;
// chunk i's result is in slot i mod blobWindow, which is free again once
// chunk i−blobWindow is hashed.
func verifyBlob(b *vault.Blob, lk *crypto.LocalFileKey, n uint32, size int64, want []byte, ad []byte) error {
	type slot struct {
		buf  []byte
		pt   []byte
		err  error
		done chan struct{}
	}
	ring := make([]slot, blobWindow)
	free := make(chan struct{}, blobWindow)
	for k := range ring {
		ring[k] = slot{buf: make([]byte, 0, crypto.FileChunkSize), done: make(chan struct{}, 1)}
		free <- struct{}{}
	}
	jobs := make(chan uint32, blobWindow)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(jobs)
		for i := range n {
			select {
			case <-free:
			case <-stop:
				return
			}
			jobs <- i
		}
	})
	for range blobWorkers() {
		wg.Go(func() {
			for i := range jobs {
				s := &ring[i%blobWindow]
				ct, err := b.ReadChunk(i, s.buf[:0])
				if err == nil {
					s.buf = ct
					if s.pt, err = crypto.OpenLocalChunk(lk, ct[:0], i, n, ct, ad); err != nil {
						err = &xferFailed{msg: fmt.Sprintf("its local copy is damaged (chunk %d of %d)", i+1, n), local: true}
					}
				}
				s.err = err
				s.done <- struct{}{}
			}
		})
	}
	err := hashInOrder(n, size, want, func(i uint32) ([]byte, error) {
		s := &ring[i%blobWindow]
		<-s.done
		return s.pt, s.err
	}, func() { free <- struct{}{} })
	close(stop)
	wg.Wait()
	for k := range ring {
		clear(ring[k].buf[:cap(ring[k].buf)])
	}
	return err
}

// hashInOrder hashes the n chunks next returns, in order, checking the
// size and zero padding and the SHA-256 against want; release is called
// after each chunk is done with.
func hashInOrder(n uint32, size int64, want []byte, next func(i uint32) ([]byte, error), release func()) error {
	h := crypto.NewFileHash()
	left := size
	for i := range n {
		pt, err := next(i)
		if err != nil {
			return err
		}
		take := min(int64(len(pt)), max(left, 0))
		h.Write(pt[:take])
		left -= take
		for _, c := range pt[take:] {
			if c != 0 {
				return failedf("its size does not match its chunks")
			}
		}
		release()
	}
	if left > 0 {
		return failedf("its size does not match its chunks")
	}
	if subtle.ConstantTimeCompare(h.Sum(nil), want) != 1 {
		return failedf("hash mismatch: the file is not the one its sender described")
	}
	return nil
}
