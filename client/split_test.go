package client

import (
	"context"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"veil/crypto"
	"veil/internal/socks5test"
	"veil/relay/relaytest"
	"veil/relay/wire"
	"veil/vault"
)

// relayEngine is a real engine whose default relay is addr; cfg changes
// its configuration before it is created.
func relayEngine(t *testing.T, addr string, cfg func(*Config)) *Engine {
	t.Helper()
	c := Config{Dir: t.TempDir(), Events: make(chan Event, 1024),
		Vault: vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1, MemTableSize: testMemTableSize}}
	if cfg != nil {
		cfg(&c)
	}
	e, err := Create(context.Background(), c, []byte("test pin"), CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.Setup(context.Background(), addr); err != nil {
		t.Fatal(err)
	}
	return e
}

// sendFlush queues text in chat and hands it to the relay.
func sendFlush(t *testing.T, e *Engine, chat, text string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.Send(ctx, chat, text, SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, err := e.Flush(ctx); n != 0 || err != nil {
		t.Fatalf("flush: %d left, %v", n, err)
	}
}

// TestSendAndSubscribeNeverShareAConnection: on every relay, no
// connection both subscribes to a mailbox and writes to one (spec/client.md
// §7.1); through a SOCKS5 proxy each chat's sends use a credential of
// their own (so Tor gives each its own circuit), and none is the
// receiving connection's.
func TestSendAndSubscribeNeverShareAConnection(t *testing.T) {
	t.Parallel()
	t.Run("direct", testSplitDirect)
	t.Run("socks5", testSplitSOCKS)
}

func testSplitDirect(t *testing.T) {
	var rec1, rec2 relaytest.Recorder
	r1 := relaytest.Start(t, relaytest.WithObserver(&rec1))
	r2 := relaytest.Start(t, relaytest.WithObserver(&rec2))
	a1, a2 := r1.Address.String(), r2.Address.String()
	ana, ben, cal := startLive(t, a1, nil), startLive(t, a1, nil), startLive(t, a2, nil)
	// ana and ben both receive on r1, so each both subscribes and sends
	// there; cal receives on r2.
	withBen, benChat := liveChat(t, ana, ben, InviteOptions{}, JoinOptions{})
	withCal, calChat := liveChat(t, ana, cal, InviteOptions{}, JoinOptions{Relay: a2})
	say(t, ana, withBen, "again")
	say(t, ana, withCal, "again")
	ben.waitText(t, benChat, "again")
	cal.waitText(t, calChat, "again")
	for name, rec := range map[string]*relaytest.Recorder{"r1": &rec1, "r2": &rec2} {
		// A joiner secures its own new mailbox (SKEY after NEW, spec/client.md
		// §4.2) on its receiving connection: that names nobody else's.
		subs, writes, news, skeys := map[uint64]bool{}, map[uint64]bool{}, map[uint64]bool{}, map[uint64]bool{}
		for _, it := range rec.Items() {
			switch it.Type {
			case wire.TypeSUB:
				subs[it.Conn] = true
			case wire.TypeNEW:
				news[it.Conn] = true
			case wire.TypeSKEY:
				skeys[it.Conn] = true
			case wire.TypeSEND, wire.TypeTAKE, wire.TypeLAPPEND:
				writes[it.Conn] = true
			}
		}
		for c := range skeys {
			if !news[c] {
				writes[c] = true
			}
		}
		if len(subs) == 0 || len(writes) == 0 {
			t.Fatalf("%s saw %d subscribing and %d writing connections", name, len(subs), len(writes))
		}
		for c := range subs {
			if writes[c] {
				t.Errorf("%s: connection %d (%v) both subscribes and writes", name, c, rec.Remote(c))
			}
		}
	}
}

func testSplitSOCKS(t *testing.T) {
	r := relaytest.Start(t)
	addr := r.Address.String()
	proxy := socks5test.Start(t, net.JoinHostPort(r.Address.Host, strconv.Itoa(int(r.Address.Port))))
	ana := relayEngine(t, addr, func(c *Config) { c.SOCKS5 = proxy.Addr })
	ben, cal := relayEngine(t, addr, nil), relayEngine(t, addr, nil)
	withBen, _ := connectClocked(t, ana, ben, InviteOptions{})
	withCal, _ := connectClocked(t, ana, cal, InviteOptions{})
	sendFlush(t, ana, withBen, "to ben")
	sendFlush(t, ana, withCal, "to cal")

	auth := func(k connKey) string {
		a := ana.pool.socksAuth(k)
		return a.User + ":" + a.Password
	}
	recv := auth(connKey{addr: addr, role: roleRecv})
	sendBen := auth(connKey{addr: addr, role: roleSend, iso: withBen})
	sendCal := auth(connKey{addr: addr, role: roleSend, iso: withCal})
	if recv == sendBen || recv == sendCal || sendBen == sendCal {
		t.Fatal("two roles or chats share a SOCKS5 credential")
	}
	got := proxy.Auths()
	for _, want := range []string{recv, sendBen, sendCal} {
		if !slices.Contains(got, want) {
			t.Errorf("the proxy never saw credential %.12s…; saw %d connections", want, len(got))
		}
	}
	for _, a := range got {
		if a == "" {
			t.Error("a connection went through the proxy without a credential")
		}
	}
}

// TestIdleSendConnectionsClose: an unused send or forward connection is
// closed after the idle time; the receive connection stays.
func TestIdleSendConnectionsClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	e := relayEngine(t, r.Address.String(), nil)
	e.pool.idle = 50 * time.Millisecond
	addr := r.Address.String()
	send, err := e.pool.conn(ctx, connKey{addr: addr, role: roleSend})
	if err != nil {
		t.Fatal(err)
	}
	recv, err := e.pool.get(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if send == recv {
		t.Fatal("the send connection is the receive connection")
	}
	select {
	case <-send.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the idle send connection stayed open")
	}
	select {
	case <-recv.Done():
		t.Fatal("the receive connection was closed as idle")
	default:
	}
	again, err := e.pool.conn(ctx, connKey{addr: addr, role: roleSend})
	if err != nil || again == send {
		t.Fatalf("after the idle close: %v, same connection %v", err, again == send)
	}
}
