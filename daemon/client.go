package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"sync"

	"veil/daemon/rpc"
)

// ErrClosed is returned by calls on a Client whose connection has ended
// (the server stopped).
var ErrClosed = errors.New("daemon: the connection to the daemon ended")

// Note is a notification from the server: Method is NoteEvent or NoteEnd.
type Note struct {
	Method string
	Params json.RawMessage
}

// Client is one connection to a Server: the CLI's, and a Go program's.
// Calls may come from several goroutines; they are answered in order.
type Client struct {
	rwc   io.ReadWriteCloser
	notes chan Note

	wmu sync.Mutex

	mu      sync.Mutex
	next    uint64
	pending map[string]chan rpc.Message
	err     error // why the connection ended
	done    chan struct{}

	closeOnce sync.Once
	closing   chan struct{} // closed by Close: notifications are dropped
}

// NewClient speaks the API over rwc (a socket, or one end of a pipe to
// Server.ServeConn).
func NewClient(rwc io.ReadWriteCloser) *Client {
	c := &Client{rwc: rwc, notes: make(chan Note, 256), pending: map[string]chan rpc.Message{}, done: make(chan struct{}), closing: make(chan struct{})}
	go c.read()
	return c
}

// Notes delivers the server's notifications in order; it is closed when
// the connection ends. A reader that stops reading stalls the answers too.
func (c *Client) Notes() <-chan Note { return c.notes }

// Close ends the connection, also when notifications wait unread.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { close(c.closing) })
	err := c.rwc.Close()
	<-c.done
	return err
}

func (c *Client) read() {
	defer close(c.done)
	defer close(c.notes)
	br := bufio.NewReaderSize(c.rwc, 64<<10)
	var err error
	for {
		var line []byte
		line, err = readLine(br, rpc.MaxLine)
		if err != nil {
			break
		}
		m, perr := rpc.Parse(line)
		if perr != nil {
			continue
		}
		if !m.IsResponse() {
			select {
			case c.notes <- Note{Method: m.Method, Params: m.Params}:
			case <-c.closing:
			}
			continue
		}
		c.mu.Lock()
		ch := c.pending[string(m.ID)]
		delete(c.pending, string(m.ID))
		c.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
	c.mu.Lock()
	c.err = ErrClosed
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	c.mu.Unlock()
}

// Call calls method with params (nil: none) and decodes the result into
// result (nil: ignored). An error the server returned is a *rpc.Error.
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	ch := make(chan rpc.Message, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	c.next++
	id := strconv.FormatUint(c.next, 10)
	c.pending[id] = ch
	c.mu.Unlock()
	b, err := rpc.MarshalRequest(json.RawMessage(id), method, params)
	if err != nil {
		c.forget(id)
		return err
	}
	c.wmu.Lock()
	_, err = c.rwc.Write(b)
	c.wmu.Unlock()
	if err != nil {
		c.forget(id)
		return ErrClosed
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return ErrClosed
		}
		if m.Error != nil {
			return m.Error
		}
		if result == nil {
			return nil
		}
		return json.Unmarshal(m.Result, result)
	case <-ctx.Done():
		c.forget(id)
		return ctx.Err()
	}
}

func (c *Client) forget(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}
