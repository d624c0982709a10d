package client

import (
	"context"
	"fmt"
	"testing"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/vault"
)

// A contact sending one file's descriptor (one upload on the relay) many
// times, each under another message ID, gets one download: the copies
// are refused (spec/client.md §5.16).
func TestRepeatedDescriptorRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	pump(t, ben, ana, chat)
	var s crypto.FileSecret
	s[0] = 7
	size := int64(8_000_000)
	n, _ := crypto.FileChunks(size)
	d := format.FileDescriptor{Slot: 0, Secret: s, Size: size, Chunks: n,
		Expires: time.Now().Add(24 * time.Hour).Unix(), Type: "application/pdf"}
	const copies = 100
	for i := range copies {
		d.Name = fmt.Sprintf("f%d.pdf", i)
		raw, err := d.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := ana.newID()
		w, _ := outgoingWireID(id)
		err = ana.withSession(ctx, chat, func(tx *vault.Tx, ss *txSession) error {
			return ana.queue(tx, ss.sess, chat, "", &format.Envelope{Type: format.EnvFile, ID: w, FileRaw: raw})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	pump(t, ana, ben, chat)
	ts, err := ben.v.Transfers()
	if err != nil {
		t.Fatal(err)
	}
	ms, err := ben.Messages(ctx, chat, 0)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, m := range ms {
		if m.File != nil && m.File.State == FileRefused {
			refused++
		}
	}
	if refused != copies-1 {
		t.Fatalf("%d of %d copies refused, want %d", refused, copies, copies-1)
	}
	if len(ts) > 1 {
		t.Fatalf("one upload of %d bytes (%d chunks) made %d auto-downloads (%d MB of blobs, %d chunk workers at once)",
			size, n, len(ts), int64(len(ts))*int64(n)*16000>>20, len(ts)*min(128, int(n)))
	}
}

// Auto-download fetches at most autoBudgetFactor times the limit an hour;
// past it files stay offered (spec/client.md §5.16).
func TestAutoDownloadBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	pump(t, ben, ana, chat)
	size := int64(1_000_000)
	if err := ben.SetAutoDownloadLimit(size); err != nil {
		t.Fatal(err)
	}
	n, _ := crypto.FileChunks(size)
	for i := range 10 {
		var s crypto.FileSecret
		s[0], s[1] = 9, byte(i)
		d := format.FileDescriptor{Slot: 0, Secret: s, Size: size, Chunks: n,
			Expires: time.Now().Add(24 * time.Hour).Unix(), Type: "application/pdf", Name: fmt.Sprintf("f%d.pdf", i)}
		raw, err := d.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := ana.newID()
		w, _ := outgoingWireID(id)
		err = ana.withSession(ctx, chat, func(tx *vault.Tx, ss *txSession) error {
			return ana.queue(tx, ss.sess, chat, "", &format.Envelope{Type: format.EnvFile, ID: w, FileRaw: raw})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	pump(t, ana, ben, chat)
	ts, err := ben.v.Transfers()
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != autoBudgetFactor {
		t.Fatalf("%d auto-downloads of 10 files at the limit, want %d", len(ts), autoBudgetFactor)
	}
}

// Run's transfer loop runs at most xferMaxRunning transfers; the others
// wait with their records.
func TestTransfersCapped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, _, chat := pair(t, nil, nil)
	ana.xfers.mu.Lock()
	ana.xfers.m = map[string]*xfer{}
	for i := range xferMaxRunning {
		ana.xfers.m[fmt.Sprint("busy", i)] = &xfer{cancel: func() {}, done: make(chan struct{})}
	}
	ana.xfers.mu.Unlock()
	tr := vault.Transfer{ID: transferID(chat, "waiting"), Chat: chat, Message: "waiting"}
	if err := ana.v.Update(ctx, func(tx *vault.Tx) error { return tx.PutTransfer(tr) }); err != nil {
		t.Fatal(err)
	}
	ana.resumeTransfers(ctx, true)
	if x := ana.runningXfer(chat, "waiting"); x != nil {
		t.Fatalf("a transfer started past the cap of %d", xferMaxRunning)
	}
	ana.xfers.mu.Lock()
	ana.xfers.m = nil
	ana.xfers.mu.Unlock()
}
