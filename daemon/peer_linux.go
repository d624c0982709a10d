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

// checkPeer refuses a connection whose process does not run as uid, by
// the credentials the kernel recorded when it connected (SO_PEERCRED).
func checkPeer(c *net.UnixConn, uid int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
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
