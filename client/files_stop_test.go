package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"veil/relay/relaytest"
	"veil/relay/wire"
	"veil/vault"
)

// startedUpload sends a large file from a and returns once its first
// chunk is on the relay.
func startedUpload(t *testing.T, a *live, rec *relaytest.Recorder, chat string, ttl time.Duration) string {
	t.Helper()
	path, _ := writeTestFile(t, t.TempDir(), "huge.bin", 16_000_000)
	id, err := a.SendFile(context.Background(), chat, path, SendFileOptions{TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	for countType(rec, wire.TypeCPUT) == 0 {
		time.Sleep(time.Millisecond)
	}
	return id
}

// waitCDEL waits for a's first chunk deletion on the relay.
func waitCDEL(t *testing.T, a *live, rec *relaytest.Recorder) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for countType(rec, wire.TypeCDEL) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no CDEL for the stopped upload")
		}
		a.kickOutbox()
		time.Sleep(20 * time.Millisecond)
	}
}

// Deleting a file for everyone while it uploads stops the upload at once,
// deletes what it stored, and sends the peer no DELETE for a descriptor
// it never had (spec/client.md §8.5).
func TestFileDeleteDuringUpload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &relaytest.Recorder{}
	r := relaytest.Start(t, relaytest.WithObserver(rec))
	a, _, aChat, _ := oneShotPair(t, r.Address.String())
	id := startedUpload(t, a, rec, aChat, 0)
	before := len(outbox(t, a.Engine))
	if err := a.Delete(ctx, aChat, id); err != nil {
		t.Fatal(err)
	}
	if a.runningXfer(aChat, id) != nil {
		t.Fatal("the upload runs on after its message was deleted")
	}
	if got := len(outbox(t, a.Engine)); got > before {
		t.Fatalf("a DELETE was queued for a file the peer was never offered: %d outbox items, had %d", got, before)
	}
	waitCDEL(t, a, rec)
}

// A file whose timer runs out while it uploads is stopped by the sweep,
// and what it stored is deleted.
func TestFileExpiredDuringUpload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &relaytest.Recorder{}
	r := relaytest.Start(t, relaytest.WithObserver(rec))
	a, _, aChat, _ := oneShotPair(t, r.Address.String())
	id := startedUpload(t, a, rec, aChat, time.Hour)
	err := a.v.Update(ctx, func(tx *vault.Tx) error { // the timer runs out now
		m, err := tx.Message(aChat, id)
		if err != nil {
			return err
		}
		m.Expires = time.Now().Add(-time.Second)
		return tx.PutMessage(&m)
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.runningXfer(aChat, id) == nil {
		t.Skip("the upload ended first")
	}
	if err := a.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if a.runningXfer(aChat, id) != nil {
		t.Fatal("the upload runs on after its message expired")
	}
	waitCDEL(t, a, rec)
}

// A group file's timed chunk deletion counts from the end of its upload,
// when members can first read it, not from SendFile (spec/client.md §8.5).
func TestFileGroupTimerFromUpload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	es, chats, _ := groupOfThree(t, r.Address.String())
	path, _ := writeTestFile(t, t.TempDir(), "brief.bin", 16_000_000)
	id, err := es[0].SendFile(ctx, chats[0], path, SendFileOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cdels := func() []task {
		var out []task
		_ = es[0].v.View(ctx, func(tx *vault.Tx) error {
			ts, err := getTasks(tx)
			for _, tk := range ts {
				if tk.Kind == "cdel" {
					out = append(out, tk)
				}
			}
			return err
		})
		return out
	}
	if fi := fileState(t, es[0], chats[0], id); fi.State != FileSent {
		if n := len(cdels()); n != 0 {
			t.Fatalf("%d cdel tasks before the upload ended", n)
		}
	}
	if err := es[0].WaitTransfer(ctx, chats[0], id); err != nil {
		t.Fatal(err)
	}
	if n := len(cdels()); n != 1 {
		t.Fatalf("%d cdel tasks after the upload, want 1", n)
	}
}

// A member removed from a group while it uploads stops the upload, fails
// the file and deletes what it stored (spec/client.md §8.5).
func TestFileUploadStopsOnRemoval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &relaytest.Recorder{}
	r := relaytest.Start(t, relaytest.WithObserver(rec))
	es, chats, _ := groupOfThree(t, r.Address.String())
	path, _ := writeTestFile(t, t.TempDir(), "big.bin", 16_000_000)
	id, err := es[1].SendFile(ctx, chats[1], path, SendFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- es[1].WaitTransfer(ctx, chats[1], id) }()
	for countType(rec, wire.TypeCPUT) == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := es[0].GroupRemove(ctx, chats[0], "ben"); err != nil {
		t.Fatal(err)
	}
	_ = es[1].GroupSync(ctx)
	if err := <-done; err == nil {
		if fi := fileState(t, es[1], chats[1], id); fi.State == FileSent {
			t.Skip("the upload ended before the removal")
		}
	}
	if fi := fileState(t, es[1], chats[1], id); fi.State != FileFailed {
		t.Fatalf("the upload of a removed member: %+v", fi)
	}
	var n int
	_ = es[1].v.View(ctx, func(tx *vault.Tx) error {
		ts, err := getTasks(tx)
		for _, tk := range ts {
			if tk.Kind == "cdel" {
				n++
			}
		}
		return err
	})
	if n != 1 {
		t.Fatalf("%d cdel tasks after the removal, want 1", n)
	}
}

// Closing the engine stops its transfers and waits for them: nothing
// holds a file's keys or blob once the vault is locked.
func TestCloseStopsTransfers(t *testing.T) {
	t.Parallel()
	rec := &relaytest.Recorder{}
	r := relaytest.Start(t, relaytest.WithObserver(rec))
	a, _, aChat, _ := oneShotPair(t, r.Address.String())
	id := startedUpload(t, a, rec, aChat, 0)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if a.runningXfer(aChat, id) != nil {
		t.Fatal("an upload runs on after Close")
	}
	if x := a.startTransfer(context.Background(), vault.Transfer{ID: transferID(aChat, id), Chat: aChat, Message: id, Up: true}, a.transferGen()); x.err == nil {
		t.Fatal("a transfer started after Close")
	}
}

// A transfer record read before a hold on it ended (the transfer loop's
// list, then a sweep that deletes the record under the hold) does not
// start the transfer again once the hold is released.
func TestTransferReadBeforeHoldDoesNotRestart(t *testing.T) {
	t.Parallel()
	rec := &relaytest.Recorder{}
	r := relaytest.Start(t, relaytest.WithObserver(rec))
	a, _, aChat, _ := oneShotPair(t, r.Address.String())
	id := startedUpload(t, a, rec, aChat, time.Hour)
	tr := vault.Transfer{ID: transferID(aChat, id), Chat: aChat, Message: id, Up: true}
	gen := a.transferGen() // the loop reads the records now
	release := a.holdTransfer(aChat, id)
	if err := a.v.Update(context.Background(), func(tx *vault.Tx) error { return tx.DeleteTransfer(tr.ID) }); err != nil {
		t.Fatal(err)
	}
	release()
	x := a.startTransfer(context.Background(), tr, gen) // and starts what it read
	<-x.done
	if !errors.Is(x.err, errXferStale) || a.runningXfer(aChat, id) != nil {
		t.Fatalf("a transfer whose record went under a hold started again (err %v)", x.err)
	}
}
