//go:build unix

package badger

import (
	"io/fs"
	"path/filepath"
	"syscall"
)

// dirUsage returns the bytes allocated on disk to the files under dir.
// Badger maps its write-ahead and value logs with a large sparse size, so
// the allocated blocks, not the apparent sizes, measure what is used.
func dirUsage(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += info.Size()
		}
		return nil
	})
	return n, err
}
