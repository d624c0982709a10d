package badger

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"veil/relay/store"
)

// TestAckMirror checks ACK against a model through every state of the
// writer's mirror of a mailbox's keys (boxState.seqs): unknown after a
// reopen, known, dropped when more than seqsMax messages wait, known
// again once the mailbox is empty, and with messages that expire while
// mirrored. Every ACK must answer as the model says: OK exactly once for
// a stored unexpired message, ErrNotFound otherwise.
func TestAckMirror(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	open := func() *Store {
		s, err := Open(Config{Dir: dir, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	defer func() { s.Close() }()
	m := mustMailbox(t, s, 1, 2)

	type msg struct{ expires time.Time }
	model := map[uint64]msg{} // stored and not ACKed
	var maxSeq uint64
	rng := rand.New(rand.NewPCG(1, 2))
	send := func(ttl time.Duration) {
		t.Helper()
		seq, err := s.Send(ctx, m.SenderID, []byte("x"), ttl, 1000)
		if err != nil {
			t.Fatal(err)
		}
		model[seq] = msg{expires: clock().Add(ttl)}
		maxSeq = max(maxSeq, seq)
	}
	ack := func(seq uint64) {
		t.Helper()
		mm, stored := model[seq]
		want := stored && clock().Before(mm.expires)
		err := s.Ack(ctx, m.RecipientID, seq)
		switch {
		case want && err != nil:
			t.Fatalf("Ack(%d) of a stored message: %v", seq, err)
		case !want && !errors.Is(err, store.ErrNotFound):
			t.Fatalf("Ack(%d) of a missing or expired message = %v, want ErrNotFound", seq, err)
		}
		if want {
			delete(model, seq)
		}
	}
	ackAll := func() {
		t.Helper()
		for seq := uint64(1); seq <= maxSeq+2; seq++ {
			ack(seq)
		}
	}

	burst := func(n int, expiring bool) {
		t.Helper()
		for range n {
			ttl := time.Hour
			if expiring && rng.IntN(8) == 0 {
				ttl = 2 * time.Second
			}
			send(ttl)
		}
		var seqs []uint64
		for seq := range model {
			seqs = append(seqs, seq)
		}
		rng.Shuffle(len(seqs), func(i, j int) { seqs[i], seqs[j] = seqs[j], seqs[i] })
		for i, seq := range seqs {
			if expiring && i == len(seqs)/2 {
				advance(3 * time.Second) // the short-lived ones expire
			}
			ack(seq)
			ack(seq) // a second ACK is never OK
		}
		ackAll()
	}
	for round := range 8 {
		switch round % 4 {
		case 0: // fits the mirror
			burst(1+rng.IntN(seqsMax), false)
		case 1: // overflows it, then empties it: known again
			burst(seqsMax+1+rng.IntN(2*seqsMax), false)
		case 2: // messages expire while mirrored or not
			burst(10+rng.IntN(3*seqsMax), true)
		case 3: // leave some behind and start over from disk
			burst(1+rng.IntN(seqsMax), false)
			send(time.Hour)
			send(time.Hour)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open()
			ack(maxSeq + 1)
		}
		// A few messages in and out one at a time.
		for range 5 {
			send(time.Hour)
			ack(maxSeq)
			ack(maxSeq)
		}
	}
	ackAll()
	for seq, mm := range model {
		if clock().Before(mm.expires) {
			t.Fatalf("message %d was never ACKed", seq)
		}
	}
}
