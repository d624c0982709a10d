package vault

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// tornVault makes a vault whose newest value log was not closed (as a
// kill leaves it: at the size Badger preallocates, zeros past its data)
// and returns the profile directory and that log's path.
func tornVault(t *testing.T) (string, string) {
	t.Helper()
	dir := writeGolden(t, goldenVault(t))
	p := filepath.Join(dir, dataDirName, badgerDirName, "000001.vlog")
	if err := os.Truncate(p, 2*defaultVlogFileSize); err != nil {
		t.Fatal(err)
	}
	return dir, p
}

// appendEntryCopy writes, at the data end of the log at p, a copy of the
// entry at logHeaderLen with its bytes from cut on zeroed, and the bytes
// in zeroHead zeroed too (a torn copy: Go's memmove stores the head of a
// large copy last).
func appendEntryCopy(t *testing.T, p string, cut int, zeroHead int) (at int) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, logHeaderLen+4*valueThreshold)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	n, ok := entryAt(b[logHeaderLen:])
	if !ok {
		t.Fatal("no entry at the start of the log")
	}
	at = logHeaderLen + n
	e := bytes.Clone(b[logHeaderLen:at])
	clear(e[min(cut, len(e)):])
	clear(e[:zeroHead])
	if _, err := f.WriteAt(e, int64(at)); err != nil {
		t.Fatal(err)
	}
	return at
}

// TestTornTailOpens: the states a kill during a value-log write leaves
// (an entry cut short, an entry whose head was not yet stored) open, and
// every acknowledged record is there. The same bytes in a log Badger had
// closed, or followed by a whole entry, are damage.
func TestTornTailOpens(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name          string
		cut, zeroHead int
	}{
		{"cut after the header", 30, 0},
		{"cut in the value", 70000, 0},
		{"cut before the checksum", 2*valueThreshold + 10, 0},
		{"head not yet stored", 1 << 30, 32},
		{"head not stored, cut in the value", 90000, 32},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, p := tornVault(t)
			appendEntryCopy(t, p, c.cut, c.zeroHead)
			err := openNoPanic(t, dir, new(int))
			wantIntact(t, err, nil, nil, dir)
		})
	}
}

// TestDamageBeforeValidEntryRefused: damage in a value-log entry that a
// whole entry follows is refused, even in a log Badger had not closed.
func TestDamageBeforeValidEntryRefused(t *testing.T) {
	t.Parallel()
	for _, zeroHead := range []int{0, 32} {
		t.Run(fmt.Sprintf("zeroHead=%d", zeroHead), func(t *testing.T) {
			dir, p := tornVault(t)
			// A damaged entry (the first, its head or a byte of its value)
			// followed by a whole one.
			at := appendEntryCopy(t, p, 1<<30, 0)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if zeroHead > 0 {
				clear(b[logHeaderLen : logHeaderLen+zeroHead])
			} else {
				b[logHeaderLen+at/2] ^= 1
			}
			setFile(t, p, b)
			before := snapshotDir(t, dir)
			err = openNoPanic(t, dir, new(int))
			wantCorrupt(t, err, before, snapshotDir(t, dir), dir)
		})
	}
}

// TestTornTailInClosedLogRefused: a log Badger closed was truncated to
// its end, so a bad last entry there is damage, not an interrupted write.
func TestTornTailInClosedLogRefused(t *testing.T) {
	dir := writeGolden(t, goldenVault(t))
	p := filepath.Join(dir, dataDirName, badgerDirName, "000001.vlog")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	clear(b[len(b)-100:])
	setFile(t, p, b)
	before := snapshotDir(t, dir)
	err = openNoPanic(t, dir, new(int))
	wantCorrupt(t, err, before, snapshotDir(t, dir), dir)
}

// walEnd returns the data of the WAL at p and the end of its whole entries.
func walEnd(t *testing.T, p string) ([]byte, int) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	off := logHeaderLen
	for off < len(b) {
		n, ok := entryAt(b[off:])
		if !ok {
			break
		}
		off += n
	}
	if off == logHeaderLen {
		t.Fatal("empty memtable WAL")
	}
	return b, off
}

// TestTornWALOpens: a memtable WAL ending in part of an entry (a kill
// during the WAL write) opens, with both acknowledged messages.
func TestTornWALOpens(t *testing.T) {
	t.Parallel()
	dir, wal := killedWriter(t, 2)
	b, off := walEnd(t, wal)
	n, _ := entryAt(b[logHeaderLen:])
	e := bytes.Clone(b[logHeaderLen : logHeaderLen+n])
	clear(e[n/2:])
	setFile(t, wal, append(b[:off:off], append(e, b[off+len(e):]...)...))
	v, err := Open(ctx, dir, pin, testOpts(nil))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer mustLock(t, v)
	err = v.View(ctx, func(tx *Tx) error {
		for i := range 2 {
			if m, err := tx.Message("chat1", fmt.Sprintf("crash%d", i)); err != nil || !bytes.Equal(m.Body, crashBody(i)) {
				return fmt.Errorf("acknowledged message %d lost (%v)", i, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDamagedWALRefused: damage in a memtable WAL entry that whole
// entries follow is refused, and nothing is changed.
func TestDamagedWALRefused(t *testing.T) {
	t.Parallel()
	dir, wal := killedWriter(t, 2)
	b, _ := walEnd(t, wal)
	n, _ := entryAt(b[logHeaderLen:])
	b[logHeaderLen+n/2] ^= 0x10
	setFile(t, wal, b)
	before := snapshotDir(t, dir)
	err := openNoPanic(t, dir, new(int))
	wantCorrupt(t, err, before, snapshotDir(t, dir), dir)
}

// TestEmptyLogsOpen: Badger creates a log by opening it and then giving
// it its size, and deletes an old value log by cutting it to zero bytes
// and then unlinking it; a kill in between leaves an empty log (an old
// value log, the newest one, or a memtable WAL). The vault opens with
// every record there, and the empty logs are gone.
func TestEmptyLogsOpen(t *testing.T) {
	for _, name := range []string{"000000.vlog", "000009.vlog", "00009.mem"} {
		t.Run(name, func(t *testing.T) {
			dir := writeGolden(t, goldenVault(t))
			p := filepath.Join(dir, dataDirName, badgerDirName, name)
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			err := openNoPanic(t, dir, new(int))
			wantIntact(t, err, nil, nil, dir)
			if fi, err := os.Stat(p); err == nil && fi.Size() == 0 {
				t.Errorf("the empty %s is still there", name)
			}
		})
	}
}
