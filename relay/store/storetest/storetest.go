// Package storetest is the conformance suite every relay store passes
// unchanged. A store package calls Run from its tests with a function that
// opens a fresh, empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
//	}
//
// The suite uses the store's own clock for everything it writes and passes
// explicit times to Expire, so a store whose clock is the real one passes
// without sleeping.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"veil/relay/store"
)

// Open returns a fresh, empty store. The suite closes it.
type Open func(t *testing.T) store.Store

// day is the granularity the stores keep mailbox times at.
const day = 24 * time.Hour

// Run runs every conformance test against stores made by open.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Mailbox", testMailbox},
		{"MailboxExists", testMailboxExists},
		{"NotFound", testNotFound},
		{"Secure", testSecure},
		{"SendPendingAck", testSendPendingAck},
		{"SeqNeverReused", testSeqNeverReused},
		{"BodyCopied", testBodyCopied},
		{"Quota", testQuota},
		{"Notify", testNotify},
		{"NotifyLog", testNotifyLog},
		{"ConcurrentSend", testConcurrentSend},
		{"DeleteMailbox", testDeleteMailbox},
		{"Blob", testBlob},
		{"BlobOneWinner", testBlobOneWinner},
		{"BlobDeadline", testBlobDeadline},
		{"BlobTakenReserved", testBlobTakenReserved},
		{"Log", testLog},
		{"LogNotFound", testLogNotFound},
		{"ExpireMessages", testExpireMessages},
		{"ExpireLogEntries", testExpireLogEntries},
		{"ExpireIdleMailbox", testExpireIdleMailbox},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
	for _, tc := range chunkTests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s, s)
		})
	}
}

func newID(t *testing.T) store.ID {
	t.Helper()
	var id store.ID
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatal(err)
	}
	return id
}

// newMailbox creates a mailbox active now and returns it.
func newMailbox(t *testing.T, s store.Store) store.Mailbox {
	t.Helper()
	m := store.Mailbox{
		RecipientID: newID(t),
		SenderID:    newID(t),
		Created:     time.Now(),
		LastActive:  time.Now(),
	}
	copy(m.RecipientKey[:], bytes.Repeat([]byte{7}, 32))
	if err := s.CreateMailbox(context.Background(), m); err != nil {
		t.Fatalf("CreateMailbox: %v", err)
	}
	return m
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func body(i int) []byte { return []byte(fmt.Sprintf("block %04d", i)) }

func send(t *testing.T, s store.Store, sid store.ID, b []byte) uint64 {
	t.Helper()
	seq, err := s.Send(context.Background(), sid, b, time.Hour, 1000)
	noErr(t, "Send", err)
	return seq
}

func pending(t *testing.T, s store.Store, rid store.ID, after uint64, limit int) []store.Message {
	t.Helper()
	msgs, err := s.Pending(context.Background(), rid, after, limit)
	noErr(t, "Pending", err)
	return msgs
}

func testMailbox(t *testing.T, s store.Store) {
	ctx := context.Background()
	m := newMailbox(t, s)
	for name, get := range map[string]func() (store.Mailbox, error){
		"Mailbox":         func() (store.Mailbox, error) { return s.Mailbox(ctx, m.RecipientID) },
		"MailboxBySender": func() (store.Mailbox, error) { return s.MailboxBySender(ctx, m.SenderID) },
	} {
		got, err := get()
		noErr(t, name, err)
		if got.RecipientID != m.RecipientID || got.SenderID != m.SenderID || got.RecipientKey != m.RecipientKey {
			t.Fatalf("%s: got IDs/key %x %x %x, want %x %x %x", name,
				got.RecipientID, got.SenderID, got.RecipientKey, m.RecipientID, m.SenderID, m.RecipientKey)
		}
		if len(got.SenderKey) != 0 {
			t.Fatalf("%s: new mailbox has sender key %x", name, got.SenderKey)
		}
		// Times are kept at day granularity (store.Mailbox).
		if !got.Created.Equal(m.Created.UTC().Truncate(day)) {
			t.Fatalf("%s: Created %v, want %v", name, got.Created, m.Created.UTC().Truncate(day))
		}
		if got.LastActive.Before(got.Created) || got.LastActive.After(time.Now()) {
			t.Fatalf("%s: LastActive %v outside [Created, now]", name, got.LastActive)
		}
	}
}

func testMailboxExists(t *testing.T, s store.Store) {
	ctx := context.Background()
	m := newMailbox(t, s)
	again := m
	again.SenderID = newID(t)
	wantErr(t, "CreateMailbox same recipient ID", s.CreateMailbox(ctx, again), store.ErrExists)
	again = m
	again.RecipientID = newID(t)
	wantErr(t, "CreateMailbox same sender ID", s.CreateMailbox(ctx, again), store.ErrExists)
	// The failed attempts left nothing behind.
	_, err := s.Mailbox(ctx, again.RecipientID)
	wantErr(t, "Mailbox of refused create", err, store.ErrNotFound)
	got, err := s.MailboxBySender(ctx, m.SenderID)
	noErr(t, "MailboxBySender", err)
	if got.RecipientID != m.RecipientID {
		t.Fatal("sender ID now points at another mailbox")
	}
}

func testNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	id := newID(t)
	_, err := s.Mailbox(ctx, id)
	wantErr(t, "Mailbox", err, store.ErrNotFound)
	_, err = s.MailboxBySender(ctx, id)
	wantErr(t, "MailboxBySender", err, store.ErrNotFound)
	wantErr(t, "Secure", s.Secure(ctx, id, []byte("key")), store.ErrNotFound)
	_, err = s.Send(ctx, id, []byte("x"), time.Hour, 10)
	wantErr(t, "Send", err, store.ErrNotFound)
	_, err = s.Pending(ctx, id, 0, 10)
	wantErr(t, "Pending", err, store.ErrNotFound)
	wantErr(t, "Ack", s.Ack(ctx, id, 1), store.ErrNotFound)
	wantErr(t, "DeleteMailbox", s.DeleteMailbox(ctx, id), store.ErrNotFound)
	_, err = s.TakeBlob(ctx, id)
	wantErr(t, "TakeBlob", err, store.ErrNotFound)
}

