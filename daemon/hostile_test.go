package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"veil/client"
	"veil/daemon/rpc"
)

// rawConn is a connection to the API socket in dir that writes lines as
// given and reads answers as they come.
type rawConn struct {
	tb testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(tb testing.TB, dir string) *rawConn {
	tb.Helper()
	c, err := net.Dial("unix", filepath.Join(dir, SocketName))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(2 * waitLimit))
	return &rawConn{tb: tb, c: c, br: bufio.NewReaderSize(c, 1<<16)}
}

func (r *rawConn) write(line string) {
	r.tb.Helper()
	if _, err := io.WriteString(r.c, line+"\n"); err != nil {
		r.tb.Fatal(err)
	}
}

// answer reads the next line, which must be a response.
func (r *rawConn) answer() (rpc.Response, string) {
	r.tb.Helper()
	line, err := r.br.ReadString('\n')
	if err != nil {
		r.tb.Fatalf("no answer: %v", err)
	}
	var resp rpc.Response
	if err := json.Unmarshal([]byte(line), &resp); err != nil || resp.JSONRPC != "2.0" {
		r.tb.Fatalf("answer %q: %v", line, err)
	}
	return resp, line
}

// wantError sends line and checks it is answered with code and id.
func (r *rawConn) wantError(line string, code int, id string) rpc.Response {
	r.tb.Helper()
	r.write(line)
	resp, raw := r.answer()
	if resp.Error == nil || resp.Error.Code != code || string(resp.ID) != id {
		r.tb.Fatalf("%q answered %q, want error %d with id %s", line, raw, code, id)
	}
	return resp
}

// TestHostileInput: whatever a client writes, the server answers it with
// the right error, shows none of it raw, and stays usable.
func TestHostileInput(t *testing.T) {
	p := newTestProfile(t, t.TempDir(), "", nil, client.CreateOptions{})
	s := New(Config{Profile: p, UID: -1})
	dir := t.TempDir()
	serve(t, s, dir)
	r := dialRaw(t, dir)

	r.wantError("this is not json", rpc.CodeParse, "null")
	r.wantError(`[{"jsonrpc":"2.0","id":1,"method":"status"}]`, rpc.CodeParse, "null")
	r.wantError(`{"jsonrpc":"2.0","id":1,"method":"status"} {"x":1}`, rpc.CodeParse, "null")
	r.wantError(`{"jsonrpc":"2.0","id":{"a":1},"method":"status"}`, rpc.CodeInvalidRequest, "null")
	r.wantError(`{"jsonrpc":"2.0","id":[1],"method":"status"}`, rpc.CodeInvalidRequest, "null")
	r.wantError(`{"jsonrpc":"2.0","id":3,"method":"status","params":"now"}`, rpc.CodeInvalidRequest, "3")
	r.wantError(`{"jsonrpc":"2.0","id":4,"method":"status","params":17}`, rpc.CodeInvalidRequest, "4")
	r.wantError(`{"jsonrpc":"1.0","id":5,"method":"status"}`, rpc.CodeInvalidRequest, "5")
	r.wantError(`{"jsonrpc":"2.0","id":6,"method":""}`, rpc.CodeInvalidRequest, "6")
	r.wantError(`{"jsonrpc":"2.0","id":7,"method":"status","params":{"verbose":true}}`, rpc.CodeInvalidParams, "7")
	r.wantError(`{"jsonrpc":"2.0","id":8,"method":"unlock","params":{"pin":"1","also":"2"}}`, rpc.CodeInvalidParams, "8")
	r.wantError(`{"jsonrpc":"2.0","id":9,"method":"unlock","params":{"pin":12}}`, rpc.CodeInvalidParams, "9")

	// A method name that would drive a terminal comes back defused.
	evil := "chats\x1b]0;owned\x07\x1b[2J\u202e" + strings.Repeat("x", 200)
	name, _ := json.Marshal(evil)
	resp := r.wantError(fmt.Sprintf(`{"jsonrpc":"2.0","id":"e","method":%s}`, name), rpc.CodeNoMethod, `"e"`)
	if strings.ContainsAny(resp.Error.Message, "\x1b\x07\u202e") || len(resp.Error.Message) > 200 {
		t.Fatalf("the unknown method came back raw: %q", resp.Error.Message)
	}

	// A notification is not answered, even a bad one; a response from the
	// client is ignored.
	r.write(`{"jsonrpc":"2.0","method":"nope"}`)
	r.write(`{"jsonrpc":"2.0","id":1,"result":{}}`)
	r.write(`{"jsonrpc":"2.0","id":"after","method":"status"}`)
	if resp, raw := r.answer(); resp.Error != nil || string(resp.ID) != `"after"` {
		t.Fatalf("after a notification and a response: %s", raw)
	}

	// A thousand garbage lines in a row, answered one by one.
	const n = 1000
	go func() {
		var b strings.Builder
		for i := range n {
			switch i % 5 {
			case 0:
				fmt.Fprintf(&b, "garbage %d\n", i)
			case 1:
				fmt.Fprintf(&b, "[%d]\n", i)
			case 2:
				fmt.Fprintf(&b, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"no.such.%d\"}\n", i, i)
			case 3:
				fmt.Fprintf(&b, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"chats\"}\n", i)
			case 4:
				fmt.Fprintf(&b, "{\"id\":%d,\"method\":\n", i)
			}
		}
		io.WriteString(r.c, b.String())
	}()
	for i := range n {
		resp, raw := r.answer()
		if resp.Error == nil {
			t.Fatalf("garbage line %d answered %s", i, raw)
		}
		if i%5 == 2 || i%5 == 3 {
			if string(resp.ID) != fmt.Sprint(i) {
				t.Fatalf("line %d answered as %s", i, resp.ID)
			}
		}
	}
	r.write(`{"jsonrpc":"2.0","id":"ok","method":"status"}`)
	if resp, raw := r.answer(); resp.Error != nil || string(resp.ID) != `"ok"` {
		t.Fatalf("after the garbage: %s", raw)
	}

	// A line over the limit is answered, then the connection ends.
	long := dialRaw(t, dir)
	go func() {
		long.c.Write(bytes.Repeat([]byte("a"), rpc.MaxLine+100))
		long.c.Write([]byte("\n"))
	}()
	resp, raw := long.answer()
	if resp.Error == nil || resp.Error.Code != rpc.CodeParse {
		t.Fatalf("a line over the limit answered %s", raw)
	}
	if rest, err := io.ReadAll(long.br); len(rest) != 0 || err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after a line over the limit: %q %v; want the connection closed", rest, err)
	}

	// A good client is served as before.
	var st Status
	must(t, dial(t, dir), "status", nil, &st)
	if !st.Locked {
		t.Fatalf("status %+v", st)
	}
}

