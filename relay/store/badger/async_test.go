package badger

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"veil/relay/store"
)

// TestAsyncWrites: SendAsync and AckAsync answer exactly once with what
// Send and Ack would have returned, in seq order within a mailbox, and
// what they answered without error is on disk after a reopen: a message
// whose done saw no error survives, an acknowledged one stays gone.
func TestAsyncWrites(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var aw store.AsyncWriter = s
	m := mustMailbox(t, s, 1, 2)
	const n, max = 300, 250
	type answer struct {
		seq uint64
		err error
	}
	var mu sync.Mutex
	var got []answer
	calls := make([]int, n)
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		aw.SendAsync(m.SenderID, []byte{byte(i)}, time.Hour, max, func(seq uint64, err error) {
			mu.Lock()
			calls[i]++
			got = append(got, answer{seq, err})
			mu.Unlock()
			wg.Done()
		})
	}
	wg.Wait()
	var last uint64
	stored, quota := 0, 0
	for _, a := range got {
		switch {
		case a.err == nil:
			if a.seq <= last {
				t.Fatalf("seq %d answered after %d: not in order", a.seq, last)
			}
			last = a.seq
			stored++
		case errors.Is(a.err, store.ErrQuota):
			quota++
		default:
			t.Fatalf("SendAsync: %v", a.err)
		}
	}
	for i, c := range calls {
		if c != 1 {
			t.Fatalf("done of send %d called %d times", i, c)
		}
	}
	if stored != max || quota != n-max {
		t.Fatalf("%d stored and %d over quota, want %d and %d", stored, quota, max, n-max)
	}
	ack := func(seq uint64) error {
		ch := make(chan error, 2)
		aw.AckAsync(m.RecipientID, seq, func(err error) { ch <- err })
		err := <-ch
		if len(ch) != 0 {
			t.Fatal("done of AckAsync called twice")
		}
		return err
	}
	pending, err := s.Pending(context.Background(), m.RecipientID, 0, 2)
	if err != nil || len(pending) != 2 {
		t.Fatalf("Pending: %d, %v", len(pending), err)
	}
	if err := ack(pending[0].Seq); err != nil {
		t.Fatal(err)
	}
	if err := ack(pending[0].Seq); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second ACK of a message: %v, want ErrNotFound", err)
	}
	if err := ack(last + 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ACK of a seq never sent: %v, want ErrNotFound", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ack(pending[1].Seq); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("AckAsync on a closed store: %v, want ErrClosed", err)
	}
	closed := make(chan error, 1)
	aw.SendAsync(m.SenderID, []byte{1}, time.Hour, max, func(_ uint64, err error) { closed <- err })
	if err := <-closed; !errors.Is(err, store.ErrClosed) {
		t.Fatalf("SendAsync on a closed store: %v, want ErrClosed", err)
	}

	s, err = Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	after, err := s.Pending(context.Background(), m.RecipientID, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != max-1 || after[0].Seq != pending[1].Seq || after[len(after)-1].Seq != last {
		t.Fatalf("after reopen: %d messages, want %d from seq %d to %d", len(after), max-1, pending[1].Seq, last)
	}
}
