// Package rpc is the framing of veil's local API: JSON-RPC 2.0 messages,
// one JSON object per line, with the error codes of spec/api.md §3. It is
// pure: it parses and builds lines and does no I/O.
package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Version is the API's version (spec/api.md §1): the "api" field of the
// status result. A client that needs a method of a later version checks it.
const Version = 1

// MaxLine is the longest line either side accepts, newline excluded
// (spec/api.md §2). A longer line is a parse error and ends the connection.
const MaxLine = 1 << 20

// MaxID is the longest id a request may carry, in bytes of its JSON
// (spec/api.md §2): a longer one is refused as an invalid request answered
// with a null id, so that every answer, which echoes the id, fits a line.
const MaxID = 256

// Error codes (spec/api.md §3). The first five are JSON-RPC 2.0's own.
const (
	CodeParse          = -32700 // the line is not a JSON object
	CodeInvalidRequest = -32600 // not a JSON-RPC 2.0 request
	CodeNoMethod       = -32601 // no such method
	CodeInvalidParams  = -32602 // the params do not fit the method
	CodeInternal       = -32603 // a failure the API cannot name
	CodeLocked         = 1      // the profile is locked: only status, unlock, lock and erase answer
	CodeFailed         = 2      // the method ran and failed: data.kind says how
	CodeBackoff        = 3      // too many wrong PINs: data.retry_after seconds
	CodeGap            = 4      // subscribe: the events after the given seq are no longer held
)

// Request is a call (ID set) or a notification (ID absent).
type Request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// Response answers one call: Result or Error, never both.
type Response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

// Error is a JSON-RPC error object. Message is one sentence in the user's
// words; Data, when present, says what kind of failure it was.
type Error struct {
	Code    int        `json:"code"`
	Message string     `json:"message"`
	Data    *ErrorData `json:"data,omitempty"`
}

