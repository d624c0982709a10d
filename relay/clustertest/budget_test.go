package clustertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/relay/store/jetstream/jstest"
	"veil/relay/wire"
)

// TestAddressBudgetPerNode: relay nodes sharing one store keep an
// address's budget each (spec/relay.md §11, SECURITY.md): an address
// that has spent its budget on one node is refused there with QUOTA and
// may still create on another, which has a budget of its own for it.
// The operator sizing per-address limits for a cluster needs to know.
func TestAddressBudgetPerNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server NATS cluster")
	}
	nc := jstest.Start(t, 3)
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	limits := relay.DefaultLimits
	limits.AddrMailboxes = 2
	nodes := []*relayNode{startNodeWith(t, nc, 0, id, limits), startNodeWith(t, nc, 1, id, limits)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, n := range nodes {
		c := dial(t, n)
		for j := range limits.AddrMailboxes {
			newMailbox(t, c, 10*i+j)
		}
		key, err := crypto.GenerateSign(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.New(ctx, key, nil); !errors.Is(err, &wire.Error{Code: wire.CodeQuota}) {
			t.Fatalf("node %d: NEW past the address's budget: %v, want QUOTA", i, err)
		}
	}
}
