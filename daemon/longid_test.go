package daemon

import (
	"strings"
	"testing"

	"veil/client"
	"veil/daemon/rpc"
)

// TestHugeIDIsAnswered attacks spec/api.md §2-§3: every call is answered,
// in order. A call whose id is a string that fills the line to its bound
// would have an answer, echoing the id, past the bound: the server must
// still answer it (refusing the id as too long), or the client waits for
// an answer that never comes and reads the next call's answer in its
// place.
func TestHugeIDIsAnswered(t *testing.T) {
	p := newTestProfile(t, t.TempDir(), "", nil, client.CreateOptions{})
	s := New(Config{Profile: p, UID: -1})
	dir := t.TempDir()
	serve(t, s, dir)
	r := dialRaw(t, dir)
	id := `"` + strings.Repeat("x", rpc.MaxLine-len(`{"jsonrpc":"2.0","id":"","method":"status"}`)) + `"`
	r.write(`{"jsonrpc":"2.0","id":` + id + `,"method":"status"}`)
	r.write(`{"jsonrpc":"2.0","id":2,"method":"status"}`)
	resp, _ := r.answer()
	if string(resp.ID) == "2" {
		t.Fatal("the call with the long id got no answer: the next call's answer came first")
	}
	if resp.Error == nil || resp.Error.Code != rpc.CodeInvalidRequest {
		t.Fatalf("the call with the long id: error %+v, want -32600", resp.Error)
	}
	if resp, _ = r.answer(); string(resp.ID) != "2" || resp.Error != nil {
		t.Fatalf("the next call: id %s, error %+v", resp.ID, resp.Error)
	}

	// The longest id accepted is echoed.
	id = `"` + strings.Repeat("y", rpc.MaxID-2) + `"`
	r.write(`{"jsonrpc":"2.0","id":` + id + `,"method":"status"}`)
	if resp, _ = r.answer(); string(resp.ID) != id || resp.Error != nil {
		t.Fatalf("an id of %d bytes: id %.20s…, error %+v", rpc.MaxID, resp.ID, resp.Error)
	}
}
