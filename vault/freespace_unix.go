//go:build linux || darwin || freebsd

package vault

import (
	"fmt"
	"math"

	"golang.org/x/sys/unix"
)

// freeSpace asks statfs about the filesystem holding dir.
func freeSpace(dir string) (avail, total int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("vault: free space: %w", err)
	}
	bs := uint64(st.Bsize)
	return clampInt64(uint64(st.Bavail), bs), clampInt64(uint64(st.Blocks), bs), nil
}

// clampInt64 is n*bs, or MaxInt64 where that overflows.
func clampInt64(n, bs uint64) int64 {
	if bs != 0 && n > math.MaxInt64/bs {
		return math.MaxInt64
	}
	return int64(n * bs)
}