func testSecure(t *testing.T, s store.Store) {
	ctx := context.Background()
	m := newMailbox(t, s)
	key := []byte("sender credential, opaque to the store")
	noErr(t, "Secure", s.Secure(ctx, m.SenderID, key))
	key[0] = 'X' // the store keeps its own copy
	wantErr(t, "second Secure", s.Secure(ctx, m.SenderID, []byte("other")), store.ErrAlreadySecured)
	for _, get := range []func() (store.Mailbox, error){
		func() (store.Mailbox, error) { return s.Mailbox(ctx, m.RecipientID) },
		func() (store.Mailbox, error) { return s.MailboxBySender(ctx, m.SenderID) },
	} {
		got, err := get()
		noErr(t, "lookup", err)
		if string(got.SenderKey) != "sender credential, opaque to the store" {
			t.Fatalf("SenderKey = %q", got.SenderKey)
		}
	}
	// Secure is by sender ID: the recipient ID is not a sender ID.
	wantErr(t, "Secure by recipient ID", s.Secure(ctx, m.RecipientID, []byte("k")), store.ErrNotFound)
}

func testSendPendingAck(t *testing.T, s store.Store) {
	ctx := context.Background()
	m := newMailbox(t, s)
	if msgs := pending(t, s, m.RecipientID, 0, 10); len(msgs) != 0 {
		t.Fatalf("new mailbox has %d messages", len(msgs))
	}
	start := time.Now()
	var seqs []uint64
	for i := range 5 {
		seq := send(t, s, m.SenderID, body(i))
		if len(seqs) > 0 && seq <= seqs[len(seqs)-1] {
			t.Fatalf("seq %d after %d", seq, seqs[len(seqs)-1])
		}
		seqs = append(seqs, seq)
	}
	msgs := pending(t, s, m.RecipientID, 0, 10)
	if len(msgs) != 5 {
		t.Fatalf("Pending returned %d messages, want 5", len(msgs))
	}
	for i, msg := range msgs {
		if msg.Seq != seqs[i] || !bytes.Equal(msg.Body, body(i)) {
			t.Fatalf("message %d = (%d, %q), want (%d, %q)", i, msg.Seq, msg.Body, seqs[i], body(i))
		}
		lo, hi := start.Add(time.Hour-time.Second), time.Now().Add(time.Hour+2*time.Second)
		if msg.Expires.Before(lo) || msg.Expires.After(hi) {
			t.Fatalf("message %d expires %v, want within [%v, %v]", i, msg.Expires, lo, hi)
		}
	}
	// Cursor and limit.
	msgs = pending(t, s, m.RecipientID, seqs[1], 2)
	if len(msgs) != 2 || msgs[0].Seq != seqs[2] || msgs[1].Seq != seqs[3] {
		t.Fatalf("Pending(after %d, 2) = %v", seqs[1], seqOf(msgs))
	}
	if msgs := pending(t, s, m.RecipientID, seqs[4], 10); len(msgs) != 0 {
		t.Fatalf("Pending after the last = %v", seqOf(msgs))
	}
	// Ack deletes exactly one; a second ack of it is ErrNotFound.
	noErr(t, "Ack", s.Ack(ctx, m.RecipientID, seqs[2]))
	wantErr(t, "second Ack", s.Ack(ctx, m.RecipientID, seqs[2]), store.ErrNotFound)
	wantErr(t, "Ack of unknown seq", s.Ack(ctx, m.RecipientID, seqs[4]+100), store.ErrNotFound)
	wantErr(t, "Ack by sender ID", s.Ack(ctx, m.SenderID, seqs[0]), store.ErrNotFound)
	msgs = pending(t, s, m.RecipientID, 0, 10)
	want := []uint64{seqs[0], seqs[1], seqs[3], seqs[4]}
	if fmt.Sprint(seqOf(msgs)) != fmt.Sprint(want) {
		t.Fatalf("after ack Pending = %v, want %v", seqOf(msgs), want)
	}
	// Pending is by recipient ID only.
	_, err := s.Pending(ctx, m.SenderID, 0, 10)
	wantErr(t, "Pending by sender ID", err, store.ErrNotFound)
	// A second mailbox is independent.
	other := newMailbox(t, s)
	if msgs := pending(t, s, other.RecipientID, 0, 10); len(msgs) != 0 {
		t.Fatalf("other mailbox sees %d messages", len(msgs))
	}
}

