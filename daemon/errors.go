package daemon

import (
	"errors"

	"veil/client"
	"veil/daemon/rpc"
)

var errLocked = errors.New("daemon: locked")

// explain says err in the user's words.
func explain(err error) client.Problem { return client.Explain(err) }

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
	var ke *kindError
	if errors.As(err, &ke) {
		detail := err.Error()
		if ke.err != nil {
			detail = ke.err.Error()
		}
		return &rpc.Error{Code: rpc.CodeFailed, Message: ke.msg, Data: &rpc.ErrorData{Kind: ke.kind, Detail: detail}}
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
