package vault

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"veil/crypto"
)

// eraser runs the erase of spec/vault.md §7.1 in dir. Every step that
// changes the disk is followed by a call to step (tests only), so a test
// can stop the process at each of them. Steps continue after a failure so
// that as much as possible is destroyed; errs collects the failures.
type eraser struct {
	dir      string
	r        io.Reader
	step     func()
	errs     []error
	syncErrs []error    // failed directory fsyncs: the unlinks were done
	held     []*os.File // data files kept open across their unlink (removeTree)
	after    time.Time  // release frees them no earlier (the unlock's padding)
}

func newEraser(dir string, o *Options) *eraser {
	return &eraser{dir: dir, r: o.Rand, step: o.eraseStep, after: o.padUntil}
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

func (e *eraser) err() error { return errors.Join(append(e.errs, e.syncErrs...)...) }

// undone is err without the failed directory fsyncs: what the erase could
// not do, rather than what it could not yet make durable.
func (e *eraser) undone() error { return errors.Join(e.errs...) }

// contents is §7.1 steps 1–3: destroy the key slots, remove the state
// file, remove the data directory (and the trash directories an older
// version left), and last the renamed key file that marks an erase in
// progress. After it, the profile holds only the lock file.
func (e *eraser) contents() {
	e.keys()
	e.removeTree(filepath.Join(e.dir, dataDirName))
	for _, t := range trashDirs(e.dir) {
		e.removeTree(t)
	}
	e.syncDir()
	e.remove(filepath.Join(e.dir, eraseFileName))
	e.syncDir()
	e.release()
}

// release closes, on a goroutine of its own that ends when it has closed
// them, the data files removeTree kept open: the file system frees their
// blocks at that last close. It waits until the unlock's padding is over
// (e.after) and closes one file at a time, so freeing a large vault's
// blocks neither delays the answer to the PIN nor stalls the next writes
// all at once. The names are already gone and the data was noise since
// the key slots were destroyed; if the process ends first, the kernel
// closes and frees them.
func (e *eraser) release() {
	held, after := e.held, e.after
	e.held = nil
	if len(held) == 0 {
		return
	}
	go func() {
		time.Sleep(time.Until(after))
		for i, f := range held {
			if i > 0 {
				time.Sleep(releasePause)
			}
			f.Close()
		}
	}()
}

// releasePause spaces the closes of an erased vault's files (tuning).
const releasePause = 20 * time.Millisecond

// keys is §7.1 steps 1–2: it renames the key file to vault.erase, which
// marks an erase in progress until contents removes it last, overwrites
// it (and any temporary copy of the key file) in place with random bytes
// and fsyncs it, then unlinks the temporary copy and the state file and
// fsyncs the directory. After the first overwrite the data key exists
// nowhere on disk.
func (e *eraser) keys() {
	key, marker := filepath.Join(e.dir, keyFileName), filepath.Join(e.dir, eraseFileName)
	if _, err := os.Lstat(key); err == nil {
		if err := os.Rename(key, marker); err != nil {
			e.fail(fmt.Errorf("vault: marking the erase: %w", err))
		} else {
			e.did()
			e.syncDir()
		}
	}
	for _, p := range []string{marker, key, key + tmpSuffix} {
		fi, err := os.Lstat(p)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				e.fail(unreadable(p, err))
			}
			continue
		}
		if fi.Mode().IsRegular() {
			e.fail(e.overwrite(p, fi.Size()))
		}
		if p != marker {
			e.remove(p)
		}
	}
	for _, name := range []string{stateFileName, stateFileName + tmpSuffix} {
		e.remove(filepath.Join(e.dir, name))
	}
	e.syncDir()
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
// (children first), so that each unlink is a step. The largest regular
// files, at most maxHeld of at least heldMinSize bytes, are opened before
// their unlink and kept open (e.held): the unlink then only removes the
// name, and the file system frees the blocks when release closes the
// file. Freeing them inside the unlink takes hundreds of milliseconds for
// a 1 GB vault on ext4, which a stopwatch would see. The cap keeps a vault
// of many files (thousands of attachments) from running the process out
// of file descriptors; smaller files are freed at their unlink, which
// costs little.
func (e *eraser) removeTree(p string) {
	var items []treeItem
	e.walk(p, &items)
	var big []int
	for i, it := range items {
		if it.regular && it.size >= heldMinSize {
			big = append(big, i)
		}
	}
	sort.SliceStable(big, func(a, b int) bool { return items[big[a]].size > items[big[b]].size })
	room := max(maxHeld-len(e.held), 0)
	for _, i := range big[:min(len(big), room)] {
		items[i].hold = true
	}
	for _, it := range items {
		if it.hold {
			if f, err := os.Open(it.path); err == nil {
				if os.Remove(it.path) == nil {
					e.held = append(e.held, f)
					e.did()
					continue
				}
				f.Close() // a system that cannot unlink an open file
			}
		}
		e.remove(it.path)
	}
}

