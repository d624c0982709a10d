package badger

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"veil/relay/store"
)

// TestAckMirror checks ACK against a model through every state of the
// writer's mirror of a mailbox's keys (boxState.seqs): unknown after a
// reopen, known, dropped when more than seqsMax messages wait or when the
// writer mirrors mirrorMax in all, known again once the mailbox is empty,
// and with messages that expire while mirrored. Every ACK must answer as
// the model says: OK exactly once for a stored unexpired message,
// ErrNotFound otherwise.
func TestAckMirror(t *testing.T) {
	oldSeqs, oldMirror := seqsMax, mirrorMax
	seqsMax, mirrorMax = 32, 48 // two mailboxes can exceed the total
	defer func() { seqsMax, mirrorMax = oldSeqs, oldMirror }()

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
	boxes := []store.Mailbox{mustMailbox(t, s, 1, 2), mustMailbox(t, s, 3, 4)}

	type key struct {
		box int
		seq uint64
	}
	model := map[key]time.Time{} // stored and not ACKed → expiry
	maxSeq := make([]uint64, len(boxes))
	rng := rand.New(rand.NewPCG(1, 2))
	send := func(b int, ttl time.Duration) {
		t.Helper()
		seq, err := s.Send(ctx, boxes[b].SenderID, []byte("x"), ttl, 1000)
		if err != nil {
			t.Fatal(err)
		}
		model[key{b, seq}] = clock().Add(ttl)
		maxSeq[b] = max(maxSeq[b], seq)
	}
	ack := func(k key) {
		t.Helper()
		exp, stored := model[k]
		want := stored && clock().Before(exp)
		err := s.Ack(ctx, boxes[k.box].RecipientID, k.seq)
		switch {
		case want && err != nil:
			t.Fatalf("Ack(%v) of a stored message: %v", k, err)
		case !want && !errors.Is(err, store.ErrNotFound):
			t.Fatalf("Ack(%v) of a missing or expired message = %v, want ErrNotFound", k, err)
		}
		if want {
			delete(model, k)
		}
	}
	ackAll := func() {
		t.Helper()
		for b := range boxes {
			for seq := uint64(1); seq <= maxSeq[b]+2; seq++ {
				ack(key{b, seq})
			}
		}
	}
	// check asserts the mirror's bookkeeping from inside the writer.
	check := func() {
		t.Helper()
		o := &mirrorCheck{}
		if err := s.submit(ctx, o); err != nil {
			t.Fatal(err)
		}
		if o.problem != "" {
			t.Fatal(o.problem)
		}
	}
	// burst sends n messages spread over the mailboxes (short-lived ones
	// too when expiring) and ACKs them all in random order, twice each.
	burst := func(n int, spread, expiring bool) {
		t.Helper()
		for i := range n {
			b := 0
			if spread {
				b = i % len(boxes)
			}
			ttl := time.Hour
			if expiring && rng.IntN(8) == 0 {
				ttl = 2 * time.Second
			}
			send(b, ttl)
		}
		var keys []key
		for k := range model {
			keys = append(keys, k)
		}
		rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		check()
		for i, k := range keys {
			if expiring && i == len(keys)/2 {
				advance(3 * time.Second) // the short-lived ones expire
			}
			ack(k)
			ack(k) // a second ACK is never OK
			if i%7 == 0 {
				check()
			}
		}
		ackAll()
		check()
	}
	for round := range 10 {
		switch round % 5 {
		case 0: // fits the mirror; a quota recount rebuilds it
			n := 1 + rng.IntN(seqsMax)
			for range n {
				send(0, time.Hour)
			}
			if _, err := s.Send(ctx, boxes[0].SenderID, []byte("x"), time.Hour, n); !errors.Is(err, store.ErrQuota) {
				t.Fatalf("Send over the quota: %v", err)
			}
			check()
			burst(0, false, false)
		case 1: // overflows one mailbox's mirror, then empties it: known again
			burst(seqsMax+1+rng.IntN(2*seqsMax), false, false)
		case 2: // fits each mailbox but not the total
			burst(mirrorMax+2+rng.IntN(2*seqsMax-mirrorMax-2), true, false)
		case 3: // messages expire while mirrored or not
			burst(10+rng.IntN(3*seqsMax), true, true)
		case 4: // leave more behind than the total allows and start over from disk
			burst(1+rng.IntN(seqsMax), true, false)
			for range seqsMax - 4 {
				send(0, time.Hour)
				send(1, time.Hour)
			}
			// A quota recount rebuilds a mirror that exists.
			if _, err := s.Send(ctx, boxes[0].SenderID, []byte("x"), time.Hour, seqsMax-4); !errors.Is(err, store.ErrQuota) {
				t.Fatalf("Send over the quota: %v", err)
			}
			check()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open()
			ack(key{0, maxSeq[0] + 1})
			send(0, time.Hour) // counts: mirrored again
			send(1, time.Hour) // counts: over mirrorMax, not mirrored
			check()
			ackAll()
		}
		// A few messages in and out one at a time.
		for range 5 {
			b := rng.IntN(len(boxes))
			send(b, time.Hour)
			ack(key{b, maxSeq[b]})
			ack(key{b, maxSeq[b]})
		}
	}
	ackAll()
	for k, exp := range model {
		if clock().Before(exp) {
			t.Fatalf("message %v was never ACKed", k)
		}
	}
	// Deleting a mailbox forgets its mirror.
	send(1, time.Hour)
	send(1, time.Hour)
	if err := s.DeleteMailbox(ctx, boxes[1].RecipientID); err != nil {
		t.Fatal(err)
	}
	check()
}

// mirrorCheck runs in the writer goroutine and checks the mirrors'
// invariants: the total is counted right and within mirrorMax, each
// mirror within seqsMax and in order, and no unknown mirror holds keys.
type mirrorCheck struct{ problem string }

func (o *mirrorCheck) apply(b *batch) error {
	total := 0
	for _, st := range b.w.boxes {
		total += len(st.seqs)
		switch {
		case !st.known && st.seqs != nil:
			o.problem = "a mailbox without a mirror holds keys"
		case len(st.seqs) > seqsMax:
			o.problem = fmt.Sprintf("a mirror holds %d keys, more than seqsMax", len(st.seqs))
		case !slices.IsSortedFunc(st.seqs, func(a, b seqExp) int { return cmp.Compare(a.seq, b.seq) }):
			o.problem = "a mirror is out of order"
		}
	}
	switch {
	case total != b.w.mirrored:
		o.problem = fmt.Sprintf("mirrored = %d, but the mirrors hold %d keys", b.w.mirrored, total)
	case total > mirrorMax:
		o.problem = fmt.Sprintf("the mirrors hold %d keys, more than mirrorMax", total)
	}
	return nil
}
