package daemon

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"veil/client"
)

// TestNoEventAfterLock attacks spec/api.md §4.1 (lock "drops every
// event held ... and ends every subscription with stream_end reason
// locked") and SECURITY.md ("lock drops them"). A subscriber's sender
// is held up by a slow reader while events wait for it; a lock that
// comes meanwhile must stop it, so that the events the lock dropped,
// texts and all, never reach the subscriber after the lock has answered.
// (The one event being written when the lock came may still arrive; the
// four after it must not.)
func TestNoEventAfterLock(t *testing.T) {
	s, _ := unlockedServer(t, Config{}, "")
	a, b := net.Pipe() // synchronous: a write waits for its reader
	go s.ServeConn(a)
	t.Cleanup(func() { b.Close() })
	b.SetDeadline(time.Now().Add(waitLimit))
	br := bufio.NewReader(b)
	if _, err := io.WriteString(b, `{"jsonrpc":"2.0","id":1,"method":"subscribe"}`+"\n"); err != nil {
		t.Fatal(err)
	}
	// The answer waits for its reader: five events come meanwhile.
	for s.Status().Seq != 0 || !subscribed(s) {
		time.Sleep(time.Millisecond)
	}
	for i := range 5 {
		s.publish(client.Event{Type: client.EventMessage, Chat: "c", Message: fmt.Sprint(i), Text: "secret"})
	}
	if _, err := br.ReadString('\n'); err != nil { // the answer
		t.Fatal(err)
	}
	if _, err := br.ReadString('\n'); err != nil { // event 1: the sender holds the rest
		t.Fatal(err)
	}
	s.Lock()
	var after []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading after the lock: %v (got %q)", err, after)
		}
		if strings.Contains(line, `"stream_end"`) {
			break
		}
		after = append(after, line)
	}
	if len(after) > 1 {
		t.Fatalf("%d events reached the subscriber after the lock dropped them: %q", len(after), after)
	}
}

// TestNoTextAfterScrub: the same slow subscriber, and a burn here (the
// server's scrub) instead of the lock: the events not yet written when
// the burn came reach the subscriber without their text.
func TestNoTextAfterScrub(t *testing.T) {
	s, _ := unlockedServer(t, Config{}, "")
	a, b := net.Pipe()
	go s.ServeConn(a)
	t.Cleanup(func() { b.Close() })
	b.SetDeadline(time.Now().Add(waitLimit))
	br := bufio.NewReader(b)
	if _, err := io.WriteString(b, `{"jsonrpc":"2.0","id":1,"method":"subscribe"}`+"\n"); err != nil {
		t.Fatal(err)
	}
	for s.Status().Seq != 0 || !subscribed(s) {
		time.Sleep(time.Millisecond)
	}
	for i := range 5 {
		s.publish(client.Event{Type: client.EventMessage, Chat: "c", Message: fmt.Sprint(i), Text: "secret"})
	}
	for range 2 { // the answer, then event 1: the sender holds the rest
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	s.scrub("c", "")
	var leaked int
	for i := 2; i <= 5; i++ {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if strings.Contains(line, "secret") {
			leaked++
		}
	}
	if leaked > 1 {
		t.Fatalf("%d events reached the subscriber with the text a burn had scrubbed", leaked)
	}
}

// subscribed reports whether a connection of s holds a subscription.
func subscribed(s *Server) bool {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		on := c.sub != nil
		c.mu.Unlock()
		if on {
			return true
		}
	}
	return false
}
