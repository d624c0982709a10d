package relay

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"regexp"
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

// addrText matches an IPv4 address or a bracketed IPv6 address, with or
// without a port, as net/http writes a peer's address into its messages.
var addrText = regexp.MustCompile(`\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b|\[[0-9A-Fa-f:.%\w-]+\](:\d+)?`)

// httpErrorLog receives net/http's own messages ("http: TLS handshake
// error from 10.0.0.5:51234: …", "http: panic serving …") and logs them at
// debug level with every address replaced, so the relay's logs hold no
// client address (spec/relay.md §9).
type httpErrorLog struct{ log *slog.Logger }

func (w httpErrorLog) Write(p []byte) (int, error) {
	msg := addrText.ReplaceAllString(strings.TrimSpace(string(p)), "(address)")
	w.log.Log(context.Background(), slog.LevelDebug, msg)
	return len(p), nil
}
