package memory

import (
	"context"
	"errors"
	"testing"
	"time"

	"veil/relay/store"
	"veil/relay/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return New(Config{}) })
}

func TestDiskQuota(t *testing.T) {
	ctx := context.Background()
	s := New(Config{MaxBytes: 100})
	defer s.Close()
	m := store.Mailbox{RecipientID: store.ID{1}, SenderID: store.ID{2}}
	if err := s.CreateMailbox(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, m.SenderID, make([]byte, 80), time.Hour, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, m.SenderID, make([]byte, 80), time.Hour, 10); !errors.Is(err, store.ErrDiskQuota) {
		t.Fatalf("Send over the disk quota: %v, want ErrDiskQuota", err)
	}
	if err := s.PutBlob(ctx, store.ID{3}, make([]byte, 80), time.Now().Add(time.Hour)); !errors.Is(err, store.ErrDiskQuota) {
		t.Fatalf("PutBlob over the disk quota: %v, want ErrDiskQuota", err)
	}
	if got := s.Size(); got != 80 {
		t.Fatalf("Size = %d, want 80", got)
	}
	if err := s.Ack(ctx, m.RecipientID, 1); err != nil {
		t.Fatal(err)
	}
	if got := s.Size(); got != 0 {
		t.Fatalf("Size after ack = %d, want 0", got)
	}
}

// TestClock checks that Pending hides messages expired by the injected
// clock before Expire runs.
func TestClock(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s := New(Config{Now: func() time.Time { return now }})
	defer s.Close()
	m := store.Mailbox{RecipientID: store.ID{1}, SenderID: store.ID{2}}
	if err := s.CreateMailbox(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, m.SenderID, []byte("a"), time.Minute, 1); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	msgs, err := s.Pending(ctx, m.RecipientID, 0, 10)
	if err != nil || len(msgs) != 0 {
		t.Fatalf("Pending after expiry = %d messages, %v", len(msgs), err)
	}
	// The expired message does not hold the quota of one.
	if _, err := s.Send(ctx, m.SenderID, []byte("b"), time.Minute, 1); err != nil {
		t.Fatalf("Send after expiry: %v", err)
	}
}

// TestTakenBlobReservedByClock: a taken blob's ID is refused until the
// blob's deadline on the store's clock, and free at it without Expire.
func TestTakenBlobReservedByClock(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := New(Config{Now: func() time.Time { return now }})
	defer s.Close()
	id := store.ID{7}
	if err := s.PutBlob(ctx, id, []byte("bundle"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeBlob(ctx, id); err != nil {
		t.Fatal(err)
	}
	if s.Size() != 0 {
		t.Fatalf("Size after TakeBlob = %d, want 0: a reservation holds no body", s.Size())
	}
	now = now.Add(time.Hour - time.Second)
	if err := s.PutBlob(ctx, id, []byte("bundle"), now.Add(time.Hour)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("PutBlob just before the deadline: %v, want ErrExists", err)
	}
	now = now.Add(time.Second)
	if err := s.PutBlob(ctx, id, []byte("bundle"), now.Add(time.Hour)); err != nil {
		t.Fatalf("PutBlob at the deadline: %v", err)
	}
}
