package vault

import (
	"bytes"
	"crypto/aes"
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
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/badger/v4/y"
)

// Badger's on-disk constants that checkData relies on (Badger v4).
const (
	vlogHeaderLen  = 20     // key ID 8, base IV 12
	vlogBitTxn     = 1 << 6 // entry is part of a transaction
	vlogBitFinTxn  = 1 << 7 // entry ends a transaction
	vlogSuffix     = ".vlog"
	maxVlogHdrSize = 22 // meta 2 + three uvarints of at most 5, 5 and 10 bytes
	vlogTxnKey     = "!badger!txn"
)

// checkData verifies, read-only, every file Badger reads when it opens a
// data directory (spec/vault.md §8.5): the key registry, each table the
// manifest lists (footer, index checksum and every block's checksum) and
// the value-log files (each one's header; every entry of the newest one,
// which Badger would otherwise cut at the first damaged entry). Badger
// opens tables on goroutines of its own, where a panic on a damaged file
// cannot be recovered, and it repairs a damaged value log by truncating
// it: both are refused here first, as ErrCorrupt, with nothing changed.
func checkData(path string, key []byte, mf *badger.Manifest) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = corrupt("data directory: %v", firstLine(r))
		}
	}()
	kr, err := badger.OpenKeyRegistry(badger.KeyRegistryOptions{Dir: path, ReadOnly: true, EncryptionKey: key})
	if err != nil {
		return corrupt("data directory: key registry: %v", err)
	}
	ids := make([]uint64, 0, len(mf.Tables))
	for id := range mf.Tables {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := checkTable(table.NewFilename(id, path), mf.Tables[id], kr); err != nil {
			return corrupt("data directory: table %d: %v", id, err)
		}
	}
	return checkVlogs(path, kr)
}

// checkTable verifies one table file against Badger's table format.
func checkTable(name string, tm badger.TableManifest, kr *badger.KeyRegistry) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	dk, err := kr.DataKey(tm.KeyID)
	if err != nil {
		return err
	}
	// Footer: ... index, index length (4), checksum, checksum length (4).
	end := len(data)
	chk, end, err := trailer(data, end)
	if err != nil {
		return fmt.Errorf("footer: %w", err)
	}
	if end < 4 {
		return fmt.Errorf("footer: %d bytes", len(data))
	}
	n := int(binary.BigEndian.Uint32(data[end-4 : end]))
	end -= 4
	if n > end {
		return fmt.Errorf("index length %d past the start of the file", n)
	}
	index := data[end-n : end]
	if err := y.VerifyChecksum(index, chk); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	if index, err = decryptBlock(index, dk); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	ti := fb.GetRootAsTableIndex(index, 0)
	if ti.OffsetsLength() == 0 {
		return fmt.Errorf("index lists no blocks")
	}
	if tm.Compression != options.None {
		return nil // the vault writes uncompressed tables; the index is checked
	}
	var bo fb.BlockOffset
	for i := range ti.OffsetsLength() {
		if !ti.Offsets(&bo, i) {
			return fmt.Errorf("block %d: no offset", i)
		}
		off, ln := int(bo.Offset()), int(bo.Len())
		if off+ln > end-n {
			return fmt.Errorf("block %d: %d bytes at %d overlap the index", i, ln, off)
		}
		b, err := decryptBlock(data[off:off+ln], dk)
		if err != nil {
			return fmt.Errorf("block %d: %w", i, err)
		}
		// Block: entries, entry offsets, count (4), checksum, checksum length (4).
		bchk, bend, err := trailer(b, len(b))
		if err != nil || bend < 4 {
			return fmt.Errorf("block %d: bad trailer", i)
		}
		if err := y.VerifyChecksum(b[:bend], bchk); err != nil {
			return fmt.Errorf("block %d: %w", i, err)
		}
	}
	return nil
}

// trailer reads a checksum and its 4-byte length ending at data[end] and
// returns the checksum and the offset where it starts.
func trailer(data []byte, end int) (*pb.Checksum, int, error) {
	if end < 4 || end > len(data) {
		return nil, 0, fmt.Errorf("too short")
	}
	n := int(binary.BigEndian.Uint32(data[end-4 : end]))
	end -= 4
	if n > end {
		return nil, 0, fmt.Errorf("checksum length %d past the start", n)
	}
	c, err := parseChecksum(data[end-n : end])
	return c, end - n, err
}

// parseChecksum decodes Badger's protobuf Checksum message: field 1
// (algorithm) and field 2 (sum), both varints.
func parseChecksum(b []byte) (*pb.Checksum, error) {
	c := &pb.Checksum{}
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 || tag&7 != 0 {
			return nil, fmt.Errorf("bad checksum record")
		}
		b = b[n:]
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, fmt.Errorf("bad checksum record")
		}
		b = b[n:]
		switch tag >> 3 {
		case 1:
			if v > uint64(pb.Checksum_XXHash64) {
				return nil, fmt.Errorf("unknown checksum algorithm %d", v)
			}
			c.Algo = pb.Checksum_Algorithm(v)
		case 2:
			c.Sum = v
		}
	}
	return c, nil
}

// decryptBlock undoes Badger's table encryption: the last 16 bytes are
// the IV of AES-CTR under the table's data key. A nil key means plaintext.
func decryptBlock(b []byte, dk *pb.DataKey) ([]byte, error) {
	if dk == nil {
		return b, nil
	}
	if len(b) < aes.BlockSize {
		return nil, fmt.Errorf("%d bytes, shorter than the IV", len(b))
	}
	return y.XORBlockAllocate(b[:len(b)-aes.BlockSize], dk.Data, b[len(b)-aes.BlockSize:])
}

