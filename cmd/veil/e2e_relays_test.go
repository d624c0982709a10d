package main

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestE2ETwoRelays: the joiner keeps its mailbox on a relay of its own
// (many relays at once), and a relay whose key does not match the
// fingerprint in its address is refused.
func TestE2ETwoRelays(t *testing.T) {
	t.Parallel()
	r1, r2 := newTestRelay(t), newTestRelay(t)
	ana := newProfile(t, r1.addr)
	ben := newProfile(t, r2.addr)
	key := ana.ok("invite", "--as", "ana")
	benChat := ben.ok("join", key, "--relay", r2.addr, "--as", "ben")
	ben.ok("send", benChat, "from relay two's side")
	evs := chatEvents(ana.watch(2, 30*time.Second))
	if len(evs) != 2 || evs[1].Text != "from relay two's side" {
		t.Fatalf("ana saw %+v", evs)
	}
	ana.ok("send", evs[0].Chat, "to relay two")
	if evs := chatEvents(ben.watch(1, 30*time.Second)); len(evs) != 1 || evs[0].Text != "to relay two" {
		t.Fatalf("ben saw %+v", evs)
	}

	// --qr adds the key as a QR code after the key line.
	qrOut := strings.SplitN(ana.ok("invite", "--qr"), "\n", 2)
	if len(qrOut) != 2 || !strings.HasPrefix(qrOut[0], "veil+ws://") || strings.Count(qrOut[1], "\u2580") < 41*21 {
		t.Fatalf("invite --qr printed %q", qrOut)
	}

	// r2's address with r1's fingerprint: the client must refuse it.
	fp1 := r1.addr[strings.IndexByte(r1.addr, '#'):]
	forged := r2.addr[:strings.IndexByte(r2.addr, '#')] + fp1
	if e := ana.fails(1, "invite", "--relay", forged); !strings.Contains(e, "does not match the address fingerprint") {
		t.Fatalf("forged relay: %q", e)
	}
}

// TestE2ESOCKS5 reaches a relay through a SOCKS5 proxy under a host name
// that only the proxy can resolve, as with a Tor onion address.
func TestE2ESOCKS5(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	proxy := newSOCKS5(t, r.port)
	onion := strings.Replace(r.addr, "127.0.0.1", "veilrelaytestxyz.onion", 1)
	ana := newProfile(t, onion, "--socks5", proxy.addr)
	ben := newProfile(t, onion, "--socks5", proxy.addr)
	key := ana.ok("invite", "--socks5", proxy.addr)
	if _, e, code := ben.run("join", key); code != 1 || !strings.Contains(e, "unreachable") {
		t.Fatalf("join without the proxy: exit %d, %q", code, e)
	}
	chat := ben.ok("join", key, "--socks5", proxy.addr)
	ben.ok("send", chat, "through the proxy", "--socks5", proxy.addr)
	evs := chatEvents(parseEvents(t, ana.ok("--socks5", proxy.addr, "watch", "--json", "--count", "2", "--timeout", "30s")))
	if len(evs) != 2 || evs[1].Text != "through the proxy" {
		t.Fatalf("ana saw %+v", evs)
	}
	if hosts := proxy.hosts(); len(hosts) == 0 || hosts[0] != "veilrelaytestxyz.onion" {
		t.Fatalf("proxy saw %v", hosts)
	}
}

// socks5 is a minimal SOCKS5 server (RFC 1928, CONNECT, no auth) that
// sends every connection to 127.0.0.1:port and records the host names it
// was asked for.
type socks5 struct {
	addr string
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	seen []string
}

func newSOCKS5(t *testing.T, port int) *socks5 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &socks5{addr: ln.Addr().String(), ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.serve(c, port) })
		}
	})
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *socks5) hosts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

func (s *socks5) serve(c net.Conn, port int) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != 5 {
		return
	}
	if _, err := io.ReadFull(c, make([]byte, hdr[1])); err != nil {
		return
	}
	c.Write([]byte{5, 0})
	var req [4]byte
	if _, err := io.ReadFull(c, req[:]); err != nil || req[1] != 1 {
		return
	}
	var host string
	switch req[3] {
	case 1:
		ip := make([]byte, 4)
		io.ReadFull(c, ip)
		host = net.IP(ip).String()
	case 3:
		var n [1]byte
		io.ReadFull(c, n[:])
		b := make([]byte, n[0])
		io.ReadFull(c, b)
		host = string(b)
	default:
		return
	}
	var p [2]byte
	io.ReadFull(c, p[:])
	_ = binary.BigEndian.Uint16(p[:])
	s.mu.Lock()
	s.seen = append(s.seen, host)
	s.mu.Unlock()
	up, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
		return
	}
	defer up.Close()
	c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	c.SetDeadline(time.Time{})
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	<-done
}

// TestE2ERelayListWipePanic covers relay add/list/default/remove, wipe and
// panic.
func TestE2ERelayListWipePanic(t *testing.T) {
	t.Parallel()
	r1, r2 := newTestRelay(t), newTestRelay(t)
	p := newProfile(t, r1.addr)
	p.ok("relay", "add", r2.addr)
	if l := p.ok("relay", "list"); !strings.Contains(l, "* "+r1.addr) || !strings.Contains(l, r2.addr) {
		t.Fatalf("relay list:\n%s", l)
	}
	p.ok("relay", "default", r2.addr)
	if l := p.ok("relay", "list"); !strings.Contains(l, "* "+r2.addr) {
		t.Fatalf("relay list after default:\n%s", l)
	}
	p.fails(2, "relay", "remove")
	if e := p.fails(1, "relay", "remove", r2.addr); !strings.Contains(e, "is the default") {
		t.Fatalf("removing the default relay: %q", e)
	}
	p.ok("relay", "remove", r1.addr) // no chat uses it
	if l := p.ok("relay", "list"); strings.Contains(l, r1.addr) || !strings.Contains(l, "* "+r2.addr) {
		t.Fatalf("relay list after remove:\n%s", l)
	}

	// wipe needs a confirmation; without a terminal, --yes.
	p.fails(2, "wipe")
	p.ok("chats")
	p.ok("wipe", "--yes")
	if e := p.fails(1, "chats"); !strings.Contains(e, "run veil init first") {
		t.Fatalf("after wipe: %q", e)
	}
	// panic: no PIN, no prompt, embedded relay directory gone too.
	q := newProfile(t, "")
	q.ok("panic")
	if e := q.fails(1, "chats"); !strings.Contains(e, "run veil init first") {
		t.Fatalf("after panic: %q", e)
	}
	entries, _ := os.ReadDir(q.home)
	for _, e := range entries {
		if e.Name() == relayDirName {
			t.Fatal("panic left the embedded relay's directory")
		}
	}
}