// refusingProfile refuses every PIN and erases nothing: a locked server
// for the fuzz target, at no cost per input.
type refusingProfile struct{}

func (refusingProfile) Unlock(context.Context, []byte, chan<- client.Event) (*Session, error) {
	return nil, fmt.Errorf("daemon test: %w", client.ErrUnlockPIN)
}
func (refusingProfile) Erase(context.Context) error { return nil }
func (refusingProfile) Backup(context.Context, *client.Engine, string, []byte) error {
	return errors.New("daemon test: no backup in tests")
}

// FuzzServeConn: whatever bytes a client sends a locked server, it
// neither panics nor hangs: it answers, then a last call, or ends the
// connection.
func FuzzServeConn(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"status"}`,
		`{"jsonrpc":"2.0","id":1,"method":"unlock","params":{"pin":"1234"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"after":3}}` + "\n" + `{"jsonrpc":"2.0","method":"lock"}`,
		`{"jsonrpc":"2.0","id":1,"method":"erase"}`,
		"[1]\nnot json\n{\"id\":{}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\x1b[2J\"}",
		`{"jsonrpc":"2.0","id":1,"result":null}`,
		"\n\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s := New(Config{Profile: refusingProfile{}, UID: -1})
		a, b := net.Pipe()
		served := make(chan struct{})
		go func() { s.ServeConn(a); close(served) }()
		b.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			b.Write(in)
			b.Write([]byte("\n{\"jsonrpc\":\"2.0\",\"id\":\"last call\",\"method\":\"status\"}\n"))
		}()
		br := bufio.NewReader(b)
		for {
			line, err := br.ReadBytes('\n')
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("the server hung")
			}
			if err != nil || bytes.Contains(line, []byte(`"id":"last call"`)) {
				break
			}
		}
		b.Close()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Fatal("the connection was not let go")
		}
		s.Shutdown()
	})
}
