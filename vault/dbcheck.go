package vault

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/fb"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/badger/v4/y"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/dgraph-io/ristretto/v2/z"
)

// Badger's on-disk constants that checkData relies on (Badger v4).
const (
	logHeaderLen  = 20 // value log and memtable WAL: key ID 8, base IV 12
	maxEntryHdr   = 22 // meta 2 + three uvarints of at most 5, 5 and 10 bytes
	maxEntryKey   = 1 << 16
	vlogSuffix    = ".vlog"
	memSuffix     = ".mem"
	checkIdxCache = 4 << 20 // index cache of the table check; an index above it is read twice
)

// checkData verifies, read-only, what Badger reads when it opens a data
// directory and could panic on or cut short (spec/vault.md §8.6): the key
// registry; each table the manifest lists, opened with Badger's own
// table.OpenTable on this goroutine (footer, index checksum, index, and
// the last block, whose checksum Badger verifies); the value-log files'
// headers; and the entries of the newest value log and of every memtable
// WAL, where only a torn tail is allowed (checkLogEntries). Its cost does
// not grow with the number of tables' blocks: Badger checks every other
// block when it reads it (options.OnBlockRead).
func checkData(path string, key []byte, mf *badger.Manifest, memTableSize int64) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = corrupt("data directory: %v", firstLine(r))
		}
	}()
	kr, err := badger.OpenKeyRegistry(badger.KeyRegistryOptions{Dir: path, ReadOnly: true, EncryptionKey: key})
	if err != nil {
		return corrupt("data directory: key registry: %v", err)
	}
	ic, err := ristretto.NewCache(&ristretto.Config[uint64, *fb.TableIndex]{NumCounters: 1024, MaxCost: checkIdxCache, BufferItems: 64})
	if err != nil {
		return fmt.Errorf("vault: index cache: %w", err)
	}
	defer ic.Close()
	ids := make([]uint64, 0, len(mf.Tables))
	for id := range mf.Tables {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := checkTable(table.NewFilename(id, path), mf.Tables[id], kr, ic); err != nil {
			return corrupt("data directory: table %d: %v", id, err)
		}
	}
	return checkLogs(path, kr, memTableSize)
}

// checkTable opens one table as Badger does at open (table.OpenTable),
// but read-only and on the calling goroutine, so that a panic on a
// damaged file is recovered here. Badger itself opens tables on
// goroutines of its own and, worse, skips a table whose index checksum
// fails; both are refused here.
func checkTable(name string, tm badger.TableManifest, kr *badger.KeyRegistry, ic *ristretto.Cache[uint64, *fb.TableIndex]) (err error) {
	dk, err := kr.DataKey(tm.KeyID)
	if err != nil {
		return err
	}
	mf, err := z.OpenMmapFile(name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	// The mapping is closed here and only here: the table's own Close and
	// DecrRef are never called (DecrRef would delete the file).
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", firstLine(r))
		}
		if cerr := mf.Close(-1); cerr != nil && err == nil {
			err = cerr
		}
	}()
	_, err = table.OpenTable(mf, table.Options{
		ReadOnly:    true,
		ChkMode:     options.OnBlockRead,
		Compression: tm.Compression,
		DataKey:     dk,
		IndexCache:  ic,
	})
	return err
}

// checkLogs verifies the value-log files (at least one, which Badger
// makes when it creates the directory; each with a header naming a known
// data key; the newest one entry by entry) and every memtable WAL entry
// by entry. Badger reads the same bytes at open: it walks the whole
// newest value log and replays every WAL.
func checkLogs(path string, kr *badger.KeyRegistry, memTableSize int64) error {
	des, err := os.ReadDir(path)
	if err != nil {
		return corrupt("data directory: %v", err)
	}
	var vlogs, mems []string
	for _, de := range des {
		name := de.Name()
		s, isVlog := strings.CutSuffix(name, vlogSuffix)
		if !isVlog {
			var isMem bool
			if s, isMem = strings.CutSuffix(name, memSuffix); !isMem {
				continue
			}
		}
		if _, err := strconv.ParseUint(s, 10, 32); err != nil {
			return corrupt("data directory: unexpected file %s", name)
		}
		if fi, err := de.Info(); err != nil {
			return corrupt("data directory: %v", err)
		} else if fi.Size() == 0 {
			// Empty: a log whose creation (open, then size) or deletion
			// (cut to zero, then unlink) a kill interrupted. It holds
			// nothing; dropEmptyLogs removes it before Badger opens.
			continue
		}
		if isVlog {
			vlogs = append(vlogs, name)
		} else {
			mems = append(mems, name)
		}
	}
	if len(vlogs) == 0 {
		return corrupt("data directory: no value log")
	}
	// Badger names logs with zero-padded decimal ids; sort by number all
	// the same, in case an id outgrows its padding.
	byID := func(a, b string) int { return logID(a) - logID(b) }
	slices.SortFunc(vlogs, byID)
	for i, name := range vlogs {
		var err error
		if i == len(vlogs)-1 {
			err = checkLogEntries(filepath.Join(path, name), kr, 2*defaultVlogFileSize)
		} else {
			err = checkLogHeader(filepath.Join(path, name), kr)
		}
		if err != nil {
			return corrupt("data directory: value log %s: %v", name, err)
		}
	}
	for _, name := range mems {
		if err := checkLogEntries(filepath.Join(path, name), kr, 2*memTableSize); err != nil {
			return corrupt("data directory: memtable log %s: %v", name, err)
		}
	}
	return nil
}

