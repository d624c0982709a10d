package vault

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"veil/crypto"
)

// ErrFileExists is returned by WritePlain when the target exists and
// force is not set. The error WritePlain returns also matches ErrExists.
var ErrFileExists = errors.New("vault: the file exists")

// existsError is WritePlain's refusal: it names the file and matches both
// ErrFileExists and ErrExists.
type existsError struct{ name string }

func (e *existsError) Error() string { return "vault: " + e.name + " exists" }

func (e *existsError) Is(target error) bool { return target == ErrFileExists || target == ErrExists }

// WritePlain writes a file the user asked for in plain (a saved
// attachment), the only plaintext veil writes outside the vault
// (spec/files.md §7.3). fill writes the content into a new temporary file
// (mode 0600, created exclusively beside path), which is synced and then
// linked to path, so path never holds a partial file. Without force an
// existing path (a symlink included, even a dangling one) is refused with
// an error matching ErrFileExists; with force the temporary file is
// renamed over it, replacing a symlink itself, never writing through it.
// A path naming a directory is refused. On a file system without hard
// links the no-overwrite case checks and renames, which a concurrent
// writer could race.
func WritePlain(path string, force bool, fill func(io.Writer) error) error {
	name := filepath.Base(path)
	if fi, err := os.Lstat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("vault: %s is a directory", name)
	}
	dir := filepath.Dir(path)
	var raw [8]byte
	if err := crypto.RandomBytes(nil, raw[:]); err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".veil-"+hex.EncodeToString(raw[:])+tmpSuffix)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("vault: writing %s: %w", name, err)
	}
	defer os.Remove(tmp) // after a link, or a failure; a no-op after a rename
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("vault: writing %s: %w", name, err)
	}
	if force {
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("vault: replacing %s: %w", name, err)
		}
		return syncDir(dir)
	}
	switch err := os.Link(tmp, path); {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		return &existsError{name: name}
	default:
		// No hard links here (some removable media): check, then rename.
		if _, lerr := os.Lstat(path); lerr == nil {
			return &existsError{name: name}
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("vault: writing %s: %w", name, err)
		}
	}
	return syncDir(dir)
}
