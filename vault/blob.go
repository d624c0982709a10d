package vault

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"

	"veil/crypto"
)

// Blob files (spec/vault.md §6.7): a file attachment's chunks, sealed by
// the client under the file's local key, live outside Badger in
// data/files/<48 hex digits>, one fixed-size slot per chunk. The vault
// only moves ciphertext; it never sees the key.

const (
	filesDirName = "files" // inside data/
	blobNameSize = 24      // random bytes behind a blob's 48-hex-digit name
	// BlobChunkSize is the size of one chunk slot of a blob.
	BlobChunkSize = crypto.FileChunkSize
)

// Blob is one open blob file. It is safe for concurrent ReadChunk and
// WriteChunk calls on different chunks; Close it when done.
type Blob struct {
	f      *os.File
	name   string
	chunks uint32
}

// Name returns the blob's name, which the file record stores.
func (b *Blob) Name() string { return b.name }

// Chunks returns the number of chunk slots.
func (b *Blob) Chunks() uint32 { return b.chunks }

// WriteChunk writes chunk i's FileChunkSize sealed bytes.
func (b *Blob) WriteChunk(i uint32, ct []byte) error {
	if i >= b.chunks || len(ct) != BlobChunkSize {
		return fmt.Errorf("vault: blob chunk %d of %d with %d bytes", i, b.chunks, len(ct))
	}
	if _, err := b.f.WriteAt(ct, int64(i)*BlobChunkSize); err != nil {
		return fmt.Errorf("vault: writing blob chunk: %w", err)
	}
	return nil
}

// ReadChunk reads chunk i into buf (grown when shorter than a chunk) and
// returns the FileChunkSize bytes.
func (b *Blob) ReadChunk(i uint32, buf []byte) ([]byte, error) {
	if i >= b.chunks {
		return nil, fmt.Errorf("vault: blob chunk %d of %d", i, b.chunks)
	}
	if cap(buf) < BlobChunkSize {
		buf = make([]byte, BlobChunkSize)
	}
	buf = buf[:BlobChunkSize]
	if _, err := b.f.ReadAt(buf, int64(i)*BlobChunkSize); err != nil {
		return nil, fmt.Errorf("vault: reading blob chunk: %w", err)
	}
	return buf, nil
}

// Sync makes the chunks written so far durable.
func (b *Blob) Sync() error {
	if err := b.f.Sync(); err != nil {
		return fmt.Errorf("vault: syncing blob: %w", err)
	}
	return nil
}

// Close closes the file.
func (b *Blob) Close() error {
	if err := b.f.Close(); err != nil {
		return fmt.Errorf("vault: closing blob: %w", err)
	}
	return nil
}

// filesDir is data/files.
func (v *Vault) filesDir() string { return filepath.Join(v.dir, dataDirName, filesDirName) }