// dropEmptyLogs removes the empty value logs and memtable WALs of the
// Badger directory at path (see checkLogs). Badger cannot open one: it
// takes the empty file for a new one and fails on an existing file that
// is new. Such a file holds no entry, so no value pointer leads into it
// and no write is lost with it.
func dropEmptyLogs(path string) error {
	des, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	dropped := false
	for _, de := range des {
		if !strings.HasSuffix(de.Name(), vlogSuffix) && !strings.HasSuffix(de.Name(), memSuffix) || !de.Type().IsRegular() {
			continue
		}
		if fi, err := de.Info(); err == nil && fi.Size() == 0 {
			if err := os.Remove(filepath.Join(path, de.Name())); err != nil {
				return err
			}
			dropped = true
		}
	}
	if dropped {
		return syncDir(path)
	}
	return nil
}

// logID is the numeric id of a log file name that checkLogs has parsed.
func logID(name string) int {
	id, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSuffix(name, vlogSuffix), memSuffix), 10, 32)
	return int(id)
}

func checkLogHeader(name string, kr *badger.KeyRegistry) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	var h [logHeaderLen]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	_, err = kr.DataKey(binary.BigEndian.Uint64(h[:8]))
	return err
}

// checkLogEntries walks the entries of a value log or memtable WAL:
// header (meta, user meta, key, value and expiry lengths), key and value
// as stored, and a big-endian CRC-32C of all of it. Badger stops at the
// first entry that is not whole and cuts the file there (a WAL at the
// last complete transaction before it). That is right for a torn tail
// and wrong for damage with valid entries after it, so:
//
//   - the walk ends cleanly at the end of the file or at a zeroed tail;
//   - a bad entry is a torn tail, allowed, when the file still has the
//     size Badger gives a log it has not closed (prealloc: it truncates a
//     value log to its end when it closes it, and a WAL when it replays
//     it, and writes no more to either, so a bad entry in a truncated log
//     is damage, not an interrupted write; a WAL's preallocated size
//     follows Options.MemTableSize, which must therefore not grow between
//     a crash and the next open) and the data after the bad entry's
//     start does not end with a whole valid entry (resyncEnd): only the
//     write that was cut, of a transaction not yet acknowledged, is lost;
//   - anything else is damage.
func checkLogEntries(name string, kr *badger.KeyRegistry, prealloc int64) error {
	mf, err := z.OpenMmapFile(name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer mf.Close(-1)
	data := mf.Data
	if len(data) < logHeaderLen {
		return fmt.Errorf("%d bytes, shorter than the header", len(data))
	}
	if _, err := kr.DataKey(binary.BigEndian.Uint64(data[:8])); err != nil {
		return err
	}
	return checkEntries(data, prealloc)
}

// checkEntries is the walk of checkLogEntries over the bytes of a log
// (header included) whose file size is len(data).
func checkEntries(data []byte, prealloc int64) error {
	off := logHeaderLen
	for off < len(data) {
		n, ok := entryAt(data[off:])
		if !ok {
			break
		}
		off += n
	}
	end := dataEnd(data)
	switch {
	case end <= off:
		return nil // whole entries, then zeros or the end of the file
	case int64(len(data)) < prealloc:
		return fmt.Errorf("damaged entry at byte %d of a closed log", off)
	case resyncEnd(data, off, end):
		return fmt.Errorf("damaged entry at byte %d followed by valid entries", off)
	}
	return nil // a torn tail: Badger cuts it
}

// entryAt returns the size of the whole, valid entry at the start of b,
// or false if there is none.
func entryAt(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	i := 2
	var lens [3]uint64
	for j := range lens {
		v, n := binary.Uvarint(b[i:])
		if n <= 0 {
			return 0, false
		}
		lens[j], i = v, i+n
	}
	if lens[0] > maxEntryKey || lens[1] > uint64(len(b)) || uint64(i)+lens[0]+lens[1]+crc32.Size > uint64(len(b)) {
		return 0, false
	}
	n := i + int(lens[0]+lens[1])
	if binary.BigEndian.Uint32(b[n:n+crc32.Size]) != crc32.Checksum(b[:n], y.CastagnoliCrcTable) {
		return 0, false
	}
	return n + crc32.Size, true
}

// resyncEnd reports whether a valid entry starting after bad ends at end,
// one past the last non-zero byte of data (up to crc32.Size-1 zero bytes
// past it, as an entry's CRC may end in zeros). A torn write leaves the
// start of one entry and zeros; damage in an earlier entry leaves the
// later ones whole, the last of them ending where the data ends. Only an
// offset whose header decodes to such an end costs a checksum.
func resyncEnd(data []byte, bad, end int) bool {
	for s := bad + 1; s < end; s++ {
		b := data[s:]
		i := 2
		var lens [3]uint64
		ok := len(b) > i
		for j := 0; ok && j < len(lens); j++ {
			v, n := binary.Uvarint(b[i:min(len(b), i+binary.MaxVarintLen64)])
			ok = n > 0
			lens[j], i = v, i+n
		}
		if !ok || lens[0] > maxEntryKey || lens[1] > uint64(end) {
			continue
		}
		e := uint64(s+i) + lens[0] + lens[1] + crc32.Size
		if e < uint64(end) || e >= uint64(end+crc32.Size) || e > uint64(len(data)) {
			continue
		}
		if _, ok := entryAt(data[s:e]); ok {
			return true
		}
	}
	return false
}

// dataEnd returns one past the last non-zero byte of b, a page at a time.
func dataEnd(b []byte) int {
	var zero [4096]byte
	for len(b) >= len(zero) && bytes.Equal(b[len(b)-len(zero):], zero[:]) {
		b = b[:len(b)-len(zero)]
	}
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return len(b)
}

// firstLine keeps the first line of a recovered panic value: Badger's
// panics may carry multi-line dumps of file contents.
func firstLine(r any) string {
	s, _, _ := strings.Cut(fmt.Sprint(r), "\n")
	return s
}
