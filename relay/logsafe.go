package relay

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
)

// addressless returns err's text without the network addresses a
// *net.OpError inside it names ("read tcp 127.0.0.1:7070->10.0.0.5:51234:
// connection reset by peer" becomes "read: connection reset by peer"):
// the relay's logs hold no client address (spec/relay.md §9). Of the
// network error it keeps the operation and the system's error number
// (or "i/o timeout"), nothing else.
func addressless(err error) string {
	if err == nil {
		return ""
	}
	text := err.Error()
	var op *net.OpError
	if !errors.As(err, &op) {
		return text
	}
	prefix, _, _ := strings.Cut(text, op.Error())
	cause := "network error"
	var errno syscall.Errno
	switch {
	case errors.As(op.Err, &errno):
		cause = errno.Error()
	case errors.Is(op.Err, os.ErrDeadlineExceeded):
		cause = "i/o timeout"
	}
	return prefix + op.Op + ": " + cause
}
