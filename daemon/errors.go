package daemon

import (
	"errors"
	"strings"

	"veil/client"
	"veil/daemon/rpc"
)

var errLocked = errors.New("daemon: locked")

// problem is an error in the user's words.
type problem struct{ Kind, Message string }

// kindOf names the failures a client branches on (spec/api.md §3.1);
// any other failure is "internal".
func kindOf(err error) string {
	switch {
	case errors.Is(err, client.ErrErased):
		return "erased"
	case errors.Is(err, client.ErrNoProfile):
		return "no_profile"
	case errors.Is(err, client.ErrBackoff):
		return "backoff"
	case errors.Is(err, client.ErrUnlockPIN):
		return "wrong_pin"
	case errors.Is(err, client.ErrBusy):
		return "busy"
	case errors.Is(err, client.ErrInviteUsed):
		return "invite_used"
	case errors.Is(err, client.ErrBadInviteKey):
		return "bad_invite_key"
	case errors.Is(err, client.ErrNoChat):
		return "no_chat"
	case errors.Is(err, client.ErrNoMessage):
		return "no_message"
	case errors.Is(err, client.ErrNotJoined):
		return "not_joined"
	case errors.Is(err, client.ErrNoRelay):
		return "no_relay"
	case errors.Is(err, client.ErrGroupRemoved):
		return "group_removed"
	case errors.Is(err, client.ErrGroupWaiting):
		return "group_waiting"
	case errors.Is(err, client.ErrGroupTimer):
		return "group_timer"
	}
	return "internal"
}

// explain says err in the user's words, with its kind.
func explain(err error) problem {
	msg := err.Error()
	for {
		i := strings.Index(msg, ": ")
		if i < 0 || strings.ContainsAny(msg[:i], " \t") {
			break
		}
		msg = msg[i+2:]
	}
	return problem{Kind: kindOf(err), Message: msg}
}

// rpcError turns a method's error into the API's (spec/api.md §3): a
// message in the user's words, its kind, and the detail as the program
// saw it.
func (s *Server) rpcError(err error) *rpc.Error {
	if err == nil {
		return nil
	}
	var pe *paramError
	if errors.As(err, &pe) {
		return &rpc.Error{Code: rpc.CodeInvalidParams, Message: pe.msg, Data: &rpc.ErrorData{Kind: "bad_params"}}
	}
	var ge *gapError
	if errors.As(err, &ge) {
		return &rpc.Error{Code: rpc.CodeGap, Message: ge.msg, Data: &rpc.ErrorData{Kind: "gap"}}
	}
	if errors.Is(err, errLocked) {
		return lockedError()
	}
	p := explain(err)
	e := &rpc.Error{Code: rpc.CodeFailed, Message: p.Message, Data: &rpc.ErrorData{Kind: p.Kind, Detail: err.Error()}}
	var be *client.BackoffError
	if errors.As(err, &be) {
		e.Code = rpc.CodeBackoff
		e.Data.RetryAfter = be.Wait.Seconds()
	}
	return e
}
