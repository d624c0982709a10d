//go:build !unix

package vault

import (
	"errors"
	"fmt"
	"os"
)

// profileLock on systems without flock: an exclusively created lock file.
// A crash leaves the file behind; the error tells the user what to remove.
type profileLock struct {
	name string
}

func lockProfile(name string) (*profileLock, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%w (remove %s if no veil is running)", ErrBusy, name)
		}
		return nil, fmt.Errorf("vault: creating lock file: %w", err)
	}
	f.Close()
	return &profileLock{name: name}, nil
}

func (l *profileLock) release() {
	if l == nil || l.name == "" {
		return
	}
	os.Remove(l.name)
	l.name = ""
}

// unlink removes the lock file, which on these systems is the lock itself
// (an erase, spec/vault.md §7.1 step 4), and reports whether it did.
func (l *profileLock) unlink() bool {
	if l == nil || l.name == "" {
		return false
	}
	err := os.Remove(l.name)
	l.name = ""
	return err == nil
}
