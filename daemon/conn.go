package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"veil/client"
	"veil/daemon/rpc"
)

// apiVersion is the API version status reports (spec/api.md §1).
const apiVersion = rpc.Version

// conn is one client connection. Calls are answered one at a time, in
// order; notifications of its subscription interleave with the answers.
type conn struct {
	s   *Server
	rwc io.ReadWriteCloser

	wmu sync.Mutex // serialises writes

	mu     sync.Mutex
	sub    context.CancelFunc // ends the subscription's sender
	subEnd chan struct{}
	closed bool
}

// ServeConn serves one connection until it closes or the server shuts
// down. The caller has checked who is at the other end (Serve does).
func (s *Server) ServeConn(rwc io.ReadWriteCloser) {
	c := &conn{s: s, rwc: rwc}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		rwc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		c.close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	br := bufio.NewReaderSize(rwc, 64<<10)
	for {
		line, err := readLine(br, rpc.MaxLine)
		if errors.Is(err, errLineTooLong) {
			c.reply(nil, nil, &rpc.Error{Code: rpc.CodeParse, Message: "line too long: a message is at most 1 MiB"})
			return
		}
		if err != nil {
			return
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue // blank lines are ignored (spec/api.md §2)
		}
		m, err := rpc.Parse(line)
		if err != nil {
			var pe *rpc.ParseError
			errors.As(err, &pe)
			c.reply(pe.ID, nil, &rpc.Error{Code: pe.Code(), Message: strings.TrimPrefix(pe.Error(), "rpc: "), Data: &rpc.ErrorData{Kind: "bad_request"}})
			continue
		}
		if m.IsResponse() {
			continue // the server makes no calls
		}
		result, after, rerr := c.call(m.Method, m.Params)
		if !m.IsNotification() {
			c.reply(m.ID, result, rerr)
		}
		// after runs even when the answer could not be written: a
		// subscription's sender then fails at once and ends.
		if after != nil {
			after()
		}
		if s.Gone() {
			s.finish()
			return
		}
	}
}

// reply writes the answer to a call; false when the connection is gone.
func (c *conn) reply(id json.RawMessage, result any, rerr *rpc.Error) bool {
	b, err := rpc.MarshalResponse(id, result, rerr)
	if err != nil {
		b, err = rpc.MarshalResponse(id, nil, &rpc.Error{Code: rpc.CodeInternal, Message: "the answer could not be encoded"})
	}
	if err != nil {
		// Every call gets its answer, in order, even one whose id cannot
		// be echoed.
		b, _ = rpc.MarshalResponse(nil, nil, &rpc.Error{Code: rpc.CodeInternal, Message: "the answer could not be encoded"})
	}
	return c.write(b)
}

// writeTimeout bounds one write: a client that stops reading for that
// long is disconnected, so nothing of the server waits on it for ever.
const writeTimeout = 30 * time.Second

func (c *conn) write(b []byte) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if d, ok := c.rwc.(interface{ SetWriteDeadline(time.Time) error }); ok {
		d.SetWriteDeadline(time.Now().Add(writeTimeout))
	}
	_, err := c.rwc.Write(b)
	if err != nil {
		c.rwc.Close()
	}
	return err == nil
}

func (c *conn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	sub, end := c.sub, c.subEnd
	c.mu.Unlock()
	c.rwc.Close()
	if sub != nil {
		sub()
		<-end
	}
}

// notify writes a notification.
func (c *conn) notify(method string, params any) bool {
	b, err := rpc.MarshalRequest(nil, method, params)
	if err != nil {
		return false
	}
	return c.write(b)
}

// call runs one method. after, when not nil, runs once the answer is
// written (a subscription's first events follow its answer).
func (c *conn) call(method string, params json.RawMessage) (result any, after func(), rerr *rpc.Error) {
	m, ok := methods[method]
	if !ok {
		return nil, nil, &rpc.Error{Code: rpc.CodeNoMethod, Message: "no method " + quote(method) + " (spec/api.md lists them)"}
	}
	s := c.s
	if method != "erase" {
		s.waitStarted()
	}
	s.touch()
	ctx := context.Background()
	if m.locked {
		r, a, err := m.run(ctx, c, nil, params)
		return r, a, s.rpcError(err)
	}
	eng, sess := s.engine()
	if eng == nil {
		return nil, nil, lockedError()
	}
	r, a, err := m.run(ctx, c, eng, params)
	if err != nil {
		if _, now := s.engine(); now != sess {
			// A lock closed the engine under the call.
			return nil, nil, lockedError()
		}
	}
	return r, a, s.rpcError(err)
}

func lockedError() *rpc.Error {
	return &rpc.Error{Code: rpc.CodeLocked, Message: "this profile is locked: run veil unlock", Data: &rpc.ErrorData{Kind: "locked"}}
}

// quote shows a method name from a client without letting it drive a
// terminal.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return client.SanitizeLine(`"` + s + `"`)
}

// errLineTooLong is a line longer than rpc.MaxLine.
var errLineTooLong = errors.New("daemon: line too long")

// readLine reads one line of at most max bytes (newline excluded) from br;
// a longer one is errLineTooLong. A last line without a newline counts.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		b, err := br.ReadSlice('\n')
		if len(line)+len(b) > max+1 {
			return nil, errLineTooLong
		}
		line = append(line, b...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return line, nil
		default:
			return nil, err
		}
	}
}
