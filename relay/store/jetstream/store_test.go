package jetstream

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"veil/relay/store"
	"veil/relay/store/jetstream/jstest"
	"veil/relay/store/storetest"
)

// open returns a store on c with a prefix of its own, so tests sharing a
// cluster do not see each other's streams.
func open(t *testing.T, c *jstest.Cluster, replicas int, n *atomic.Int64) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{
		URLs:     c.URLs(),
		Prefix:   fmt.Sprintf("t%d", n.Add(1)),
		Replicas: replicas,
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestConformance runs the store suite against one NATS server.
func TestConformance(t *testing.T) {
	c := jstest.Start(t, 1)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, c, 1, &n) })
}

// TestConformanceServerQuota runs the suite with the stream enforcing a
// quota of 1000, the value the suite's own helpers send with (spec §3.2).
func TestConformanceServerQuota(t *testing.T) {
	c := jstest.Start(t, 1)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), Config{
			URLs: c.URLs(), Prefix: fmt.Sprintf("q%d", n.Add(1)), Replicas: 1, MaxPending: 1000,
		})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

// TestConformanceCluster runs the suite against a three-node cluster with
// three replicas, each store connected to a different node.
func TestConformanceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("three-node cluster: skipped with -short")
	}
	c := jstest.Start(t, 3)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Store {
		i := int(n.Load()) % 3
		s, err := Open(context.Background(), Config{
			URLs:     c.URLs()[i : i+1],
			Prefix:   fmt.Sprintf("c%d", n.Add(1)),
			Replicas: 3,
		})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}
