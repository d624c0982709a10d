package daemon

import (
	"testing"

	"veil/daemon/rpc"
)

// TestReactAndReplyParams: react needs a chat and a message; a reaction
// that is not one character, a reply or reaction naming no message of
// the chat, fail with the engine's kinds.
func TestReactAndReplyParams(t *testing.T) {
	s, _ := unlockedServer(t, Config{}, "")
	c := pipe(t, s)
	wantCode(t, do(t, c, "react", map[string]any{"chat": "x"}, nil), rpc.CodeInvalidParams, "bad_params")
	wantCode(t, do(t, c, "react", map[string]any{"chat": "x", "id": "1", "reaction": "👍", "extra": 1}, nil), rpc.CodeInvalidParams, "bad_params")
	wantCode(t, do(t, c, "react", map[string]any{"chat": "x", "id": "1", "reaction": "\u202eab"}, nil), rpc.CodeFailed, "bad_input")
	wantCode(t, do(t, c, "react", map[string]any{"chat": "nochat", "id": "1", "reaction": "👍"}, nil), rpc.CodeFailed, "no_chat")
	wantCode(t, do(t, c, "send", map[string]any{"chat": "nochat", "text": "hi", "reply": "1"}, nil), rpc.CodeFailed, "no_chat")
}
