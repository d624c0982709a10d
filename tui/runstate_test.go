package tui

import (
	"context"
	"testing"
	"time"
)

// TestShutdownBeforeRunStarts: the command that starts the engine may
// never execute (the program ended first). Closing the App must not wait
// for a Run that never began, and the command, if it runs late, must not
// start one.
func TestShutdownBeforeRunStarts(t *testing.T) {
	rs := newRunState()
	closed := make(chan struct{})
	s := &Session{Close: func() { close(closed) }}
	go shutdown(s, func() {}, nil, rs)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown waited for a Run that never began")
	}
	if msg := run(nil, context.Background(), rs)(); msg != (runDoneMsg{}) {
		t.Fatalf("the late command returned %#v", msg)
	}
	select {
	case <-rs.done:
	default:
		t.Fatal("done stays open after the late command")
	}
}
