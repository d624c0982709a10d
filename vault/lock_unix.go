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
	f *os.File
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
	return &profileLock{f: f}, nil
}

func (l *profileLock) release() {
	if l == nil || l.f == nil {
		return
	}
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}
