package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"veil/crypto"
	"veil/vault"
)

// uploadedFile stores an outgoing file message of e in chat whose chunks
// are all on the relay, and runs uploaded for it: what the end of a real
// upload does.
func uploadedFile(t *testing.T, e *Engine, chat, name string) string {
	t.Helper()
	ctx := context.Background()
	id, err := e.newID()
	if err != nil {
		t.Fatal(err)
	}
	blob, err := e.v.CreateBlob(1)
	if err != nil {
		t.Fatal(err)
	}
	blob.Close()
	s, _ := crypto.NewFileSecret()
	lk, _ := crypto.NewLocalFileKey()
	fm := &fileMeta{Secret: s[:], Local: lk[:], Size: 10, Chunks: 1, SHA256: make([]byte, 32),
		Expires: time.Now().Add(time.Hour).Unix(), Type: "application/pdf", Name: name, State: FileUploading, Relay: "x"}
	tr := vault.Transfer{ID: transferID(chat, id), Chat: chat, Message: id, Up: true}
	err = e.v.Update(ctx, func(tx *vault.Tx) error {
		m := vault.Message{ID: id, ChatID: chat, Direction: vault.Outgoing, Body: []byte(name), Sent: time.Now(), Status: vault.StatusPending}
		setMeta(&m, &msgMeta{File: fm})
		if err := tx.PutMessage(&m); err != nil {
			return err
		}
		if err := tx.PutFile(chat, id, vault.FileRecord{Blob: blob.Name(), Chunks: 1, Complete: true}); err != nil {
			return err
		}
		return tx.PutTransfer(tr)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.uploaded(ctx, &fileJob{t: tr, fm: *fm, blob: blob.Name()}); err != nil {
		t.Fatal(err)
	}
	return id
}

// A restored copy waiting for its session reset must hold new messages
// (spec/client.md §13.2). A file whose upload ends meanwhile is sealed on
// the stale session instead.
func TestFileUploadedDuringResetIsHeld(t *testing.T) {
	t.Parallel()
	evA, evB, evR := make(chan Event, 100), make(chan Event, 100), make(chan Event, 100)
	ana, ben, chat := pair(t, evA, evB)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	copyA, _ := restoredCopy(t, ana, evR)
	if got := len(outbox(t, copyA)); got != 1 {
		t.Fatalf("before: %d outbox items (the offer only)", got)
	}
	uploadedFile(t, copyA, chat, "report.pdf")
	if got := len(outbox(t, copyA)); got != 1 {
		t.Fatalf("the FILE was sealed by the stale session during the reset hold: %d outbox items", got)
	}
}

// A FILE of ours still queued when the peer's reset offer arrives is
// sealed again on the new session (spec/client.md §13.3) — as a FILE.
func TestQueuedFileRequeuedAsFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evA, evB, evR := make(chan Event, 100), make(chan Event, 100), make(chan Event, 100)
	ana, ben, chat := pair(t, evA, evB)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	copyA, _ := restoredCopy(t, ana, evR)
	uploadedFile(t, ben, chat, "report.pdf") // queued, not yet delivered
	pump(t, copyA, ben, chat)                // the offer: ben requeues his outbox
	pump(t, ben, copyA, chat)
	ms, err := copyA.Messages(ctx, chat, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Text == "report.pdf" && m.Kind != "file" {
			t.Fatalf("the restored side got the file as a %q message %q: the file is lost", m.Kind, m.Text)
		}
	}
}

// An out-of-date copy sends no file (spec/client.md §13.5): SendFile is
// refused, and an upload that ends after the mark fails without sealing.
func TestOutdatedCopySendsNoFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	pump(t, ben, ana, chat)
	err := ana.v.Update(ctx, func(tx *vault.Tx) error {
		m, err := getMeta(tx, chat)
		if err != nil {
			return err
		}
		m.Outdated = true
		return putMeta(tx, chat, &m)
	})
	if err != nil {
		t.Fatal(err)
	}
	before := len(outbox(t, ana))
	src, _ := writeTestFile(t, t.TempDir(), "report.pdf", 1000)
	if _, err := ana.SendFile(ctx, chat, src, SendFileOptions{}); !errors.Is(err, ErrOutdated) {
		t.Fatalf("SendFile in an out-of-date chat: %v", err)
	}
	id, err := ana.newID()
	if err != nil {
		t.Fatal(err)
	}
	blob, err := ana.v.CreateBlob(1)
	if err != nil {
		t.Fatal(err)
	}
	blob.Close()
	s, _ := crypto.NewFileSecret()
	fm := &fileMeta{Secret: s[:], Size: 10, Chunks: 1, SHA256: make([]byte, 32), Name: "x.pdf", State: FileUploading}
	tr := vault.Transfer{ID: transferID(chat, id), Chat: chat, Message: id, Up: true}
	err = ana.v.Update(ctx, func(tx *vault.Tx) error {
		m := vault.Message{ID: id, ChatID: chat, Direction: vault.Outgoing, Body: []byte("x.pdf"), Sent: time.Now(), Status: vault.StatusPending}
		setMeta(&m, &msgMeta{File: fm})
		if err := tx.PutMessage(&m); err != nil {
			return err
		}
		return tx.PutTransfer(tr)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ana.uploaded(ctx, &fileJob{t: tr, fm: *fm, blob: blob.Name()}); !isFailed(err) {
		t.Fatalf("an upload ending in an out-of-date chat: %v, want a failure", err)
	}
	if got := len(outbox(t, ana)); got != before {
		t.Fatalf("the out-of-date copy sealed the descriptor: %d outbox items, want %d", got, before)
	}
}
