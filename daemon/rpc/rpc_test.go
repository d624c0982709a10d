package rpc

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		line string
		code int
	}{
		{`not json`, CodeParse},
		{`{"jsonrpc":"2.0","id":1,"method":"x"} {}`, CodeParse},
		{`{"jsonrpc":"2.0","id":1,"method":"x"`, CodeParse},
		{`[{"jsonrpc":"2.0","id":1,"method":"x"}]`, CodeParse},
		{`{"id":1,"method":"x"}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":true,"method":"x"}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":""}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"x","params":"s"}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"x","result":1}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","result":1}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"m"}}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"` + strings.Repeat("a", MaxLine) + `"}`, CodeParse},
	} {
		_, err := Parse([]byte(tc.line))
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%.60s: err %v, want a ParseError", tc.line, err)
			continue
		}
		if pe.Code() != tc.code {
			t.Errorf("%.60s: code %d, want %d (%v)", tc.line, pe.Code(), tc.code, err)
		}
	}
}

func TestParseKeepsIDOfInvalidRequest(t *testing.T) {
	_, err := Parse([]byte(`{"jsonrpc":"1.0","id":"abc","method":"x"}`))
	var pe *ParseError
	if !errors.As(err, &pe) || string(pe.ID) != `"abc"` {
		t.Fatalf("got %v, id %q", err, pe.ID)
	}
}

func TestRoundTrip(t *testing.T) {
	b, err := MarshalRequest([]byte("12"), "send", map[string]string{"chat": "c", "text": "hi\nthere"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), "\n") != 1 || b[len(b)-1] != '\n' {
		t.Fatalf("not one line: %q", b)
	}
	m, err := Parse(b)
	if err != nil || m.Method != "send" || string(m.ID) != "12" || m.IsNotification() {
		t.Fatalf("%+v %v", m, err)
	}
	var p struct{ Chat, Text string }
	if err := DecodeParams(m.Params, &p); err != nil || p.Text != "hi\nthere" {
		t.Fatalf("%+v %v", p, err)
	}
	var q struct{ Chat string }
	if err := DecodeParams(m.Params, &q); err == nil {
		t.Fatal("an unknown parameter was accepted")
	}
	r, err := MarshalResponse(m.ID, nil, &Error{Code: CodeFailed, Message: "no chat named c", Data: &ErrorData{Kind: "no_chat"}})
	if err != nil {
		t.Fatal(err)
	}
	rm, err := Parse(r)
	if err != nil || !rm.IsResponse() || rm.Error == nil || rm.Error.Data.Kind != "no_chat" {
		t.Fatalf("%+v %v", rm, err)
	}
}
