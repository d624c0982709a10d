package badger

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestLargeGroupSmallMemtable is the regression test for group commits
// larger than Badger allows with small memtables (15% of one): many
// concurrent sends of bodies just under MaxBody, with the smallest
// memtable Open accepts, must all succeed.
func TestLargeGroupSmallMemtable(t *testing.T) {
	ctx := context.Background()
	s, err := Open(Config{Dir: t.TempDir(), MemTableSize: minMemTableSize})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := mustMailbox(t, s, 1, 2)
	body := make([]byte, MaxBody-1) // the largest body Badger keeps inline
	const n = 24
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Send(ctx, m.SenderID, body, time.Hour, n)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
}

func TestMemtableTooSmall(t *testing.T) {
	if _, err := Open(Config{Dir: t.TempDir(), MemTableSize: minMemTableSize - 1}); err == nil {
		t.Fatal("Open accepted a memtable below the minimum")
	}
}

func TestBatchLimit(t *testing.T) {
	for _, mt := range []int64{minMemTableSize, DefaultMemTableSize, 64 << 20, 1 << 30} {
		l := int64(batchLimit(mt))
		if l <= 0 || l+MaxBody+64<<10 > mt*15/100 || l > maxBatchBytes {
			t.Errorf("batchLimit(%d) = %d", mt, l)
		}
	}
}