// validBlobName reports whether name is 48 lower-case hex digits, so a
// name from a record can never leave the files directory.
func validBlobName(name string) bool {
	if len(name) != 2*blobNameSize {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// CreateBlob creates a new blob file of chunks slots (mode 0600, its
// directory 0700) under a fresh random name. Until a file record names it,
// SweepOrphanBlobs of this Vault leaves it alone; at the next unlock it
// goes unless a record names it.
func (v *Vault) CreateBlob(chunks uint32) (*Blob, error) {
	if chunks == 0 || chunks > crypto.MaxFileChunks {
		return nil, fmt.Errorf("vault: blob of %d chunks", chunks)
	}
	release, err := v.use()
	if err != nil {
		return nil, err
	}
	defer release()
	dir := v.filesDir()
	switch err := os.Mkdir(dir, 0o700); {
	case err == nil:
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return nil, err
		}
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("vault: creating files directory: %w", err)
	}
	var raw [blobNameSize]byte
	if err := crypto.RandomBytes(v.opts.Rand, raw[:]); err != nil {
		return nil, err
	}
	name := hex.EncodeToString(raw[:])
	// Marked fresh before it exists, so a concurrent sweep cannot take it.
	v.blobMu.Lock()
	if v.freshBlobs == nil {
		v.freshBlobs = map[string]bool{}
	}
	v.freshBlobs[name] = true
	v.blobMu.Unlock()
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("vault: creating blob: %w", err)
	}
	if err := f.Truncate(int64(chunks) * BlobChunkSize); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("vault: sizing blob: %w", err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return &Blob{f: f, name: name, chunks: chunks}, nil
}

// OpenBlob opens the blob file name for reading and writing. It refuses
// a name that is not a blob's and anything but a regular file.
func (v *Vault) OpenBlob(name string) (*Blob, error) {
	if !validBlobName(name) {
		return nil, fmt.Errorf("vault: %q is not a blob name", name)
	}
	release, err := v.use()
	if err != nil {
		return nil, err
	}
	defer release()
	p := filepath.Join(v.filesDir(), name)
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("vault: blob %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: opening blob: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size()%BlobChunkSize != 0 || fi.Size() == 0 || fi.Size()/BlobChunkSize > crypto.MaxFileChunks {
		return nil, corrupt("blob file is not a blob")
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("vault: opening blob: %w", err)
	}
	if after, err := f.Stat(); err != nil || !os.SameFile(fi, after) {
		f.Close()
		return nil, corrupt("blob file changed while opened")
	}
	return &Blob{f: f, name: name, chunks: uint32(fi.Size() / BlobChunkSize)}, nil
}

// recordedBlobs ends the freshness of blobs a committed record names.
func (v *Vault) recordedBlobs(names []string) {
	if len(names) == 0 {
		return
	}
	v.blobMu.Lock()
	for _, name := range names {
		delete(v.freshBlobs, name)
	}
	v.blobMu.Unlock()
}

// unlinkBlobs removes blob files whose records a committed transaction
// deleted. A failure leaves an orphan that SweepOrphanBlobs removes.
func (v *Vault) unlinkBlobs(names []string) error {
	var errs []error
	for _, name := range names {
		if !validBlobName(name) {
			continue
		}
		v.blobMu.Lock()
		delete(v.freshBlobs, name)
		v.blobMu.Unlock()
		if err := os.Remove(filepath.Join(v.filesDir(), name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("vault: removing blob: %w", err))
		}
	}
	if len(names) > 0 {
		if err := syncDir(v.filesDir()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SweepOrphanBlobs removes every entry of the files directory that no
// file record names (spec/vault.md §6.7): blobs whose record a commit
// deleted just before a crash, and anything else left there. Blobs this
// Vault created and no record names yet are kept. Open runs it at every
// unlock.
func (v *Vault) SweepOrphanBlobs() error {
	release, err := v.use()
	if err != nil {
		return err
	}
	defer release()
	dir := v.filesDir()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("vault: reading files directory: %w", err)
	}
	// Which blobs are fresh is read before the records: a blob recorded
	// between the two reads is then either fresh or named, never neither.
	v.blobMu.Lock()
	fresh := make(map[string]bool, len(v.freshBlobs))
	for name := range v.freshBlobs {
		fresh[name] = true
	}
	v.blobMu.Unlock()
	named := map[string]bool{}
	err = v.db.View(func(txn *badger.Txn) error {
		tx := &Tx{v: v, txn: txn}
		return tx.each([]byte{pfxFile}, func(b []byte) error {
			var r FileRecord
			if decodeRecord(b, &r) == nil {
				named[r.Blob] = true
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("vault: reading file records: %w", err)
	}
	if v.sweepRead != nil {
		v.sweepRead()
	}
	var errs []error
	removed := false
	for _, ent := range ents {
		name := ent.Name()
		if named[name] || fresh[name] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			errs = append(errs, fmt.Errorf("vault: removing orphan blob: %w", err))
			continue
		}
		removed = true
	}
	if removed {
		errs = append(errs, syncDir(dir))
	}
	return errors.Join(errs...)
}
