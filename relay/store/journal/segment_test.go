package journal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"veil/relay/store"
)

func openDir(t *testing.T, dir string) *Journal {
	t.Helper()
	j, err := Open(dir, Options{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// TestJournalBadSegments checks what Open does with segment files it did
// not finish: the newest cut off inside its header (a crash while it was
// created) and any marked dead (header number 0: retired, or cut off
// while being recycled) are removed; a short header on an older segment,
// a header naming another segment and a file that is no segment at all
// are errors, not silently deleted.
func TestJournalBadSegments(t *testing.T) {
	jdir := t.TempDir()
	openDir(t, jdir).Close()
	write := func(n uint32, b []byte) string {
		t.Helper()
		p := filepath.Join(jdir, segName(n))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	header := func(n byte) []byte { return append([]byte(segMagic), 0, 0, 0, 0, 0, 0, 0, n) }
	dead := write(100, header(0))
	short := write(101, []byte(segMagic[:5]))
	openDir(t, jdir).Close()
	for _, p := range []string{short, dead} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: still there (%v)", filepath.Base(p), err)
		}
	}
	for _, bad := range [][]byte{header(7), []byte(segMagic[:5]), []byte("not a journal segment at all")} {
		p := write(1, bad) // older than the segments the opens above made
		if _, err := Open(jdir, Options{}, time.Now()); err == nil || !strings.Contains(err.Error(), "bad header") {
			t.Fatalf("Open with segment %q: %v", bad, err)
		}
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("the bad segment was removed: %v", err)
		}
		os.Remove(p)
	}
}

// TestJournalHeadGrowsWhileNextIsMade: a full head whose successor is
// still being made (zeroes written with pauses) takes the next groups
// past its size instead of waiting; the new segment follows once it is
// ready, and every chunk of both is there after a reopen.
func TestJournalHeadGrowsWhileNextIsMade(t *testing.T) {
	jdir := t.TempDir()
	j, err := Open(jdir, Options{MinSegment: 1 << 20, MaxSegment: 64 << 20}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// A successor of 64 MiB: at least 640 ms of pauses unless hurried.
	j.discardNext()
	j.want = 32 << 20
	j.prepare(j.head().num + 1)
	first := j.head().num
	exp := uint64(time.Now().Add(time.Hour).Unix())
	var ids []store.ID
	put := func(k int) {
		t.Helper()
		for range k {
			var id store.ID
			id[0], id[1] = byte(len(ids)>>8), byte(len(ids))
			j.AppendChunk(id, &store.Chunk{Body: bytes.Repeat([]byte{byte(len(ids))}, 16000)}, exp)
			ids = append(ids, id)
		}
		if err := j.Commit(); err != nil {
			t.Fatal(err)
		}
		j.Publish(nil)
	}
	put(80) // 1.28 MB: past the 1 MiB head
	j.Rotate()
	if h := j.head(); h.num != first || h.size <= h.cap {
		t.Fatalf("head %d of %d bytes (cap %d): want the first head grown past its size", h.num, h.size, h.cap)
	}
	put(10)
	deadline := time.Now().Add(30 * time.Second)
	for j.head().num == first {
		if time.Now().After(deadline) {
			t.Fatal("the next segment never came")
		}
		time.Sleep(5 * time.Millisecond)
		j.Rotate()
	}
	put(10)
	j.Close()
	j = openDir(t, jdir)
	defer j.Close()
	for k, id := range ids {
		c, err := j.GetChunk(id, time.Now())
		if err != nil || len(c.Body) != 16000 || c.Body[0] != byte(k) {
			t.Fatalf("chunk %d after reopen: %d bytes, %v", k, len(c.Body), err)
		}
	}
}
