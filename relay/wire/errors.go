package wire

import (
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every decoding error: the input did not have
// the layout spec/relay.md defines.
var ErrMalformed = errors.New("wire: malformed input")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// Code is an error code carried by ERR (spec/relay.md §10).
type Code uint16

// Error codes (§10).
const (
	CodeMalformed      Code = 1
	CodeUnknown        Code = 2
	CodeAuth           Code = 3
	CodeNotFound       Code = 4
	CodeExists         Code = 5
	CodeAlreadySecured Code = 6
	CodeNotSecured     Code = 7
	CodeQuota          Code = 8
	CodeStorageFull    Code = 9
	CodeBadSize        Code = 10
	CodePassword       Code = 11
	CodeRate           Code = 12
	CodeInternal       Code = 13
	CodeShutdown       Code = 14
	CodeLoop           Code = 15 // §7.6: the destination is the forwarder itself
	CodeUnreachable    Code = 16 // §7.6: the forwarder cannot reach the destination
	CodeStale          Code = 17 // §7.6: expired forward key or a time too far off
	CodeNoForward      Code = 18 // §7.6: the destination does not take forwarded items
)

var codeNames = [...]string{
	CodeMalformed:      "MALFORMED",
	CodeUnknown:        "UNKNOWN",
	CodeAuth:           "AUTH",
	CodeNotFound:       "NOT_FOUND",
	CodeExists:         "EXISTS",
	CodeAlreadySecured: "ALREADY_SECURED",
	CodeNotSecured:     "NOT_SECURED",
	CodeQuota:          "QUOTA",
	CodeStorageFull:    "STORAGE_FULL",
	CodeBadSize:        "BAD_SIZE",
	CodePassword:       "PASSWORD",
	CodeRate:           "RATE",
	CodeInternal:       "INTERNAL",
	CodeShutdown:       "SHUTDOWN",
	CodeLoop:           "LOOP",
	CodeUnreachable:    "UNREACHABLE",
	CodeStale:          "STALE",
	CodeNoForward:      "NOFORWARD",
}

// String returns the spec's name of the code.
func (c Code) String() string {
	if int(c) < len(codeNames) && codeNames[c] != "" {
		return codeNames[c]
	}
	return fmt.Sprintf("CODE_%d", uint16(c))
}

// Error is an ERR reply as a Go error, so that callers can branch with
// errors.As or errors.Is against a Code-carrying Error value.
type Error struct {
	Code Code
}

func (e *Error) Error() string { return "wire: relay error " + e.Code.String() }

// Is makes errors.Is(err, &Error{Code: c}) match any Error with code c.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// IsCode reports whether err is, or wraps, an ERR reply with code c.
func IsCode(err error, c Code) bool { return errors.Is(err, &Error{Code: c}) }
