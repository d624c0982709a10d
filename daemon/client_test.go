package daemon

import (
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"veil/client"
)

// countWrites counts the writes to a connection that completed.
type countWrites struct {
	net.Conn
	n atomic.Int64
}

func (w *countWrites) Write(b []byte) (int, error) {
	n, err := w.Conn.Write(b)
	if err == nil {
		w.n.Add(1)
	}
	return n, err
}

// TestClientCloseUndrained: a client whose notifications nobody reads
// still closes.
func TestClientCloseUndrained(t *testing.T) {
	s, _ := unlockedServer(t, Config{}, "")
	a, b := net.Pipe()
	w := &countWrites{Conn: a}
	go s.ServeConn(w)
	c := NewClient(b)
	must(t, c, "subscribe", nil, nil)
	for range 1000 {
		s.publish(client.Event{Type: client.EventWarning, Err: "unread"})
	}
	// A pipe's write returns once the other end has read it all: after the
	// answer and one notification more than the client queues, its reader
	// holds one it has no room for.
	deadline := time.Now().Add(waitLimit)
	for w.n.Load() < int64(1+cap(c.notes)+1) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes", w.n.Load())
		}
		runtime.Gosched()
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case <-closed:
	case <-time.After(waitLimit):
		go func() {
			for range c.Notes() {
			}
		}()
		t.Fatal("Close hangs while notifications wait unread")
	}
}
