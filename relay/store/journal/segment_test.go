package journal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
