package clustertest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"veil/crypto"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/relaytest"
	"veil/relay/store/jetstream"
	"veil/relay/store/jetstream/jstest"
	"veil/relay/wire"
)

// relayNode is one relay process's worth of state: a server and its
// JetStream store, whose NATS connection prefers one NATS node.
type relayNode struct {
	addr  wire.Address
	store *jetstream.Store
	stop  func() // stops serving (connections close) and closes the store
	down  atomic.Bool
}

// cluster is a NATS cluster and the relay nodes in front of it.
type cluster struct {
	nats  *jstest.Cluster
	nodes []*relayNode
}

// startCluster starts three NATS nodes and n relay nodes sharing one
// identity (one relay address fingerprint), relay node i connected first
// to NATS node i%3.
func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	c := &cluster{nats: jstest.Start(t, 3)}
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		c.nodes = append(c.nodes, startNode(t, c.nats, i%3, id))
	}
	return c
}

func startNode(t *testing.T, nc *jstest.Cluster, prefer int, id crypto.SignPrivate) *relayNode {
	t.Helper()
	return startNodeWith(t, nc, prefer, id, relay.DefaultLimits)
}

// startNodeWith is startNode with the node's limits.
func startNodeWith(t *testing.T, nc *jstest.Cluster, prefer int, id crypto.SignPrivate, limits relay.Limits) *relayNode {
	t.Helper()
	urls := nc.URLs()
	order := append([]string{urls[prefer]}, slices.Delete(slices.Clone(urls), prefer, prefer+1)...)
	conn, err := nats.Connect(strings.Join(order, ","), nats.DontRandomize(), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	st, err := jetstream.Open(context.Background(), jetstream.Config{Conn: conn, Replicas: 3, MaxPending: limits.MaxPending})
	if err != nil {
		t.Fatal(err)
	}
	limits.DrainTimeout = 100 * time.Millisecond
	r := relaytest.Serve(t, relay.Config{Store: st, Identity: id, Limits: limits})
	n := &relayNode{addr: r.Address, store: st}
	var once sync.Once
	n.stop = func() { // a node that goes down: its store and NATS connection too
		once.Do(func() {
			n.down.Store(true)
			r.Stop()
			st.Close()
			conn.Close()
		})
	}
	t.Cleanup(n.stop)
	return n
}

func dial(t *testing.T, n *relayNode) *conn.Conn {
	t.Helper()
	c, err := tryDial(n)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func tryDial(n *relayNode) (*conn.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return conn.DialAddress(ctx, n.addr, nil)
}

// mailbox is a mailbox with its recipient key and sender capability.
type mailbox struct {
	rid, sid crypto.ID
	key      crypto.SignPrivate
	cap      [wire.CapSize]byte
}

// newMailbox creates a mailbox through c and secures its sender.
func newMailbox(t *testing.T, c *conn.Conn, i int) *mailbox {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m := &mailbox{}
	var err error
	if m.key, err = crypto.GenerateSign(nil); err != nil {
		t.Fatal(err)
	}
	if m.rid, m.sid, err = c.New(ctx, m.key, nil); err != nil {
		t.Fatalf("NEW: %v", err)
	}
	m.cap[0], m.cap[1] = byte(i), byte(i>>8)
	if err := c.SecureSender(ctx, m.sid, &m.cap); err != nil {
		t.Fatalf("SKEY: %v", err)
	}
	return m
}

// nextPush waits for a push of the given type, up to d.
func nextPush(t *testing.T, c *conn.Conn, typ wire.Type, d time.Duration) conn.Push {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case p := <-c.Pushes():
			if p.Type == typ {
				return p
			}
		case <-timer.C:
			t.Fatalf("no %v push within %v", typ, d)
		}
	}
}

// body is a padded end-to-end body carrying a label, so the test can tell
// messages apart.
func body(label string) []byte {
	b := make([]byte, 1024)
	copy(b, label)
	return b
}

func label(b []byte) string {
	if i := slices.Index(b, 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}
