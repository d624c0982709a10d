//go:build !(linux || darwin || freebsd)

package vault

import "errors"

// freeSpace has no way to ask on this system.
func freeSpace(string) (int64, int64, error) {
	return 0, 0, errors.ErrUnsupported
}
