package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"veil/crypto"
)

// shredChunk is how much noise ShredTree writes at a time into a file
// larger than the erase's own overwrite takes.
const shredChunk = 1 << 20

// ShredTree destroys dir and everything under it as the erase destroys
// the vault's key file (spec/vault.md §7.1): every regular file is
// overwritten in place with random bytes over its whole length and
// fsynced before it is unlinked, so the blocks the unlink frees hold only
// noise. It is for plaintext that lives beside a vault and goes with it
// (the embedded relay's identity key and store). A missing dir is no
// error; failures do not stop the rest from being destroyed.
func ShredTree(dir string) error {
	e := &eraser{dir: dir}
	e.shred(dir)
	return e.err()
}

func (e *eraser) shred(p string) {
	fi, err := os.Lstat(p)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			e.fail(err)
		}
		return
	}
	switch {
	case fi.IsDir():
		ents, err := os.ReadDir(p)
		e.fail(err)
		for _, ent := range ents {
			e.shred(filepath.Join(p, ent.Name()))
		}
	case fi.Mode().IsRegular() && fi.Size() <= 1<<20:
		e.fail(e.overwrite(p, fi.Size()))
	case fi.Mode().IsRegular():
		e.fail(e.overwriteLarge(p, fi.Size()))
	}
	e.remove(p)
}

// overwriteLarge is overwrite for a file of n bytes, n larger than
// overwrite writes: the noise goes in shredChunk pieces, over the file's
// data only. A hole holds nothing to destroy, and a store that was not
// closed leaves large sparse files (Badger's value log is created at
// twice its size limit, 2 GiB, and cut back at close): filling their
// holes would write gigabytes and hold the unlock that asked for it.
func (e *eraser) overwriteLarge(p string, n int64) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("vault: overwriting %s: %w", filepath.Base(p), err)
	}
	noise := make([]byte, shredChunk)
	var werr error
	for _, r := range dataRegions(f, n) {
		for off := r[0]; off < r[1] && werr == nil; off += shredChunk {
			b := noise[:min(r[1]-off, shredChunk)]
			if werr = crypto.RandomBytes(e.r, b); werr == nil {
				_, werr = f.WriteAt(b, off)
			}
		}
	}
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("vault: overwriting %s: %w", filepath.Base(p), err)
	}
	return nil
}
