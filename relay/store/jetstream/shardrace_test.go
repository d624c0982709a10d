package jetstream

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"veil/relay/store/jetstream/jstest"
)

// TestShardCountAgreesUnderRace: two nodes opening a fresh cluster at once
// with different Shards must end up with one shard count (or one of them
// must fail Open), never map mailboxes to different streams.
func TestShardCountAgreesUnderRace(t *testing.T) {
	c := jstest.Start(t, 1)
	ctx := context.Background()
	for i := range 10 {
		prefix := fmt.Sprintf("race%d", i)
		var wg sync.WaitGroup
		var a, b *Store
		var ea, eb error
		start := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			a, ea = Open(ctx, Config{URLs: c.URLs(), Prefix: prefix, Replicas: 1, Memory: true, Shards: 2})
		}()
		go func() {
			defer wg.Done()
			<-start
			b, eb = Open(ctx, Config{URLs: c.URLs(), Prefix: prefix, Replicas: 1, Memory: true, Shards: 5})
		}()
		close(start)
		wg.Wait()
		if ea != nil || eb != nil {
			// Failing Open is allowed; starting with different counts is not.
			t.Logf("%s: Open errors %v / %v", prefix, ea, eb)
			for _, s := range []*Store{a, b} {
				if s != nil {
					s.Close()
				}
			}
			continue
		}
		na, nb := len(a.msgs), len(b.msgs)
		a.Close()
		b.Close()
		if na != nb {
			t.Fatalf("%s: nodes disagree on the shard count: %d and %d (a mailbox's messages are looked for in different streams)", prefix, na, nb)
		}
	}
}
