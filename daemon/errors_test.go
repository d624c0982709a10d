package daemon

import (
	"errors"
	"fmt"
	"testing"

	"veil/client"
	"veil/daemon/rpc"
)

// TestErrorKinds: a failure a client branches on keeps its kind through
// the wrapping around it, and the back-off says how long to wait.
func TestErrorKinds(t *testing.T) {
	s := New(Config{})
	for _, c := range []struct {
		err  error
		kind string
	}{
		{fmt.Errorf("opening: %w", client.ErrErased), "erased"},
		{client.ErrNoProfile, "no_profile"},
		{client.ErrUnlockPIN, "wrong_pin"},
		{client.ErrBusy, "busy"},
		{fmt.Errorf("join: %w", client.ErrInviteUsed), "invite_used"},
		{client.ErrNoChat, "no_chat"},
		{errors.New("disk on fire"), "internal"},
	} {
		e := s.rpcError(c.err)
		if e.Code != rpc.CodeFailed || e.Data == nil || e.Data.Kind != c.kind {
			t.Errorf("%v: got %+v %+v, want kind %q", c.err, e, e.Data, c.kind)
		}
	}
	e := s.rpcError(fmt.Errorf("open: %w", &client.BackoffError{Wait: 4e9}))
	if e.Code != rpc.CodeBackoff || e.Data.Kind != "backoff" || e.Data.RetryAfter != 4 {
		t.Errorf("back-off: got %+v %+v", e, e.Data)
	}
}
