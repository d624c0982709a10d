package main

import (
	"os"
	"syscall"
)

// datasync is fdatasync(2), as the relay's journal syncs its appends.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
