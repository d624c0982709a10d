package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay/store/memory"
)

// TestAddresslessDropsAddresses: an error a client's reset or a broken
// pipe produces, wrapped as the WebSocket library wraps it, loses both
// ends' addresses and keeps what happened.
func TestAddresslessDropsAddresses(t *testing.T) {
	src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7070}
	dst := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 51234}
	for _, cause := range []error{syscall.ECONNRESET, syscall.EPIPE, os.ErrDeadlineExceeded} {
		op := &net.OpError{Op: "read", Net: "tcp", Source: src, Addr: dst, Err: &os.SyscallError{Syscall: "read", Err: cause}}
		op2 := &net.OpError{Op: "write", Net: "tcp", Source: src, Addr: dst, Err: fmt.Errorf("write: %w", cause)}
		for _, err := range []error{
			fmt.Errorf("failed to get reader: failed to read frame header: %w", op),
			fmt.Errorf("failed to write msg: failed to flush: %w", op2),
		} {
			got := addressless(err)
			if strings.Contains(got, "127.0.0.1") || strings.Contains(got, "10.0.0.5") || strings.Contains(got, "7070") || strings.Contains(got, "51234") {
				t.Errorf("addressless(%q) = %q: holds an address", err, got)
			}
			if !strings.Contains(got, cause.Error()) {
				t.Errorf("addressless(%q) = %q: lost the cause", err, got)
			}
		}
	}
	if addressless(nil) != "" || addressless(errors.New("plain")) != "plain" {
		t.Error("addressless changed an error with no address")
	}
}

// TestTLSHandshakeErrorLogsNoAddress: net/http's own message for a failed
// TLS handshake names the client's address; the relay's log gets it with
// the address replaced.
func TestTLSHandshakeErrorLogsNoAddress(t *testing.T) {
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	tlsCfg := ts.TLS.Clone()
	ts.Close()
	var buf lockedLog
	id, _ := crypto.GenerateSign(nil)
	srv, err := New(Config{Store: memory.New(memory.Config{}), Identity: id,
		Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, tlsCfg) }()
	defer func() { cancel(); <-done }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	local := c.LocalAddr().String()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") // plain HTTP to a TLS port
	io.ReadAll(c)
	c.Close()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(buf.String(), "TLS handshake error"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no handshake error logged:\n%s", buf.String())
		}
	}
	if logs := buf.String(); strings.Contains(logs, local) || strings.Contains(logs, "127.0.0.1") {
		t.Fatalf("the log names the client's address %s:\n%s", local, logs)
	}
}

// lockedLog is a log sink the server writes from its goroutines.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
