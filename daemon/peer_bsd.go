//go:build darwin || freebsd

package daemon

import (
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	syscallEADDRINUSE   = syscall.EADDRINUSE
	syscallECONNREFUSED = syscall.ECONNREFUSED
)

// checkPeer refuses a connection whose process does not run as uid
// (getpeereid on the BSDs and macOS).
func checkPeer(c *net.UnixConn, uid int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Xucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("reading the peer's credentials: %w", cerr)
	}
	if int(cred.Uid) != uid {
		return fmt.Errorf("a process of user %d (only user %d may connect)", cred.Uid, uid)
	}
	return nil
}