func seqOf(msgs []store.Message) []uint64 {
	out := make([]uint64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Seq
	}
	return out
}

func testSeqNeverReused(t *testing.T, s store.Store) {
	ctx := context.Background()
	m := newMailbox(t, s)
	var last uint64
	for i := range 3 {
		last = send(t, s, m.SenderID, body(i))
	}
	for _, msg := range pending(t, s, m.RecipientID, 0, 10) {
		noErr(t, "Ack", s.Ack(ctx, m.RecipientID, msg.Seq))
	}
	if seq := send(t, s, m.SenderID, body(9)); seq <= last {
		t.Fatalf("seq %d reused after acking up to %d", seq, last)
	}
}

func testBodyCopied(t *testing.T, s store.Store) {
	m := newMailbox(t, s)
	b := []byte("original")
	send(t, s, m.SenderID, b)
	copy(b, "XXXXXXXX")
	msgs := pending(t, s, m.RecipientID, 0, 1)
	if string(msgs[0].Body) != "original" {
		t.Fatalf("stored body changed with the caller's slice: %q", msgs[0].Body)
	}
	msgs[0].Body[0] = 'Y'
	if again := pending(t, s, m.RecipientID, 0, 1); string(again[0].Body) != "original" {
		t.Fatalf("stored body changed with a returned slice: %q", again[0].Body)
	}
}

func testQuota(t *testing.T, s store.Store) {
	ctx := context.Background()
	m := newMailbox(t, s)
	const max = 3
	var first uint64
	for i := range max {
		seq, err := s.Send(ctx, m.SenderID, body(i), time.Hour, max)
		noErr(t, "Send", err)
		if i == 0 {
			first = seq
		}
	}
	_, err := s.Send(ctx, m.SenderID, body(max), time.Hour, max)
	wantErr(t, "Send over quota", err, store.ErrQuota)
	if n := len(pending(t, s, m.RecipientID, 0, 10)); n != max {
		t.Fatalf("%d pending after refused send, want %d", n, max)
	}
	noErr(t, "Ack", s.Ack(ctx, m.RecipientID, first))
	_, err = s.Send(ctx, m.SenderID, body(max), time.Hour, max)
	noErr(t, "Send after ack", err)
	_, err = s.Send(ctx, m.SenderID, body(max+1), time.Hour, max)
	wantErr(t, "Send over quota again", err, store.ErrQuota)
	// The quota is per mailbox.
	other := newMailbox(t, s)
	_, err = s.Send(ctx, other.SenderID, body(0), time.Hour, max)
	noErr(t, "Send to another mailbox", err)
}

