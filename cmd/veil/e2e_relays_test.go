package main

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"veil/internal/socks5test"
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
	proxy := socks5test.Start(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)))
	onion := strings.Replace(r.addr, "127.0.0.1", "veilrelaytestxyz.onion", 1)
	ana := newProfile(t, onion, "--socks5", proxy.Addr)
	ben := newProfile(t, onion, "--socks5", proxy.Addr)
	key := ana.ok("invite", "--socks5", proxy.Addr)
	if _, e, code := ben.run("join", key); code != 1 || !strings.Contains(e, "cannot be reached") {
		t.Fatalf("join without the proxy: exit %d, %q", code, e)
	}
	chat := ben.ok("join", key, "--socks5", proxy.Addr)
	ben.ok("send", chat, "through the proxy", "--socks5", proxy.Addr)
	evs := chatEvents(parseEvents(t, ana.ok("--socks5", proxy.Addr, "watch", "--json", "--count", "2", "--timeout", "30s")))
	if len(evs) != 2 || evs[1].Text != "through the proxy" {
		t.Fatalf("ana saw %+v", evs)
	}
	if hosts := proxy.Hosts(); len(hosts) == 0 || hosts[0] != "veilrelaytestxyz.onion" {
		t.Fatalf("proxy saw %v", hosts)
	}
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

	// Private routing: auto through the default relay unless set.
	if l := p.ok("relay", "routing"); !strings.Contains(l, "private routing: auto") || !strings.Contains(l, r2.addr+" (the default relay)") {
		t.Fatalf("relay routing:\n%s", l)
	}
	p.ok("relay", "routing", "always")
	p.ok("relay", "forwarder", r1.addr)
	if l := p.ok("relay", "routing"); !strings.Contains(l, "private routing: always") || !strings.Contains(l, "forwarder: "+r1.addr) || strings.Contains(l, "(the default relay)") {
		t.Fatalf("relay routing after setting it:\n%s", l)
	}
	p.fails(2, "relay", "routing", "sometimes")
	p.ok("relay", "forwarder", "default")
	p.ok("relay", "routing", "auto")

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
