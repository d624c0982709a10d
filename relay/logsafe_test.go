package relay

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestAddresslessDropsAddresses: an error a client's reset or a broken
// pipe produces, wrapped as the WebSocket library wraps it, loses both
// ends' addresses and keeps what happened.
func TestAddresslessDropsAddresses(t *testing.T) {
	src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7070}
	dst := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 51234}
	for _, cause := range []error{syscall.ECONNRESET, syscall.EPIPE, os.ErrDeadlineExceeded} {
		op := &net.OpError{Op: "read", Net: "tcp", Source: src, Addr: dst, Err: &os.SyscallError{Syscall: "read", Err: cause}}
		op2 := &net.OpError{Op: "write", Net: "tcp", Source: src, Addr: dst, Err: fmt.Errorf("write: %w", cause)}
		for _, err := range []error{
			fmt.Errorf("failed to get reader: failed to read frame header: %w", op),
			fmt.Errorf("failed to write msg: failed to flush: %w", op2),
		} {
			got := addressless(err)
			if strings.Contains(got, "127.0.0.1") || strings.Contains(got, "10.0.0.5") || strings.Contains(got, "7070") || strings.Contains(got, "51234") {
				t.Errorf("addressless(%q) = %q: holds an address", err, got)
			}
			if !strings.Contains(got, cause.Error()) {
				t.Errorf("addressless(%q) = %q: lost the cause", err, got)
			}
		}
	}
	if addressless(nil) != "" || addressless(errors.New("plain")) != "plain" {
		t.Error("addressless changed an error with no address")
	}
}