// testNotifyLog checks store.LogNotifier where a store implements it.
func testNotifyLog(t *testing.T, s store.Store) {
	ln, ok := s.(store.LogNotifier)
	if !ok {
		t.Skip("the store does not implement store.LogNotifier")
	}
	ctx := context.Background()
	l := store.Log{ID: newID(t), TTL: time.Hour}
	other := store.Log{ID: newID(t), TTL: time.Hour}
	noErr(t, "CreateLog", s.CreateLog(ctx, l))
	noErr(t, "CreateLog", s.CreateLog(ctx, other))
	ch, stop := ln.NotifyLog(l.ID)
	defer stop()
	ch2, stop2 := ln.NotifyLog(other.ID)
	defer stop2()
	wait := func(want uint64) {
		t.Helper()
		select {
		case n := <-ch:
			if n != want {
				t.Fatalf("notified %d, want %d", n, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no notification of entry %d within 10s", want)
		}
	}
	seq, err := s.Append(ctx, l.ID, body(0))
	noErr(t, "Append", err)
	wait(seq)
	// Appends do not block on an undrained channel; the newest number
	// replaces older unread ones.
	var last uint64
	for i := range 20 {
		last, err = s.Append(ctx, l.ID, body(i))
		noErr(t, "Append", err)
	}
	deadline := time.After(10 * time.Second)
	for got := uint64(0); got != last; {
		select {
		case got = <-ch:
			if got > last {
				t.Fatalf("notified %d, above the last entry %d", got, last)
			}
		case <-deadline:
			t.Fatalf("entry %d not notified within 10s", last)
		}
	}
	select {
	case n := <-ch2:
		t.Fatalf("notified %d for appends to another log", n)
	default:
	}
	stop()
	_, err = s.Append(ctx, l.ID, body(1))
	noErr(t, "Append", err)
	select {
	case n := <-ch:
		t.Fatalf("notified %d after stop", n)
	case <-time.After(100 * time.Millisecond):
	}
}

func testNotify(t *testing.T, s store.Store) {
	ctx := context.Background()
	m := newMailbox(t, s)
	other := newMailbox(t, s)
	ch, stop := s.Notify(m.RecipientID)
	defer stop()
	send(t, s, m.SenderID, body(0))
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification within 10s of Send")
	}
	// Many sends do not block on an undrained channel; one value waits.
	for i := range 20 {
		send(t, s, m.SenderID, body(i))
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification after 20 sends")
	}
	// A send to another mailbox does not notify this one.
	ch2, stop2 := s.Notify(other.RecipientID)
	send(t, s, m.SenderID, body(99))
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
	}
	select {
	case <-ch2:
		t.Fatal("notified for a send to another mailbox")
	default:
	}
	stop2()
	stop2() // idempotent
	_, err := s.Send(ctx, other.SenderID, body(1), time.Hour, 10)
	noErr(t, "Send after stop", err)
}

func testConcurrentSend(t *testing.T, s store.Store) {
	const writers, each = 8, 40
	m := newMailbox(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	seqs := make(chan uint64, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				seq, err := s.Send(context.Background(), m.SenderID, body(w*each+i), time.Hour, writers*each)
				if err != nil {
					errs <- err
					return
				}
				seqs <- seq
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(seqs)
	for err := range errs {
		t.Fatalf("concurrent Send: %v", err)
	}
	seen := map[uint64]bool{}
	for seq := range seqs {
		if seen[seq] {
			t.Fatalf("seq %d handed out twice", seq)
		}
		seen[seq] = true
	}
	msgs := pending(t, s, m.RecipientID, 0, writers*each+10)
	if len(msgs) != writers*each {
		t.Fatalf("Pending = %d messages, want %d", len(msgs), writers*each)
	}
	bodies := map[string]bool{}
	for i, msg := range msgs {
		if i > 0 && msg.Seq <= msgs[i-1].Seq {
			t.Fatalf("Pending out of order at %d", i)
		}
		if !seen[msg.Seq] {
			t.Fatalf("Pending returned seq %d that no Send returned", msg.Seq)
		}
		bodies[string(msg.Body)] = true
	}
	if len(bodies) != writers*each {
		t.Fatalf("%d distinct bodies, want %d", len(bodies), writers*each)
	}
	// Concurrent acks: every message acked exactly once.
	var acked sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 4 {
		acked.Add(1)
		go func() {
			defer acked.Done()
			for _, msg := range msgs {
				if err := s.Ack(context.Background(), m.RecipientID, msg.Seq); err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				} else if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Ack: %v", err)
				}
			}
		}()
	}
	acked.Wait()
	if ok != len(msgs) {
		t.Fatalf("%d successful acks, want %d", ok, len(msgs))
	}
}

