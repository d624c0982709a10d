package journal

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"veil/relay/store"
)

// newHead seals the head (if any) and starts segment n, the one prepared
// in the background when it is ready.
func (j *Journal) newHead(n uint32) error {
	var p prepared
	if j.next != nil && j.nextNum == n {
		p = <-j.next
		j.next = nil
	} else {
		p.f, p.err = createSegment(j.dir, n, j.grow(), 0, nil, nil)
		p.cap = j.want
	}
	if p.err != nil {
		return p.err
	}
	f := p.f
	j.mu.Lock()
	if h := j.head(); h != nil {
		j.sealed += h.size
		j.live += h.live
		j.chunkDead += h.deadChunks
	}
	j.segs = append(j.segs, &segment{num: n, f: f, cap: p.cap, size: int64(segHeader)})
	j.mu.Unlock()
	j.prepare(n + 1)
	return nil
}

// prepared is a segment created in the background.
type prepared struct {
	f   *os.File
	cap int64
	err error
}

// grow returns the size of the next new segment.
func (j *Journal) grow() int64 {
	j.want = min(j.maxSeg, max(j.minSeg, 2*j.want))
	return j.want
}

// prepare starts making segment n in the background: a recycled spare
// when there is one, otherwise a new file.
func (j *Journal) prepare(n uint32) {
	ch := make(chan prepared, 1)
	j.next, j.nextNum, j.hurry = ch, n, nil
	for len(j.spares) > 0 {
		sp := j.spares[len(j.spares)-1]
		j.spares = j.spares[:len(j.spares)-1]
		if sp.cap < j.want {
			retire(j.dir, sp) // from before the segments grew
			continue
		}
		go func() {
			f, err := recycleSegment(j.dir, sp, n)
			ch <- prepared{f, sp.cap, err}
		}()
		return
	}
	size, quit, hurry := j.grow(), j.quit, make(chan struct{})
	j.hurry = hurry
	go func() {
		f, err := createSegment(j.dir, n, size, zeroPace, quit, hurry)
		ch <- prepared{f, size, err}
	}()
}

// retire closes and deletes a segment that is no longer needed.
func retire(dir string, s *segment) error {
	s.f.Close()
	return os.Remove(filepath.Join(dir, segName(s.num)))
}

// zeroPace is the pause after each MiB of zeroes a new segment gets in
// the background, so that the writer's syncs do not queue behind them.
const zeroPace = 10 * time.Millisecond

// maxSpares bounds the dead segments kept for reuse.
const maxSpares = 2

// recycleSegment makes the dead segment sp (header number 0: markDead)
// segment n: renamed first, then given its header, so that a crash in
// between leaves a dead segment, which replay removes. Its old records
// stay after the header; their checksums hold the old number, so replay
// ends where the new records do.
func recycleSegment(dir string, sp *segment, n uint32) (*os.File, error) {
	from, to := filepath.Join(dir, segName(sp.num)), filepath.Join(dir, segName(n))
	err := os.Rename(from, to)
	if err == nil {
		err = syncDir(dir)
	}
	if err == nil {
		err = writeHeader(sp.f, n)
	}
	if err != nil {
		sp.f.Close()
		os.Remove(from)
		os.Remove(to)
		return nil, fmt.Errorf("journal: %w", err)
	}
	return sp.f, nil
}

// writeHeader writes and syncs segment n's header to f; n = 0 marks a
// retired segment.
func writeHeader(f *os.File, n uint32) error {
	hdr := make([]byte, 0, segHeader)
	hdr = append(hdr, segMagic...)
	hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	if _, err := f.WriteAt(hdr, 0); err != nil {
		return err
	}
	return datasync(f)
}

// discardNext waits for the segment being prepared and removes it.
func (j *Journal) discardNext() {
	if j.next == nil {
		return
	}
	p := <-j.next
	j.next = nil
	if p.err == nil {
		p.f.Close()
		os.Remove(filepath.Join(j.dir, segName(j.nextNum)))
	}
}

// createSegment creates segment n: its header, then zeroes up to size
// (pausing pace after each MiB, synced, until hurry is closed, and
// giving up when quit is closed), all synced with the directory entry. Appending to written
// blocks lets each group's fdatasync flush data only; appending to a
// growing file would also commit the filesystem's metadata every time
// (measured: twice the median sync time and a long tail). Replay reads
// zeroes as the end of the records.
func createSegment(dir string, n uint32, size int64, pace time.Duration, quit, hurry <-chan struct{}) (*os.File, error) {
	path := filepath.Join(dir, segName(n))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	buf := make([]byte, 1<<20)
	copy(buf, segMagic)
	binary.BigEndian.PutUint64(buf[len(segMagic):], uint64(n))
	for off := int64(0); off < size && err == nil; off += int64(len(buf)) {
		_, err = f.WriteAt(buf[:min(int64(len(buf)), size-off)], off)
		clear(buf[:segHeader])
		if pace > 0 && err == nil {
			err = datasync(f)
			select {
			case <-quit:
				err = store.ErrClosed
			case <-hurry:
				pace = 0 // the head is full: the rest at once
			case <-time.After(pace):
			}
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(dir) // the new name survives a power loss
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("journal: %w", err)
	}
	return f, nil
}

// Recount sets the sealed and live totals after replay and the orphan
// check.
func (j *Journal) Recount() {
	j.sealed, j.live, j.chunkDead = 0, 0, 0
	for _, s := range j.segs[:len(j.segs)-1] {
		j.sealed += s.size
		j.live += s.live
		j.chunkDead += s.deadChunks
	}
}

// Close closes every segment and removes the spares and the one
// prepared but unused.
func (j *Journal) Close() {
	close(j.quit)
	j.discardNext()
	for _, s := range j.spares {
		retire(j.dir, s)
	}
	j.spares = nil
	for _, s := range j.segs {
		s.f.Close()
	}
}
