package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
)

// bodyHeader is what veil-load writes at the start of every body: the
// sending connection, the message number and the send time (nanoseconds
// since the run started, on this process's monotonic clock).
const bodyHeader = 4 + 8 + 8

// makeBody returns a bucket-sized body naming message n of sender from.
func makeBody(bucket int, from uint32, n uint64, at time.Duration) []byte {
	b := make([]byte, bucket)
	fillBody(b, from, n, at)
	return b
}

// fillBody writes makeBody's header into b, a body made by makeBody: a
// sender reuses one body, since Send has copied it when it returns.
func fillBody(b []byte, from uint32, n uint64, at time.Duration) {
	binary.BigEndian.PutUint32(b, from)
	binary.BigEndian.PutUint64(b[4:], n)
	binary.BigEndian.PutUint64(b[12:], uint64(at))
}

// parseBody reads what makeBody wrote; false for a body veil-load did not
// write.
func parseBody(b []byte) (from uint32, n uint64, at time.Duration, ok bool) {
	if len(b) < bodyHeader {
		return 0, 0, 0, false
	}
	return binary.BigEndian.Uint32(b), binary.BigEndian.Uint64(b[4:]), time.Duration(binary.BigEndian.Uint64(b[12:])), true
}

// mailbox is what a client needs to use one mailbox: the recipient's key
// and the sender capability. The key and capability are secrets of the
// test run only.
type mailbox struct {
	RID, SID crypto.ID
	Key      crypto.SignPrivate
	Cap      [wire.CapSize]byte
}

// newMailbox creates a mailbox on c and secures it with a fresh sender
// capability.
func newMailbox(ctx context.Context, c *conn.Conn, password []byte) (*mailbox, error) {
	key, err := crypto.GenerateSign(nil)
	if err != nil {
		return nil, err
	}
	m := &mailbox{Key: key}
	if m.RID, m.SID, err = c.New(ctx, key, password); err != nil {
		return nil, fmt.Errorf("NEW: %w", err)
	}
	if err := crypto.RandomBytes(nil, m.Cap[:]); err != nil {
		return nil, err
	}
	if err := c.SecureSender(ctx, m.SID, &m.Cap); err != nil {
		return nil, fmt.Errorf("SKEY: %w", err)
	}
	return m, nil
}

// dialAll opens n connections to address, at most par at a time,
// connection i with opts(i) (nil: the defaults). On error it closes what
// it opened.
func dialAll(ctx context.Context, address string, n, par int, opts func(i int) *conn.Options) ([]*conn.Conn, error) {
	conns := make([]*conn.Conn, n)
	errs := make([]error, n)
	sem := make(chan struct{}, max(par, 1))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			var opt *conn.Options
			if opts != nil {
				opt = opts(i)
			}
			conns[i], errs[i] = conn.Dial(dctx, address, opt)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(conns)
		return nil, fmt.Errorf("dialling %s: %w", address, firstErr(errs))
	}
	return conns, nil
}

func closeAll(conns []*conn.Conn) {
	var wg sync.WaitGroup
	for _, c := range conns {
		if c != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.Close()
			}()
		}
	}
	wg.Wait()
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// errCount counts errors and keeps the first, for the report.
type errCount struct {
	mu    sync.Mutex
	n     int
	first error
}

func (e *errCount) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if e.first == nil {
		e.first = err
	}
}

func (e *errCount) get() (int, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.first == nil {
		return e.n, ""
	}
	return e.n, e.first.Error()
}