// ErrorData is the "data" member of an error (spec/api.md §3).
type ErrorData struct {
	// Kind is a stable lower_snake name of the failure (spec/api.md §3.1).
	Kind string `json:"kind,omitempty"`
	// RetryAfter is, for CodeBackoff, the seconds to wait.
	RetryAfter float64 `json:"retry_after,omitempty"`
	// Detail is the failure as the program saw it, for --verbose and bug
	// reports. It never holds a secret.
	Detail string `json:"detail,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Message is one parsed line: a request or notification (Method set) or a
// response (Method empty).
type Message struct {
	Request
	Result json.RawMessage
	Error  *Error
}

// IsResponse reports whether m answers a call.
func (m *Message) IsResponse() bool { return m.Method == "" }

// IsNotification reports whether m is a request that wants no answer.
func (m *Message) IsNotification() bool { return m.Method != "" && len(m.ID) == 0 }

// wire is every member a line may hold.
type wire struct {
	JSONRPC *string         `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  *string         `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   *Error          `json:"error"`
}

// Parse errors, wrapped in a *ParseError.
var (
	ErrTooLong = errors.New("rpc: line too long")
	ErrSyntax  = errors.New("rpc: not a JSON object")
	ErrInvalid = errors.New("rpc: not a JSON-RPC 2.0 message")
)

// ParseError is a line Parse refused, with the ID it carried when one
// could be read (so the answer can name the call).
type ParseError struct {
	ID  json.RawMessage
	Err error
}

func (e *ParseError) Error() string { return e.Err.Error() }
func (e *ParseError) Unwrap() error { return e.Err }

// Code is the JSON-RPC code that answers the refused line.
func (e *ParseError) Code() int {
	if errors.Is(e.Err, ErrInvalid) {
		return CodeInvalidRequest
	}
	return CodeParse
}

// Parse reads one line (without its newline) as a JSON-RPC 2.0 message
// (spec/api.md §2): a JSON object with "jsonrpc": "2.0"; an id, when
// present, is a string, a number or null; params, when present, an object
// or an array; a response has exactly one of result and error.
func Parse(line []byte) (Message, error) {
	var m Message
	if len(line) > MaxLine {
		return m, &ParseError{Err: ErrTooLong}
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return m, &ParseError{Err: ErrSyntax}
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return m, &ParseError{Err: fmt.Errorf("%w: %v", ErrSyntax, err)}
	}
	if dec.More() {
		return m, &ParseError{Err: fmt.Errorf("%w: more than one value on the line", ErrSyntax)}
	}
	id := w.ID
	if len(id) > 0 && !validID(id) {
		return m, &ParseError{Err: fmt.Errorf("%w: id must be a string, a number or null", ErrInvalid)}
	}
	if len(id) > MaxID {
		return m, &ParseError{Err: fmt.Errorf("%w: id longer than %d bytes", ErrInvalid, MaxID)}
	}
	bad := func(why string) (Message, error) {
		return Message{}, &ParseError{ID: id, Err: fmt.Errorf("%w: %s", ErrInvalid, why)}
	}
	if w.JSONRPC == nil || *w.JSONRPC != "2.0" {
		return bad(`"jsonrpc" must be "2.0"`)
	}
	m.JSONRPC, m.ID = "2.0", id
	if w.Method != nil {
		if *w.Method == "" {
			return bad("empty method")
		}
		if w.Result != nil || w.Error != nil {
			return bad("a request has no result or error")
		}
		if len(w.Params) > 0 && w.Params[0] != '{' && w.Params[0] != '[' && !bytes.Equal(w.Params, []byte("null")) {
			return bad("params must be an object or an array")
		}
		m.Method, m.Params = *w.Method, w.Params
		return m, nil
	}
	if len(id) == 0 {
		return bad("a response needs an id")
	}
	if (w.Result != nil) == (w.Error != nil) {
		return bad("a response has exactly one of result and error")
	}
	m.Result, m.Error = w.Result, w.Error
	return m, nil
}

// validID reports whether id is a JSON string, number or null.
func validID(id json.RawMessage) bool {
	switch c := id[0]; {
	case c == '"', c == '-', c >= '0' && c <= '9':
		return true
	case bytes.Equal(id, []byte("null")):
		return true
	}
	return false
}

// MarshalResponse builds the line (newline included) answering id with
// result, or with rerr when it is not nil.
func MarshalResponse(id json.RawMessage, result any, rerr *Error) ([]byte, error) {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	r := Response{JSONRPC: "2.0", ID: id, Error: rerr}
	if rerr == nil {
		b, err := Marshal(result)
		if err != nil {
			return nil, fmt.Errorf("rpc: result: %w", err)
		}
		r.Result = b
	}
	return line(r)
}

// MarshalRequest builds the line of a call (id not nil) or notification.
func MarshalRequest(id json.RawMessage, method string, params any) ([]byte, error) {
	r := Request{JSONRPC: "2.0", ID: id, Method: method}
	if params != nil {
		b, err := Marshal(params)
		if err != nil {
			return nil, fmt.Errorf("rpc: params: %w", err)
		}
		r.Params = b
	}
	return line(r)
}

// Marshal encodes v as JSON without escaping <, > and & (a text of
// those would otherwise take six bytes a character on the line).
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func line(v any) ([]byte, error) {
	b, err := Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("rpc: %w", err)
	}
	if len(b) > MaxLine {
		return nil, fmt.Errorf("rpc: message of %d bytes: %w", len(b), ErrTooLong)
	}
	return append(b, '\n'), nil
}

// DecodeParams fills v from params, refusing members v does not have, so
// a misspelt parameter is an error rather than silently ignored. Absent or
// null params leave v as it is.
func DecodeParams(params json.RawMessage, v any) error {
	if len(params) == 0 || bytes.Equal(params, []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(params))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("rpc: params: %w", err)
	}
	return nil
}
