package conn

import (
	"errors"
	"net"
	"testing"
	"time"
)

// deadlineConn records the write deadlines set on it.
type deadlineConn struct {
	net.Conn
	set []time.Time
	err error
}

func (d *deadlineConn) SetWriteDeadline(t time.Time) error {
	d.set = append(d.set, t)
	return d.err
}

// TestClearDeadline: the writer lifts its deadline when it goes idle,
// and gives deadlines up on a connection that refuses them.
func TestClearDeadline(t *testing.T) {
	d := &deadlineConn{}
	w := blockWriter{raw: d}
	w.clearDeadline() // none set: nothing to lift
	if len(d.set) != 0 {
		t.Fatalf("lifted a deadline never set: %v", d.set)
	}
	w.deadline = time.Now().Add(writeTimeout)
	w.clearDeadline()
	if len(d.set) != 1 || !d.set[0].IsZero() || !w.deadline.IsZero() || w.raw == nil {
		t.Fatalf("after clearDeadline: set %v, deadline %v, raw %v", d.set, w.deadline, w.raw)
	}
	d.err = errors.New("no deadlines here")
	w.deadline = time.Now()
	w.clearDeadline()
	if w.raw != nil {
		t.Fatal("a connection refusing deadlines kept being used for them")
	}
}
