package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// raiseFileLimit raises this process's open-file limit as far as it may:
// to the kernel's ceiling (fs.nr_open) where the process is allowed to
// raise its hard limit, else to the hard limit. Idle mode holds one
// descriptor per connection.
func raiseFileLimit(stderr io.Writer) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if ceil, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && ceil > lim.Max {
			up := syscall.Rlimit{Cur: ceil, Max: ceil}
			if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up) == nil {
				return ceil
			}
		}
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			fmt.Fprintf(stderr, "veil-load: raising the open-file limit: %v\n", err)
		}
	}
	return lim.Cur
}
