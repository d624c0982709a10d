package vault

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"strings"
	"time"

	"veil/crypto"
)

// eraser runs the erase of spec/vault.md §7.1 in dir. Every step that
// changes the disk is followed by a call to step (tests only), so a test
// can stop the process at each of them. Steps continue after a failure so
// that as much as possible is destroyed; errs collects the failures.
type eraser struct {
	dir  string
	r    io.Reader
	step func()
	errs []error
	held []*os.File // data files kept open across their unlink (removeTree)
}

func newEraser(dir string, o *Options) *eraser {
	return &eraser{dir: dir, r: o.Rand, step: o.eraseStep}
}

func (e *eraser) did() {
	if e.step != nil {
		e.step()
	}
}

func (e *eraser) fail(err error) {
	if err != nil {
		e.errs = append(e.errs, err)
	}
}

func (e *eraser) err() error { return errors.Join(e.errs...) }

// contents is §7.1 steps 1–3: destroy the key slots, remove the state
// file, then remove the data directory (and the trash directories an
// older version left). After it, the profile holds only the lock file.
func (e *eraser) contents() {
	e.keys()
	e.removeTree(filepath.Join(e.dir, dataDirName))
	for _, t := range trashDirs(e.dir) {
		e.removeTree(t)
	}
	e.fail(e.syncDir())
	e.release()
}

// release closes, on a goroutine of its own that ends when it has closed
// them, the data files removeTree kept open: the file system frees their
// blocks at that last close, after the erase has returned. The names are
// already gone and the data was noise since the key slots were destroyed;
// if the process dies first, the kernel closes and frees them.
func (e *eraser) release() {
	held := e.held
	e.held = nil
	if len(held) == 0 {
		return
	}
	go func() {
		for _, f := range held {
			f.Close()
		}
	}()
}

// keys overwrites the key file (and any temporary copy of it) in place
// with random bytes, fsyncs it, then unlinks it and the state file and
// fsyncs the directory. After the first overwrite the data key exists
// nowhere on disk (§7.1 steps 1–2).
func (e *eraser) keys() {
	for _, name := range []string{keyFileName, keyFileName + tmpSuffix} {
		p := filepath.Join(e.dir, name)
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if fi.Mode().IsRegular() {
			e.fail(e.overwrite(p, fi.Size()))
		}
		e.remove(p)
	}
	for _, name := range []string{stateFileName, stateFileName + tmpSuffix} {
		e.remove(filepath.Join(e.dir, name))
	}
	e.fail(e.syncDir())
}

// overwrite writes n random bytes over the file p through its own inode,
// then fsyncs it.
func (e *eraser) overwrite(p string, n int64) error {
	if n <= 0 || n > 1<<20 {
		n = keyFileSize
	}
	noise := make([]byte, n)
	if err := crypto.RandomBytes(e.r, noise); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("vault: overwriting %s: %w", filepath.Base(p), err)
	}
	_, werr := f.WriteAt(noise, 0)
	e.did()
	serr := f.Sync()
	e.did()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("vault: overwriting %s: %w", filepath.Base(p), err)
	}
	return nil
}

// remove unlinks p; a missing p is no error.
func (e *eraser) remove(p string) {
	err := os.Remove(p)
	if err == nil {
		e.did()
		return
	}
	if !errors.Is(err, fs.ErrNotExist) {
		e.fail(fmt.Errorf("vault: removing %s: %w", filepath.Base(p), err))
	}
}

// removeTree removes p and everything under it, one unlink at a time
// (children first), so that each unlink is a step. A regular file is
// opened before its unlink and kept open (e.held): the unlink then only
// removes the name, and the file system frees the blocks when release
// closes the file. Freeing them inside the unlink takes hundreds of
// milliseconds for a 1 GB vault on ext4, which a stopwatch would see.
func (e *eraser) removeTree(p string) {
	fi, err := os.Lstat(p)
	if err != nil {
		return
	}
	if fi.IsDir() {
		ents, err := os.ReadDir(p)
		e.fail(err)
		for _, ent := range ents {
			e.removeTree(filepath.Join(p, ent.Name()))
		}
	}
	if fi.Mode().IsRegular() {
		if f, err := os.Open(p); err == nil {
			if os.Remove(p) == nil {
				e.held = append(e.held, f)
				e.did()
				return
			}
			f.Close() // a system that cannot unlink an open file
		}
	}
	e.remove(p)
}

func (e *eraser) syncDir() error {
	err := syncDir(e.dir)
	e.did()
	return err
}

// finish is §7.1 step 4 for an erase that leaves no vault behind: the lock
// file is unlinked (the caller still holds its lock until it releases pl)
// and the profile directory is removed when it is empty.
func (e *eraser) finish(pl *profileLock) {
	if pl.unlink() {
		e.did()
	}
	if os.Remove(e.dir) == nil {
		e.did()
	}
}

// renew is §7.1 step 4 for a decoy: the lock file and the profile
// directory are made anew, as Create makes them, and the lock moves to the
// new lock file. It returns the lock now held. When the directory cannot
// be removed (it is a mount point, or holds a file that is not the
// vault's), it stays and its times are set to now.
func (e *eraser) renew(pl *profileLock) (*profileLock, error) {
	e.finish(pl)
	kept := exists(e.dir)
	if !kept {
		if err := os.MkdirAll(e.dir, 0o700); err != nil {
			return nil, fmt.Errorf("vault: creating profile directory: %w", err)
		}
		e.did()
	}
	npl, err := lockProfile(filepath.Join(e.dir, lockFileName))
	if err != nil {
		return nil, err
	}
	e.did()
	if kept {
		now := time.Now()
		if os.Chtimes(e.dir, now, now) == nil {
			e.did()
		}
	}
	pl.release()
	return npl, nil
}

// leftovers reports whether dir holds pieces of a vault without a usable
// key file: what an erase or a create interrupted by a crash leaves.
func leftovers(dir string) bool {
	if b, err := readSmallFile(filepath.Join(dir, keyFileName), keyFileSize); err == nil {
		return overwrittenKeyFile(b)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, ent := range ents {
		if ownedName(ent.Name()) {
			return true
		}
	}
	return false
}

// ownedName reports whether name is a file the vault puts in its profile
// directory (spec/vault.md §1), including what an interrupted write or an
// older version's erase may leave.
func ownedName(name string) bool {
	switch name {
	case keyFileName, stateFileName, lockFileName, dataDirName,
		keyFileName + tmpSuffix, stateFileName + tmpSuffix:
		return true
	}
	return strings.HasPrefix(name, trashPrefix)
}

// overwrittenKeyFile reports whether b, read from the key file's place, is
// one that an erase overwrote with random bytes (§7.1 step 1) before a
// crash stopped it: 480 bytes whose first 8 differ from the magic in more
// than 8 bits. Random bytes do so but with probability below 10⁻⁹; a real
// key file damaged in a few bits of its magic does not, and stays
// ErrCorrupt, so damage is never mistaken for an erase.
func overwrittenKeyFile(b []byte) bool {
	if len(b) != keyFileSize {
		return false
	}
	d := 0
	for i := range len(keyFileMagic) {
		d += bits.OnesCount8(b[i] ^ keyFileMagic[i])
	}
	return d > erasedMagicDistance
}

// erasedMagicDistance is the least number of bits in which the start of an
// overwritten key file differs from the magic (§7.1).
const erasedMagicDistance = 8
