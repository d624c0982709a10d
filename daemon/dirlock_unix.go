//go:build unix

package daemon

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDir takes an exclusive advisory lock (flock) on the profile
// directory itself for as long as a server listens there, so that two
// servers starting at once cannot both replace a leftover socket: the
// second is told one runs. The kernel drops the lock when the process
// ends, however it ends. Locking the directory, not a file in it, leaves
// nothing behind in the profile.
func lockDir(dir string) (*os.File, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		d.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrRunning
		}
		return nil, fmt.Errorf("daemon: locking the profile directory: %w", err)
	}
	return d, nil
}