// checkVlogs verifies the value-log files: at least one (Badger makes one
// when it creates the directory), each with a header naming a known data
// key, and the newest one a sequence of whole entries with good CRCs that
// ends with a complete transaction.
func checkVlogs(path string, kr *badger.KeyRegistry) error {
	des, err := os.ReadDir(path)
	if err != nil {
		return corrupt("data directory: %v", err)
	}
	var fids []uint64
	for _, de := range des {
		if s, ok := strings.CutSuffix(de.Name(), vlogSuffix); ok {
			fid, err := strconv.ParseUint(s, 10, 32)
			if err != nil {
				return corrupt("data directory: unexpected file %s", de.Name())
			}
			fids = append(fids, fid)
		}
	}
	if len(fids) == 0 {
		return corrupt("data directory: no value log")
	}
	slices.Sort(fids)
	for i, fid := range fids {
		name := filepath.Join(path, fmt.Sprintf("%06d%s", fid, vlogSuffix))
		var err error
		if i == len(fids)-1 {
			err = checkVlogEntries(name, kr)
		} else {
			err = checkVlogHeader(name, kr)
		}
		if err != nil {
			return corrupt("data directory: value log %d: %v", fid, err)
		}
	}
	return nil
}

func checkVlogHeader(name string, kr *badger.KeyRegistry) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	var h [vlogHeaderLen]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	_, err = kr.DataKey(binary.BigEndian.Uint64(h[:8]))
	return err
}

// checkVlogEntries walks every entry of a value-log file: header (meta,
// user meta, key, value and expiry lengths), key and value as stored, and
// a big-endian CRC-32C of all of it. A zeroed tail (a file preallocated
// and not yet written, as a crash leaves it) ends the walk.
func checkVlogEntries(name string, kr *badger.KeyRegistry) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	if len(data) < vlogHeaderLen {
		return fmt.Errorf("%d bytes, shorter than the header", len(data))
	}
	dk, err := kr.DataKey(binary.BigEndian.Uint64(data[:8]))
	if err != nil {
		return err
	}
	baseIV := data[8:vlogHeaderLen]
	off, inTxn := vlogHeaderLen, false
	for off < len(data) {
		rest := data[off:]
		if isZero(rest[:min(len(rest), maxVlogHdrSize)]) {
			if !isZero(rest) {
				return fmt.Errorf("zero entry at %d followed by data", off)
			}
			break
		}
		e, err := vlogEntryAt(rest)
		if err != nil {
			return fmt.Errorf("entry at %d: %w", off, err)
		}
		n := e.size()
		sum := crc32.Checksum(rest[:n-crc32.Size], y.CastagnoliCrcTable)
		if binary.BigEndian.Uint32(rest[n-crc32.Size:n]) != sum {
			return fmt.Errorf("entry at %d: checksum mismatch", off)
		}
		switch {
		case e.meta&vlogBitTxn != 0:
			inTxn = true
		case e.meta&vlogBitFinTxn != 0:
			// The end-of-transaction entry is the one whose plaintext Badger
			// checks at open; decrypting it checks the base IV and data key.
			if err := checkFinTxn(rest[e.hlen:n-crc32.Size], e.klen, dk, baseIV, uint32(off)); err != nil {
				return fmt.Errorf("entry at %d: %w", off, err)
			}
			inTxn = false
		}
		off += n
	}
	if inTxn {
		return fmt.Errorf("ends inside a transaction")
	}
	return nil
}

// vlogEntry is the decoded header of a value-log entry.
type vlogEntry struct {
	meta             byte
	hlen, klen, vlen int
}

func (e vlogEntry) size() int { return e.hlen + e.klen + e.vlen + crc32.Size }

// vlogEntryAt decodes the entry header at the start of b and checks that
// the whole entry fits in b.
func vlogEntryAt(b []byte) (vlogEntry, error) {
	if len(b) < 2 {
		return vlogEntry{}, fmt.Errorf("truncated header")
	}
	i := 2
	var lens [3]uint64
	for j := range lens {
		v, n := binary.Uvarint(b[i:])
		if n <= 0 {
			return vlogEntry{}, fmt.Errorf("truncated header")
		}
		lens[j], i = v, i+n
	}
	if lens[0] > uint64(len(b)) || lens[1] > uint64(len(b)) || uint64(i)+lens[0]+lens[1]+crc32.Size > uint64(len(b)) {
		return vlogEntry{}, fmt.Errorf("runs past the end of the file")
	}
	return vlogEntry{meta: b[0], hlen: i, klen: int(lens[0]), vlen: int(lens[1])}, nil
}

// checkFinTxn decrypts an end-of-transaction entry (key and value, AES-CTR
// under the file's data key with the base IV and the entry's offset) and
// checks Badger's marker key and the decimal commit timestamp.
func checkFinTxn(kv []byte, klen int, dk *pb.DataKey, baseIV []byte, off uint32) error {
	if dk != nil {
		iv := binary.BigEndian.AppendUint32(bytes.Clone(baseIV), off)
		var err error
		if kv, err = y.XORBlockAllocate(kv, dk.Data, iv); err != nil {
			return err
		}
	}
	if !bytes.HasPrefix(kv[:klen], []byte(vlogTxnKey)) {
		return fmt.Errorf("end of transaction does not decrypt")
	}
	if _, err := strconv.ParseUint(string(kv[klen:]), 10, 64); err != nil {
		return fmt.Errorf("end of transaction does not decrypt")
	}
	return nil
}

func isZero(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }

// firstLine keeps the first line of a recovered panic value: Badger's
// panics may carry multi-line dumps of file contents.
func firstLine(r any) string {
	s, _, _ := strings.Cut(fmt.Sprint(r), "\n")
	return s
}