// Files removeTree keeps open across their unlink (tuning): at most
// maxHeld, of at least heldMinSize bytes each.
const (
	maxHeld     = 128
	heldMinSize = 256 << 10
)

// treeItem is one name under a tree removeTree removes.
type treeItem struct {
	path    string
	regular bool
	size    int64
	hold    bool
}

// walk lists p and everything under it into items, children before their
// directory.
func (e *eraser) walk(p string, items *[]treeItem) {
	fi, err := os.Lstat(p)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			e.fail(unreadable(p, err))
		}
		return
	}
	if fi.IsDir() {
		ents, err := os.ReadDir(p)
		e.fail(err)
		for _, ent := range ents {
			e.walk(filepath.Join(p, ent.Name()), items)
		}
	}
	*items = append(*items, treeItem{path: p, regular: fi.Mode().IsRegular(), size: fi.Size()})
}

// syncDir fsyncs the profile directory; a failure is kept apart from the
// other failures (undone), as the unlinks before it were done.
func (e *eraser) syncDir() {
	if err := syncDir(e.dir); err != nil {
		e.syncErrs = append(e.syncErrs, err)
	}
	e.did()
}

// dataFiles counts the names in the data directory and in its badger and
// files directories, which the erase removes one by one (§7.1 step 3).
// It reads names only.
func dataFiles(dir string) int {
	data := filepath.Join(dir, dataDirName)
	n := 0
	for _, d := range []string{data, filepath.Join(data, badgerDirName), filepath.Join(data, filesDirName)} {
		f, err := os.Open(d)
		if err != nil {
			continue
		}
		names, _ := f.Readdirnames(-1)
		f.Close()
		n += len(names)
	}
	return n
}

// notWritten is the error of a duress unlock whose erase failed, as the
// user (and whoever stands over them) reads it: the disk's own error and
// nothing that names the erase or its files (spec/vault.md §7.2).
func notWritten(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Errorf("vault: the disk could not be written (%w)", errno)
	}
	return errors.New("vault: the disk could not be written")
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
	_, err := os.Lstat(e.dir)
	kept := !errors.Is(err, fs.ErrNotExist)
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

// leftovers reports whether dir holds the remains of a vault that an
// interrupted erase or create left (§7.1): the erase marker, or, with no
// key file at all, any of the vault's files (without the key file they are
// noise). A key file, readable or not, always means a vault: damage is
// reported, never erased. A name that cannot be told present or absent
// (the disk fails to read it) is an error, never taken for a missing file.
func leftovers(dir string) (bool, error) {
	marker, err := present(filepath.Join(dir, eraseFileName))
	if err != nil || marker {
		return marker, err
	}
	key, err := present(filepath.Join(dir, keyFileName))
	if err != nil || key {
		return false, err
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, unreadable(dir, err)
	}
	for _, ent := range ents {
		if ownedName(ent.Name()) {
			return true, nil
		}
	}
	return false, nil
}

// ownedName reports whether name is a file the vault puts in its profile
// directory (spec/vault.md §1), including what an interrupted write or an
// older version's erase may leave.
func ownedName(name string) bool {
	switch name {
	case keyFileName, eraseFileName, stateFileName, lockFileName, dataDirName,
		keyFileName + tmpSuffix, stateFileName + tmpSuffix:
		return true
	}
	return strings.HasPrefix(name, trashPrefix)
}