func testDeleteMailbox(t *testing.T, s store.Store) {
	ctx := context.Background()
	m := newMailbox(t, s)
	keep := newMailbox(t, s)
	for i := range 5 {
		send(t, s, m.SenderID, body(i))
	}
	send(t, s, keep.SenderID, body(0))
	noErr(t, "DeleteMailbox", s.DeleteMailbox(ctx, m.RecipientID))
	_, err := s.Mailbox(ctx, m.RecipientID)
	wantErr(t, "Mailbox after delete", err, store.ErrNotFound)
	_, err = s.MailboxBySender(ctx, m.SenderID)
	wantErr(t, "MailboxBySender after delete", err, store.ErrNotFound)
	_, err = s.Send(ctx, m.SenderID, body(0), time.Hour, 10)
	wantErr(t, "Send after delete", err, store.ErrNotFound)
	_, err = s.Pending(ctx, m.RecipientID, 0, 10)
	wantErr(t, "Pending after delete", err, store.ErrNotFound)
	wantErr(t, "second DeleteMailbox", s.DeleteMailbox(ctx, m.RecipientID), store.ErrNotFound)
	if n := len(pending(t, s, keep.RecipientID, 0, 10)); n != 1 {
		t.Fatalf("other mailbox has %d messages after delete, want 1", n)
	}
}

func testBlob(t *testing.T, s store.Store) {
	ctx := context.Background()
	id := newID(t)
	b := []byte("invite bundle")
	noErr(t, "PutBlob", s.PutBlob(ctx, id, b, time.Now().Add(time.Hour)))
	b[0] = 'X'
	wantErr(t, "second PutBlob", s.PutBlob(ctx, id, []byte("other"), time.Now().Add(time.Hour)), store.ErrExists)
	got, err := s.TakeBlob(ctx, id)
	noErr(t, "TakeBlob", err)
	if string(got) != "invite bundle" {
		t.Fatalf("TakeBlob = %q", got)
	}
	_, err = s.TakeBlob(ctx, id)
	wantErr(t, "second TakeBlob", err, store.ErrNotFound)
}

