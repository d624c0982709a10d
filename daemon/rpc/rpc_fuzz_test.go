package rpc

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse: any line parses or is refused with a *ParseError; a parsed
// request survives a round trip through MarshalRequest.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"chats"}`,
		`{"jsonrpc":"2.0","id":"a","method":"send","params":{"chat":"x","text":"hi"}}`,
		`{"jsonrpc":"2.0","method":"event","params":{"seq":3}}`,
		`{"jsonrpc":"2.0","id":7,"result":[]}`,
		`{"jsonrpc":"2.0","id":7,"error":{"code":2,"message":"m","data":{"kind":"no_chat"}}}`,
		`{"jsonrpc":"1.0","id":1,"method":"x"}`, `[1,2]`, `{}`, `{"jsonrpc":"2.0","id":{},"method":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := Parse(line)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError", err)
			}
			return
		}
		if m.IsResponse() {
			return
		}
		var params any
		if len(m.Params) > 0 {
			params = m.Params
		}
		b, err := MarshalRequest(m.ID, m.Method, params)
		if err != nil {
			if errors.Is(err, ErrTooLong) {
				return
			}
			t.Fatal(err)
		}
		m2, err := Parse(bytes.TrimSuffix(b, []byte("\n")))
		if err != nil {
			t.Fatalf("round trip of %q: %v", b, err)
		}
		if m2.Method != m.Method || !bytes.Equal(m2.ID, m.ID) {
			t.Fatalf("round trip changed %q into %q", line, b)
		}
	})
}
