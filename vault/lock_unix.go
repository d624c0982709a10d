//go:build unix

package vault

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// profileLock is an exclusive advisory lock (flock) on the profile's lock
// file, held from the start of Open or Create until Lock. It guards the key
// file and state file, which are touched before Badger (which has its own
// directory lock) is opened.
type profileLock struct {
	f    *os.File
	name string
}

func lockProfile(name string) (*profileLock, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("vault: opening lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrBusy
		}
		return nil, fmt.Errorf("vault: locking profile: %w", err)
	}
	return &profileLock{f: f, name: name}, nil
}

func (l *profileLock) release() {
	if l == nil || l.f == nil {
		return
	}
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}

// unlink removes the lock file while the lock is still held (an erase,
// spec/vault.md §7.1 step 4) and reports whether it did. A process that
// opens the name afterwards gets a new file and a lock of its own, but
// then finds no vault.
func (l *profileLock) unlink() bool {
	if l == nil || l.f == nil || l.name == "" {
		return false
	}
	err := os.Remove(l.name)
	l.name = ""
	return err == nil
}