func testBlobOneWinner(t *testing.T, s store.Store) {
	const takers = 100
	ctx := context.Background()
	id := newID(t)
	want := bytes.Repeat([]byte("b"), 512)
	noErr(t, "PutBlob", s.PutBlob(ctx, id, want, time.Now().Add(time.Hour)))
	var wg sync.WaitGroup
	start := make(chan struct{})
	results := make(chan error, takers)
	for range takers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got, err := s.TakeBlob(ctx, id)
			if err == nil && !bytes.Equal(got, want) {
				err = fmt.Errorf("winner got %d wrong bytes", len(got))
			}
			results <- err
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	winners := 0
	for err := range results {
		switch {
		case err == nil:
			winners++
		case errors.Is(err, store.ErrNotFound):
		default:
			t.Fatalf("TakeBlob: %v", err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d of %d concurrent TakeBlob calls won, want exactly 1", winners, takers)
	}
}

func testBlobDeadline(t *testing.T, s store.Store) {
	ctx := context.Background()
	past := newID(t)
	// A blob whose deadline has passed is gone, whether or not it was stored.
	if err := s.PutBlob(ctx, past, []byte("late"), time.Now().Add(-time.Minute)); err == nil {
		_, err := s.TakeBlob(ctx, past)
		wantErr(t, "TakeBlob past deadline", err, store.ErrNotFound)
	}
	soon, later := newID(t), newID(t)
	now := time.Now()
	noErr(t, "PutBlob", s.PutBlob(ctx, soon, []byte("soon"), now.Add(time.Hour)))
	noErr(t, "PutBlob", s.PutBlob(ctx, later, []byte("later"), now.Add(3*time.Hour)))
	noErr(t, "Expire", s.Expire(ctx, now.Add(2*time.Hour), now.Add(-30*day)))
	_, err := s.TakeBlob(ctx, soon)
	wantErr(t, "TakeBlob after Expire", err, store.ErrNotFound)
	got, err := s.TakeBlob(ctx, later)
	noErr(t, "TakeBlob of unexpired blob", err)
	if string(got) != "later" {
		t.Fatalf("TakeBlob = %q", got)
	}
}

// testBlobTakenReserved: a taken blob's ID stays reserved until the
// blob's deadline, so whoever took it cannot put the same ciphertext back
// for a later taker (spec/relay.md §7.2); Expire past the deadline frees
// the ID again.
func testBlobTakenReserved(t *testing.T, s store.Store) {
	ctx := context.Background()
	id, other := newID(t), newID(t)
	now := time.Now()
	b := []byte("invite bundle")
	noErr(t, "PutBlob", s.PutBlob(ctx, id, b, now.Add(time.Hour)))
	noErr(t, "PutBlob", s.PutBlob(ctx, other, []byte("other"), now.Add(time.Hour)))
	_, err := s.TakeBlob(ctx, id)
	noErr(t, "TakeBlob", err)
	wantErr(t, "PutBlob of the taken blob", s.PutBlob(ctx, id, b, now.Add(time.Hour)), store.ErrExists)
	wantErr(t, "PutBlob of a taken ID with a later deadline", s.PutBlob(ctx, id, []byte("x"), now.Add(2*time.Hour)), store.ErrExists)
	_, err = s.TakeBlob(ctx, id)
	wantErr(t, "TakeBlob of a taken ID", err, store.ErrNotFound)
	// The reservation outlives an Expire before the deadline.
	noErr(t, "Expire", s.Expire(ctx, now.Add(30*time.Minute), now.Add(-30*day)))
	wantErr(t, "PutBlob after an early Expire", s.PutBlob(ctx, id, b, now.Add(time.Hour)), store.ErrExists)
	_, err = s.TakeBlob(ctx, id)
	wantErr(t, "TakeBlob after an early Expire", err, store.ErrNotFound)
	// The untaken blob beside it is untouched.
	if got, err := s.TakeBlob(ctx, other); err != nil || string(got) != "other" {
		t.Fatalf("TakeBlob of the other blob = %q, %v", got, err)
	}
	// Past the deadline the reservation is swept and the ID is free.
	noErr(t, "Expire", s.Expire(ctx, now.Add(2*time.Hour), now.Add(-30*day)))
	noErr(t, "PutBlob after the deadline", s.PutBlob(ctx, id, []byte("again"), time.Now().Add(time.Hour)))
	got, err := s.TakeBlob(ctx, id)
	if err != nil || string(got) != "again" {
		t.Fatalf("TakeBlob of the new blob = %q, %v", got, err)
	}
}

func newLog(t *testing.T, s store.Store, ttl time.Duration) store.Log {
	t.Helper()
	l := store.Log{ID: newID(t), TTL: ttl, Created: time.Now()}
	copy(l.WriteCap[:], bytes.Repeat([]byte{1}, 32))
	copy(l.ReadCap[:], bytes.Repeat([]byte{2}, 32))
	noErr(t, "CreateLog", s.CreateLog(context.Background(), l))
	return l
}

func testLog(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := newLog(t, s, 24*time.Hour)
	wantErr(t, "second CreateLog", s.CreateLog(ctx, l), store.ErrExists)
	info, err := s.LogInfo(ctx, l.ID)
	noErr(t, "LogInfo", err)
	if info.ID != l.ID || info.WriteCap != l.WriteCap || info.ReadCap != l.ReadCap || info.TTL != l.TTL {
		t.Fatalf("LogInfo = %+v, want %+v", info, l)
	}
	for i := range 5 {
		seq, err := s.Append(ctx, l.ID, body(i))
		noErr(t, "Append", err)
		if seq != uint64(i+1) {
			t.Fatalf("Append %d returned seq %d, want %d", i, seq, i+1)
		}
	}
	entries, err := s.ReadLog(ctx, l.ID, 0, 100)
	noErr(t, "ReadLog", err)
	if len(entries) != 5 {
		t.Fatalf("ReadLog = %d entries, want 5", len(entries))
	}
	for i, e := range entries {
		if e.Seq != uint64(i+1) || !bytes.Equal(e.Body, body(i)) {
			t.Fatalf("entry %d = (%d, %q)", i, e.Seq, e.Body)
		}
		if e.Expires.Before(time.Now().Add(23*time.Hour)) || e.Expires.After(time.Now().Add(25*time.Hour)) {
			t.Fatalf("entry %d expires %v, want about a day from now", i, e.Expires)
		}
	}
	// Readers keep their own cursors: reading does not consume.
	entries, err = s.ReadLog(ctx, l.ID, 2, 2)
	noErr(t, "ReadLog from cursor", err)
	if len(entries) != 2 || entries[0].Seq != 3 || entries[1].Seq != 4 {
		t.Fatalf("ReadLog(after 2, 2) = %+v", entries)
	}
	entries, err = s.ReadLog(ctx, l.ID, 5, 10)
	noErr(t, "ReadLog at end", err)
	if len(entries) != 0 {
		t.Fatalf("ReadLog at end = %d entries", len(entries))
	}
	// Another log is independent and starts at 1.
	l2 := newLog(t, s, time.Hour)
	seq, err := s.Append(ctx, l2.ID, body(0))
	noErr(t, "Append to second log", err)
	if seq != 1 {
		t.Fatalf("first seq of a second log = %d", seq)
	}
	noErr(t, "DeleteLog", s.DeleteLog(ctx, l.ID))
	_, err = s.LogInfo(ctx, l.ID)
	wantErr(t, "LogInfo after delete", err, store.ErrNotFound)
	_, err = s.ReadLog(ctx, l.ID, 0, 10)
	wantErr(t, "ReadLog after delete", err, store.ErrNotFound)
	_, err = s.Append(ctx, l.ID, body(0))
	wantErr(t, "Append after delete", err, store.ErrNotFound)
	if entries, err := s.ReadLog(ctx, l2.ID, 0, 10); err != nil || len(entries) != 1 {
		t.Fatalf("second log after deleting the first: %d entries, %v", len(entries), err)
	}
}

func testLogNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	id := newID(t)
	_, err := s.LogInfo(ctx, id)
	wantErr(t, "LogInfo", err, store.ErrNotFound)
	_, err = s.Append(ctx, id, []byte("x"))
	wantErr(t, "Append", err, store.ErrNotFound)
	_, err = s.ReadLog(ctx, id, 0, 10)
	wantErr(t, "ReadLog", err, store.ErrNotFound)
	wantErr(t, "DeleteLog", s.DeleteLog(ctx, id), store.ErrNotFound)
}

func testExpireMessages(t *testing.T, s store.Store) {
	ctx := context.Background()
	m := newMailbox(t, s)
	now := time.Now()
	short, err := s.Send(ctx, m.SenderID, []byte("short"), time.Hour, 2)
	noErr(t, "Send", err)
	long, err := s.Send(ctx, m.SenderID, []byte("long"), 10*time.Hour, 2)
	noErr(t, "Send", err)
	_, err = s.Send(ctx, m.SenderID, []byte("over"), 10*time.Hour, 2)
	wantErr(t, "Send over quota", err, store.ErrQuota)
	noErr(t, "Expire", s.Expire(ctx, now.Add(2*time.Hour), now.Add(-30*day)))
	msgs := pending(t, s, m.RecipientID, 0, 10)
	if len(msgs) != 1 || msgs[0].Seq != long {
		t.Fatalf("after Expire Pending = %v, want [%d]", seqOf(msgs), long)
	}
	wantErr(t, "Ack of expired", s.Ack(ctx, m.RecipientID, short), store.ErrNotFound)
	// The expired message no longer counts against the quota.
	next, err := s.Send(ctx, m.SenderID, []byte("after"), 10*time.Hour, 2)
	noErr(t, "Send after Expire", err)
	if next <= long {
		t.Fatalf("seq %d after expiry reuses a number <= %d", next, long)
	}
	// The mailbox itself is active and survives.
	_, err = s.Mailbox(ctx, m.RecipientID)
	noErr(t, "Mailbox after Expire", err)
}

func testExpireLogEntries(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := newLog(t, s, time.Hour)
	now := time.Now()
	for i := range 3 {
		_, err := s.Append(ctx, l.ID, body(i))
		noErr(t, "Append", err)
	}
	noErr(t, "Expire", s.Expire(ctx, now.Add(2*time.Hour), now.Add(-30*day)))
	entries, err := s.ReadLog(ctx, l.ID, 0, 10)
	noErr(t, "ReadLog after Expire", err)
	if len(entries) != 0 {
		t.Fatalf("ReadLog after Expire = %d entries, want 0", len(entries))
	}
	seq, err := s.Append(ctx, l.ID, body(3))
	noErr(t, "Append after Expire", err)
	if seq != 4 {
		t.Fatalf("Append after Expire = seq %d, want 4", seq)
	}
}

func testExpireIdleMailbox(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now()
	idle := store.Mailbox{RecipientID: newID(t), SenderID: newID(t), Created: now.Add(-60 * day), LastActive: now.Add(-40 * day)}
	noErr(t, "CreateMailbox", s.CreateMailbox(ctx, idle))
	active := newMailbox(t, s)
	noErr(t, "Expire", s.Expire(ctx, now, now.Add(-21*day)))
	_, err := s.Mailbox(ctx, idle.RecipientID)
	wantErr(t, "Mailbox of idle", err, store.ErrNotFound)
	_, err = s.MailboxBySender(ctx, idle.SenderID)
	wantErr(t, "MailboxBySender of idle", err, store.ErrNotFound)
	_, err = s.Mailbox(ctx, active.RecipientID)
	noErr(t, "Mailbox of active", err)
	// Sending to a mailbox marks it active (at day granularity).
	quiet := store.Mailbox{RecipientID: newID(t), SenderID: newID(t), Created: now.Add(-60 * day), LastActive: now.Add(-40 * day)}
	noErr(t, "CreateMailbox", s.CreateMailbox(ctx, quiet))
	send(t, s, quiet.SenderID, body(0))
	noErr(t, "Expire", s.Expire(ctx, now, now.Add(-21*day)))
	_, err = s.Mailbox(ctx, quiet.RecipientID)
	noErr(t, "Mailbox that received a message", err)
}

func testClosed(t *testing.T, s store.Store) {
	ctx := context.Background()
	m := newMailbox(t, s)
	l := newLog(t, s, time.Hour)
	noErr(t, "Close", s.Close())
	id := newID(t)
	checks := map[string]error{
		"CreateMailbox": s.CreateMailbox(ctx, store.Mailbox{RecipientID: id, SenderID: newID(t)}),
		"Secure":        s.Secure(ctx, m.SenderID, []byte("k")),
		"DeleteMailbox": s.DeleteMailbox(ctx, m.RecipientID),
		"Ack":           s.Ack(ctx, m.RecipientID, 1),
		"PutBlob":       s.PutBlob(ctx, id, []byte("b"), time.Now().Add(time.Hour)),
		"CreateLog":     s.CreateLog(ctx, store.Log{ID: id}),
		"DeleteLog":     s.DeleteLog(ctx, l.ID),
		"Expire":        s.Expire(ctx, time.Now(), time.Now()),
	}
	_, checks["Mailbox"] = s.Mailbox(ctx, m.RecipientID)
	_, checks["MailboxBySender"] = s.MailboxBySender(ctx, m.SenderID)
	_, checks["Send"] = s.Send(ctx, m.SenderID, []byte("x"), time.Hour, 10)
	_, checks["Pending"] = s.Pending(ctx, m.RecipientID, 0, 10)
	_, checks["TakeBlob"] = s.TakeBlob(ctx, id)
	_, checks["LogInfo"] = s.LogInfo(ctx, l.ID)
	_, checks["Append"] = s.Append(ctx, l.ID, []byte("x"))
	_, checks["ReadLog"] = s.ReadLog(ctx, l.ID, 0, 10)
	for name, err := range checks {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	// Notify after Close returns a usable pair that never fires.
	ch, stop := s.Notify(m.RecipientID)
	stop()
	select {
	case <-ch:
		t.Error("Notify after Close fired")
	default:
	}
}
