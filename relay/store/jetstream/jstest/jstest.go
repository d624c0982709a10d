// Package jstest starts NATS servers with JetStream in the test process,
// on 127.0.0.1 with free ports and storage in the test's temporary
// directory, so the JetStream store and the cluster tests need nothing
// installed by hand. It is for tests only.
package jstest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// readyTimeout bounds how long a server or the cluster may take to start.
const readyTimeout = 30 * time.Second

// Cluster is a set of in-process NATS servers forming one JetStream
// cluster (or a single server when it has one node).
type Cluster struct {
	t     testing.TB
	mu    sync.Mutex // guards nodes
	nodes []*node
}

type node struct {
	opts *server.Options
	srv  *server.Server // nil while stopped
}

// Start starts n servers (1 or 3 are the useful sizes) and waits until
// JetStream answers. They are shut down when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	return StartWith(t, n, nil)
}

// StartWith is Start with each server's options changed by opt (when not
// nil) before it starts: users and permissions, say.
func StartWith(t testing.TB, n int, opt func(*server.Options)) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	clientPorts, clusterPorts := freePorts(t, n), freePorts(t, n)
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       clientPorts[i],
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      true,
			NoSigs:     true,
			// Small limits: tests store little, and the machine is shared.
			JetStreamMaxMemory: 256 << 20,
			JetStreamMaxStore:  1 << 30,
		}
		if n > 1 {
			opts.Cluster = server.ClusterOpts{Name: "veil-test", Host: "127.0.0.1", Port: clusterPorts[i]}
			for j := range n {
				if j != i {
					opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", clusterPorts[j])})
				}
			}
		}
		if opt != nil {
			opt(opts)
		}
		c.nodes = append(c.nodes, &node{opts: opts})
	}
	t.Cleanup(c.shutdown)
	for i := range n {
		c.Restart(i)
	}
	c.WaitReady()
	return c
}

// freePorts returns n ports that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("jstest: %v", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// URLs returns every server's client URL, running or not.
func (c *Cluster) URLs() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port))
	}
	return out
}

// Index returns the index of the server named name ("n1" is 0), or -1.
func (c *Cluster) Index(name string) int {
	for i, n := range c.nodes {
		if n.opts.ServerName == name {
			return i
		}
	}
	return -1
}

// URL returns the URLs joined with commas, as nats.Connect takes them.
func (c *Cluster) URL() string { return strings.Join(c.URLs(), ",") }

// Kill stops server i at once (in-process: its listeners and routes
// close, as when the process dies; its store directory stays).
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	srv := c.nodes[i].srv
	c.nodes[i].srv = nil
	c.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts server i again with the same ports and store directory.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	if n.srv != nil {
		return
	}
	srv, err := server.NewServer(n.opts)
	if err != nil {
		c.t.Fatalf("jstest: server %d: %v", i, err)
	}
	go srv.Start() // owned by the server; Shutdown stops it
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		c.t.Fatalf("jstest: server %d not ready within %v", i, readyTimeout)
	}
	n.srv = srv
}

// WaitReady waits until JetStream accepts a stream in the cluster, so
// the meta leader is elected and the servers see each other.
func (c *Cluster) WaitReady() {
	c.t.Helper()
	var opts []nats.Option
	c.mu.Lock()
	if users := c.nodes[0].opts.Users; len(users) > 0 {
		opts = append(opts, nats.UserInfo(users[0].Username, users[0].Password))
	}
	c.mu.Unlock()
	nc, err := nats.Connect(c.URL(), opts...)
	if err != nil {
		c.t.Fatalf("jstest: connect: %v", err)
	}
	defer nc.Close()
	j, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatalf("jstest: %v", err)
	}
	deadline := time.Now().Add(readyTimeout)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, last = j.AccountInfo(ctx)
		cancel()
		if last == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("jstest: JetStream not ready within %v: %v", readyTimeout, last)
}

func (c *Cluster) shutdown() {
	for i := range c.nodes {
		c.Kill(i)
	}
}
