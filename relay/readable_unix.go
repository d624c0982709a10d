//go:build unix

package relay

import "syscall"

// socketReadable reports whether socket fd has bytes to read or has
// failed (either way a read would not wait); false means a read would
// block. It reads nothing.
func socketReadable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
}
