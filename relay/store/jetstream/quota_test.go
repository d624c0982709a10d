package jetstream

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"veil/relay/store"
	"veil/relay/store/jetstream/jstest"
)

// TestServerQuota: with Config.MaxPending the stream's per-subject limit
// is the quota (spec §3.2), exactly, under concurrency too; a Send with
// another maxPending still counts.
func TestServerQuota(t *testing.T) {
	c := jstest.Start(t, 1)
	ctx := context.Background()
	const quota = 10
	s, err := Open(ctx, Config{URLs: c.URLs(), Prefix: "quota", Replicas: 1, MaxPending: quota})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := createMailbox(t, s)
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				_, err := s.Send(ctx, m.SenderID, []byte("x"), time.Hour, quota)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, store.ErrQuota):
					refused.Add(1)
				default:
					t.Errorf("Send: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != quota || refused.Load() != 40-quota {
		t.Fatalf("%d sends accepted, %d refused; want %d and %d", ok.Load(), refused.Load(), quota, 40-quota)
	}
	msgs, err := s.Pending(ctx, m.RecipientID, 0, 100)
	if err != nil || len(msgs) != quota {
		t.Fatalf("Pending = %d, %v", len(msgs), err)
	}
	// A smaller maxPending is counted; the stream's limit still holds.
	if _, err := s.Send(ctx, m.SenderID, []byte("x"), time.Hour, 3); !errors.Is(err, store.ErrQuota) {
		t.Fatalf("Send with maxPending 3 on a full mailbox: %v", err)
	}
	if err := s.Ack(ctx, m.RecipientID, msgs[0].Seq); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, m.SenderID, []byte("x"), time.Hour, quota); err != nil {
		t.Fatalf("Send after an ACK freed a slot: %v", err)
	}
	if _, err := s.Send(ctx, m.SenderID, []byte("x"), time.Hour, quota); !errors.Is(err, store.ErrQuota) {
		t.Fatalf("Send over quota again: %v", err)
	}
	// The limit is per mailbox.
	if _, err := s.Send(ctx, createMailbox(t, s).SenderID, []byte("x"), time.Hour, quota); err != nil {
		t.Fatalf("Send to another mailbox: %v", err)
	}
}

// TestExpireLease: with ExpireLease, of two nodes calling Expire in one
// period only the first scans (spec §8).
func TestExpireLease(t *testing.T) {
	c := jstest.Start(t, 1)
	ctx := context.Background()
	open := func() *Store {
		s, err := Open(ctx, Config{URLs: c.URLs(), Prefix: "lease", Replicas: 1, ExpireLease: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b := open(), open()
	m := createMailbox(t, a)
	now := time.Now()
	if _, err := a.Send(ctx, m.SenderID, []byte("short"), time.Minute, 10); err != nil {
		t.Fatal(err)
	}
	if err := a.Expire(ctx, now.Add(time.Hour), now.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := a.Pending(ctx, m.RecipientID, 0, 10); len(msgs) != 0 {
		t.Fatalf("first Expire with the lease left %d expired messages", len(msgs))
	}
	if _, err := a.Send(ctx, m.SenderID, []byte("short"), time.Minute, 10); err != nil {
		t.Fatal(err)
	}
	if err := b.Expire(ctx, now.Add(time.Hour), now.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Pending filters by expiry; the record is still stored.
	st, subject := a.shard(m.RecipientID)
	if n, err := count(ctx, st, subject); err != nil || n != 1 {
		t.Fatalf("second node's Expire within the lease scanned anyway: %d stored, %v", n, err)
	}
}
