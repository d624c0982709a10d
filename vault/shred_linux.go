package vault

import (
	"os"

	"golang.org/x/sys/unix"
)

// dataRegions returns the [start, end) ranges of f's first n bytes that
// hold data, skipping holes (lseek SEEK_DATA and SEEK_HOLE). Where the
// file system cannot tell, the whole file is data.
func dataRegions(f *os.File, n int64) [][2]int64 {
	var out [][2]int64
	fd := int(f.Fd())
	for off := int64(0); off < n; {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err == unix.ENXIO {
			break // no data from off on
		}
		if err != nil {
			return [][2]int64{{0, n}}
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			return [][2]int64{{0, n}}
		}
		end = min(end, n)
		if start >= end {
			break
		}
		out = append(out, [2]int64{start, end})
		off = end
	}
	return out
}
