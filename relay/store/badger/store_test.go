package badger

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	bdg "github.com/dgraph-io/badger/v4"

	"veil/relay/store"
	"veil/relay/store/record"
)

const day = 24 * time.Hour

func mustMailbox(t testing.TB, s *Store, rid, sid byte) store.Mailbox {
	t.Helper()
	m := store.Mailbox{RecipientID: store.ID{rid}, SenderID: store.ID{sid}}
	if err := s.CreateMailbox(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestReopen checks that what was acknowledged survives Close and Open,
// and that sequence numbers continue after the last one reserved.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	m := mustMailbox(t, s, 1, 2)
	var last uint64
	for i := range 10 {
		if last, err = s.Send(ctx, m.SenderID, []byte{byte(i)}, time.Hour, 100); err != nil {
			t.Fatal(err)
		}
	}
	for seq := uint64(1); seq <= last; seq++ {
		if err := s.Ack(ctx, m.RecipientID, seq); err != nil && seq <= 5 {
			t.Fatal(err)
		}
		if seq == 5 {
			break
		}
	}
	if err := s.Secure(ctx, m.SenderID, []byte("cred")); err != nil {
		t.Fatal(err)
	}
	id := store.ID{9}
	if err := s.PutBlob(ctx, id, []byte("blob"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msgs, err := s.Pending(ctx, m.RecipientID, 0, 100)
	if err != nil || len(msgs) != 5 || msgs[0].Seq != 6 || msgs[4].Seq != 10 {
		t.Fatalf("after reopen Pending = %d messages (%v), want seqs 6..10", len(msgs), err)
	}
	got, err := s.MailboxBySender(ctx, m.SenderID)
	if err != nil || string(got.SenderKey) != "cred" {
		t.Fatalf("after reopen sender key %q, %v", got.SenderKey, err)
	}
	for _, msg := range msgs {
		if err := s.Ack(ctx, m.RecipientID, msg.Seq); err != nil {
			t.Fatal(err)
		}
	}
	// The first SEND reserved seqReserve numbers; a restart continues
	// after the reservation.
	seq, err := s.Send(ctx, m.SenderID, []byte("next"), time.Hour, 100)
	if err != nil || seq != seqReserve+1 {
		t.Fatalf("Send after reopen = %d, %v; want %d", seq, err, seqReserve+1)
	}
	if b, err := s.TakeBlob(ctx, id); err != nil || string(b) != "blob" {
		t.Fatalf("TakeBlob after reopen = %q, %v", b, err)
	}
}

// TestSeqReservation checks that a mailbox's sequence numbers stay
// strictly increasing across reservations and reopens, and that every
// message is still there in order.
func TestSeqReservation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	m := mustMailbox(t, s, 1, 2)
	var seqs []uint64
	send := func() {
		t.Helper()
		seq, err := s.Send(ctx, m.SenderID, []byte("x"), time.Hour, 4*seqReserve)
		if err != nil {
			t.Fatal(err)
		}
		if len(seqs) > 0 && seq <= seqs[len(seqs)-1] {
			t.Fatalf("seq %d after %d", seq, seqs[len(seqs)-1])
		}
		seqs = append(seqs, seq)
	}
	reopen := func() {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s, err = Open(Config{Dir: dir}); err != nil {
			t.Fatal(err)
		}
	}
	send()
	reopen()
	send() // seqReserve+1: the first reservation is skipped
	for range seqReserve {
		send() // crosses into the third reservation
	}
	reopen()
	send()
	want := []uint64{1, seqReserve + 1, 2*seqReserve + 1, 3*seqReserve + 1}
	for _, w := range want {
		if !slices.Contains(seqs, w) {
			t.Errorf("seq %d never handed out: %v…", w, seqs[:4])
		}
	}
	if last := seqs[len(seqs)-1]; last != 3*seqReserve+1 {
		t.Errorf("last seq %d, want %d", last, 3*seqReserve+1)
	}
	msgs, err := s.Pending(ctx, m.RecipientID, 0, len(seqs)+1)
	if err != nil || len(msgs) != len(seqs) {
		t.Fatalf("Pending = %d messages, %v; want %d", len(msgs), err, len(seqs))
	}
	for i, msg := range msgs {
		if msg.Seq != seqs[i] {
			t.Fatalf("Pending[%d].Seq = %d, want %d", i, msg.Seq, seqs[i])
		}
	}
}

func TestDiskQuota(t *testing.T) {
	ctx := context.Background()
	s, err := Open(Config{Dir: t.TempDir(), MaxBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := mustMailbox(t, s, 1, 2)
	if s.Size() <= 1 {
		t.Fatalf("Size = %d for an opened store, want its files' size", s.Size())
	}
	if _, err := s.Send(ctx, m.SenderID, []byte("x"), time.Hour, 10); !errors.Is(err, store.ErrDiskQuota) {
		t.Fatalf("Send over the disk quota: %v", err)
	}
	if _, err := s.Append(ctx, store.ID{3}, []byte("x")); !errors.Is(err, store.ErrDiskQuota) {
		t.Fatalf("Append over the disk quota: %v", err)
	}
	if err := s.PutBlob(ctx, store.ID{4}, []byte("x"), time.Now().Add(time.Hour)); !errors.Is(err, store.ErrDiskQuota) {
		t.Fatalf("PutBlob over the disk quota: %v", err)
	}
	// Reading, acking and deleting still work, so a full relay can drain.
	if _, err := s.Pending(ctx, m.RecipientID, 0, 10); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMailbox(ctx, m.RecipientID); err != nil {
		t.Fatal(err)
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	m := mustMailbox(t, s, 1, 2)
	if _, err := s.Send(ctx, m.SenderID, make([]byte, MaxBody+1), time.Hour, 10); err == nil {
		t.Fatal("Send of an oversize body succeeded")
	}
	if _, err := s.Send(ctx, m.SenderID, []byte("x"), 0, 10); err == nil {
		t.Fatal("Send with zero TTL succeeded")
	}
	if err := s.CreateLog(ctx, store.Log{ID: store.ID{5}}); err == nil {
		t.Fatal("CreateLog with zero TTL succeeded")
	}
	if err := s.Secure(ctx, m.SenderID, nil); err == nil {
		t.Fatal("Secure with an empty key succeeded")
	}
	// A cancelled context is refused before anything is written.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Send(cctx, m.SenderID, []byte("x"), time.Hour, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send with a cancelled context: %v", err)
	}
	if msgs, _ := s.Pending(ctx, m.RecipientID, 0, 10); len(msgs) != 0 {
		t.Fatalf("refused sends stored %d messages", len(msgs))
	}
}

// TestCorruptRecord checks that a damaged record is an error, not a panic.
func TestCorruptRecord(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	rid := store.ID{7}
	if err := s.db.Update(func(txn *bdg.Txn) error {
		return txn.Set(idKey(prefixMailbox, rid), []byte{record.V2, 1, 2})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mailbox(ctx, rid); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Mailbox of a corrupt record: %v, want a corruption error", err)
	}
	if err := s.Ack(ctx, rid, 1); err == nil {
		t.Fatal("Ack on a corrupt mailbox succeeded")
	}
	// The store still works.
	m := mustMailbox(t, s, 1, 2)
	if _, err := s.Send(ctx, m.SenderID, []byte("x"), time.Hour, 10); err != nil {
		t.Fatal(err)
	}
}

// TestExpireOrphans checks that entries whose log is gone (a crash in the
// middle of a delete) are removed by Expire. Messages of a mailbox that is
// gone are dropped when the journal opens (TestJournalOrphans).
func TestExpireOrphans(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	m := mustMailbox(t, s, 1, 2)
	if _, err := s.Send(ctx, m.SenderID, []byte("kept"), time.Hour, 10); err != nil {
		t.Fatal(err)
	}
	orphans := [][]byte{seqKey(prefixEntry, store.ID{43}, 1)}
	if err := s.db.Update(func(txn *bdg.Txn) error {
		for _, k := range orphans {
			if err := txn.Set(k, []byte("orphan")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := s.Expire(ctx, now, now.Add(-30*day)); err != nil {
		t.Fatal(err)
	}
	if err := s.db.View(func(txn *bdg.Txn) error {
		for _, k := range orphans {
			if _, err := txn.Get(k); !errors.Is(err, bdg.ErrKeyNotFound) {
				t.Errorf("orphan %x still there (%v)", k[:4], err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if msgs, err := s.Pending(ctx, m.RecipientID, 0, 10); err != nil || len(msgs) != 1 {
		t.Fatalf("Pending after Expire = %d, %v", len(msgs), err)
	}
}

// TestDeleteLarge deletes a mailbox and a log holding more records than
// one delete group removes.
func TestDeleteLarge(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	m := mustMailbox(t, s, 1, 2)
	const n = 2*deleteChunk + 10
	for i := range n {
		if _, err := s.Send(ctx, m.SenderID, []byte{byte(i)}, time.Hour, n); err != nil {
			t.Fatal(err)
		}
	}
	l := store.Log{ID: store.ID{3}, TTL: time.Hour}
	if err := s.CreateLog(ctx, l); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := s.Append(ctx, l.ID, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteMailbox(ctx, m.RecipientID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteLog(ctx, l.ID); err != nil {
		t.Fatal(err)
	}
	left := 0
	if err := s.db.View(func(txn *bdg.Txn) error {
		it := txn.NewIterator(bdg.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			left++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d records left after deleting everything", left)
	}
}

// TestLoggerDropsArguments checks that Badger's messages reach the log
// without their arguments, which may be keys.
func TestLoggerDropsArguments(t *testing.T) {
	var buf bytes.Buffer
	q := quietLogger{slog.New(slog.NewTextHandler(&buf, nil))}
	secret := "6d2f0a9b1c-an-id"
	q.Errorf("unable to read key %x: %v", secret, secret)
	q.Warningf("key %s", secret)
	q.Infof("info %s", secret)
	q.Debugf("debug %s", secret)
	out := buf.String()
	if strings.Contains(out, secret) || strings.Contains(out, "info") || strings.Contains(out, "debug") {
		t.Fatalf("logger leaked: %q", out)
	}
	if !strings.Contains(out, "unable to read key") {
		t.Fatalf("logger dropped the error itself: %q", out)
	}
	quietLogger{}.Errorf("no logger %s", secret) // must not panic
}

// TestClockExpiry checks that a record expired by the store's clock is
// invisible before Expire runs and no longer holds the quota.
func TestClockExpiry(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s, err := Open(Config{Dir: t.TempDir(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := mustMailbox(t, s, 1, 2)
	if _, err := s.Send(ctx, m.SenderID, []byte("a"), time.Minute, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBlob(ctx, store.ID{5}, []byte("b"), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	if msgs, err := s.Pending(ctx, m.RecipientID, 0, 10); err != nil || len(msgs) != 0 {
		t.Fatalf("Pending after expiry = %d, %v", len(msgs), err)
	}
	if _, err := s.Send(ctx, m.SenderID, []byte("b"), time.Minute, 1); err != nil {
		t.Fatalf("Send after expiry: %v", err)
	}
	if _, err := s.TakeBlob(ctx, store.ID{5}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TakeBlob after deadline: %v", err)
	}
}

// TestCacheDelete checks that a secured mailbox, which the read cache
// keeps, is gone from every lookup once DeleteMailbox returns, even with
// readers loading it concurrently.
func TestCacheDelete(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	for i := range 20 {
		m := mustMailbox(t, s, byte(2*i+1), byte(2*i+2))
		if err := s.Secure(ctx, m.SenderID, []byte("cred")); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = s.MailboxBySender(ctx, m.SenderID)
				_, _ = s.Mailbox(ctx, m.RecipientID)
			}
		}()
		if got, err := s.MailboxBySender(ctx, m.SenderID); err != nil || string(got.SenderKey) != "cred" {
			t.Fatalf("MailboxBySender = %q, %v", got.SenderKey, err)
		}
		if err := s.DeleteMailbox(ctx, m.RecipientID); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := s.MailboxBySender(ctx, m.SenderID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("MailboxBySender after delete: %v", err)
			}
			if _, err := s.Mailbox(ctx, m.RecipientID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Mailbox after delete: %v", err)
			}
		}
		close(stop)
		<-done
		if _, err := s.Mailbox(ctx, m.RecipientID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Mailbox after delete and readers: %v", err)
		}
	}
}

// TestIdleIndex checks that the idle index follows every mailbox: created,
// touched by a send, secured and deleted, and that Expire finds the idle
// ones through it.
func TestIdleIndex(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	now := time.Now()
	var boxes []store.Mailbox
	for i := range 6 {
		m := store.Mailbox{RecipientID: store.ID{byte(10 + i)}, SenderID: store.ID{byte(20 + i)},
			Created: now.Add(-100 * day), LastActive: now.Add(-time.Duration(10*i) * day)}
		if err := s.CreateMailbox(ctx, m); err != nil {
			t.Fatal(err)
		}
		boxes = append(boxes, m)
	}
	// Box 5 (50 days idle) sends: active again. Box 4 (40 days) is secured:
	// active again. Box 3 (30 days) is deleted.
	if _, err := s.Send(ctx, boxes[5].SenderID, []byte("x"), time.Hour, 10); err != nil {
		t.Fatal(err)
	}
	if err := s.Secure(ctx, boxes[4].SenderID, []byte("cred")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMailbox(ctx, boxes[3].RecipientID); err != nil {
		t.Fatal(err)
	}
	countIndex := func() int {
		n := 0
		_ = s.db.View(func(txn *bdg.Txn) error {
			it := txn.NewIterator(bdg.IteratorOptions{Prefix: []byte{prefixActive}})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				n++
			}
			return nil
		})
		return n
	}
	if n := countIndex(); n != 5 {
		t.Fatalf("%d idle-index keys for 5 mailboxes", n)
	}
	// Idle for 15 days or more: boxes 2 (20 days) only.
	if err := s.Expire(ctx, now, now.Add(-15*day)); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, true, false, false, true, true} {
		_, err := s.Mailbox(ctx, boxes[i].RecipientID)
		if got := err == nil; got != want {
			t.Errorf("mailbox %d exists = %v (%v), want %v", i, got, err, want)
		}
	}
	if n := countIndex(); n != 4 {
		t.Fatalf("%d idle-index keys for 4 mailboxes", n)
	}
}
