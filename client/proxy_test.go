package client

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// socksRecorder is a SOCKS5 listener on 127.0.0.1 that records the target
// of every CONNECT and then refuses it (nothing is forwarded).
type socksRecorder struct {
	ln      net.Listener
	mu      sync.Mutex
	targets []string
}

func newSOCKSRecorder(t *testing.T) *socksRecorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &socksRecorder{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); r.serve(c) }()
		}
	}()
	return r
}

func (r *socksRecorder) addr() string { return r.ln.Addr().String() }

// serve reads the greeting and one request (RFC 1928), records the
// target and answers "connection refused".
func (r *socksRecorder) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var h [2]byte
	if _, err := io.ReadFull(c, h[:]); err != nil || h[0] != 5 {
		return
	}
	if _, err := io.ReadFull(c, make([]byte, h[1])); err != nil {
		return
	}
	c.Write([]byte{5, 0}) // no authentication
	var req [4]byte
	if _, err := io.ReadFull(c, req[:]); err != nil || req[1] != 1 {
		return
	}
	var host string
	switch req[3] {
	case 1:
		b := make([]byte, 4)
		io.ReadFull(c, b)
		host = net.IP(b).String()
	case 3:
		var n [1]byte
		io.ReadFull(c, n[:])
		b := make([]byte, n[0])
		io.ReadFull(c, b)
		host = string(b)
	case 4:
		b := make([]byte, 16)
		io.ReadFull(c, b)
		host = net.IP(b).String()
	default:
		return
	}
	var p [2]byte
	if _, err := io.ReadFull(c, p[:]); err != nil {
		return
	}
	r.mu.Lock()
	r.targets = append(r.targets, net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(p[:])))))
	r.mu.Unlock()
	c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0}) // connection refused
}

func (r *socksRecorder) dialled() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.targets...)
}

func TestCheckSOCKS5(t *testing.T) {
	for _, ok := range []string{"", "127.0.0.1:9050", "localhost:1080", "[::1]:9050", "abcdef.onion:9050"} {
		if err := CheckSOCKS5(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"127.0.0.1", "127.0.0.1:", ":9050", "host:0", "host:65536", "host:http", "host:-1", "a b:9050", "::1:9050"} {
		if err := CheckSOCKS5(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestStoredSOCKS5: the proxy stored in the profile is used at once and
// after the next unlock; Config.SOCKS5 (the --socks5 flag) wins over it;
// a bad address is refused and changes nothing.
func TestStoredSOCKS5(t *testing.T) {
	ctx := context.Background()
	stored, flag := newSOCKSRecorder(t), newSOCKSRecorder(t)
	e := testEngine(t, nil)
	if err := e.SetSOCKS5(ctx, "127.0.0.1"); err == nil {
		t.Fatal("a proxy without a port was accepted")
	}
	if err := e.SetSOCKS5(ctx, stored.addr()); err != nil {
		t.Fatal(err)
	}
	if addr, fixed := e.SOCKS5(); addr != stored.addr() || fixed {
		t.Fatalf("SOCKS5() = %q, %v", addr, fixed)
	}
	if err := e.CheckRelay(ctx, testRelayAddr); err == nil {
		t.Fatal("a relay was reached through a proxy that refuses everything")
	}
	want := []string{"127.0.0.1:1"} // testRelayAddr's host and port
	if got := stored.dialled(); len(got) != 1 || got[0] != want[0] {
		t.Fatalf("the stored proxy was asked for %q, want %q", got, want)
	}

	// The next unlock reads the setting.
	e2, err := reopen(t, e, "test pin")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := e2.SOCKS5Setting(ctx); v != stored.addr() || err != nil {
		t.Fatalf("SOCKS5Setting = %q, %v", v, err)
	}
	e2.CheckRelay(ctx, testRelayAddr)
	if got := stored.dialled(); len(got) != 2 {
		t.Fatalf("after unlock the stored proxy saw %q", got)
	}

	// A flag wins, and a new setting does not move the engine off it.
	cfg := e2.cfg
	e2.Close()
	cfg.SOCKS5 = flag.addr()
	e3, err := Open(ctx, cfg, []byte("test pin"))
	if err != nil {
		t.Fatal(err)
	}
	defer e3.Close()
	if addr, fixed := e3.SOCKS5(); addr != flag.addr() || !fixed {
		t.Fatalf("SOCKS5() = %q, %v with the flag", addr, fixed)
	}
	if err := e3.SetSOCKS5(ctx, ""); err != nil {
		t.Fatal(err)
	}
	e3.CheckRelay(ctx, testRelayAddr)
	if got := flag.dialled(); len(got) != 1 {
		t.Fatalf("the flag's proxy saw %q", got)
	}
	if got := stored.dialled(); len(got) != 2 {
		t.Fatalf("the stored proxy was used despite the flag: %q", got)
	}
	if v, _ := e3.SOCKS5Setting(ctx); v != "" {
		t.Fatalf("setting not cleared: %q", v)
	}
}
