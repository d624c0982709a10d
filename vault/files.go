package vault

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Profile layout, spec/vault.md §1.
const (
	keyFileName   = "vault.key"
	eraseFileName = "vault.erase" // the key file while an erase runs (§7.1)
	stateFileName = "vault.state"
	lockFileName  = "vault.lock"
	dataDirName   = "data"    // Badger and the chat-key table live under it
	badgerDirName = "badger"  // inside data/
	trashPrefix   = ".trash-" // left only by an erase of an earlier version
	tmpSuffix     = ".tmp"
)

// writeFileAtomic writes b to name through a temporary file in the same
// directory: write, fsync, rename over name, fsync the directory. A crash
// leaves either the old or the new file, never a mix.
func writeFileAtomic(name string, b []byte) error {
	tmp := name + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("vault: writing %s: %w", filepath.Base(name), err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("vault: writing %s: %w", filepath.Base(name), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("vault: syncing %s: %w", filepath.Base(name), err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("vault: closing %s: %w", filepath.Base(name), err)
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("vault: replacing %s: %w", filepath.Base(name), err)
	}
	return syncDir(filepath.Dir(name))
}

// syncDir fsyncs a directory so a rename or unlink in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("vault: syncing directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("vault: syncing directory: %w", err)
	}
	return nil
}

// readSmallFile reads a file of at most max bytes; a larger file is corrupt.
func readSmallFile(name string, max int64) ([]byte, error) {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, unreadable(name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, unreadable(name, err)
	}
	if int64(len(b)) > max {
		return nil, corrupt("%s is larger than %d bytes", filepath.Base(name), max)
	}
	return b, nil
}

// trashDirs lists the trash directories an erase of an earlier version
// left behind (it moved the data directory there before removing it).
func trashDirs(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), trashPrefix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// present reports whether name exists. Only a name that is certainly
// absent (fs.ErrNotExist) reads as missing; any other failure (a disk
// that fails to read, a permission changed) is returned as unreadable's
// error, so that nothing is taken for missing, and erased, on a guess.
func present(name string) (bool, error) {
	_, err := os.Lstat(name)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, unreadable(name, err)
}

// unreadable is the error for a profile file that could not be read
// (nor told missing), in the user's words: it names the file, not its
// path.
func unreadable(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("vault: the disk could not be read (%s: %w)", filepath.Base(name), err)
}
