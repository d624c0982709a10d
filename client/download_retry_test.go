package client

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/relay/relaytest"
	"veil/vault"
)

// TestDownloadDamagedLocalCopyStartsAgain: a download whose verify finds
// a chunk of our own blob that does not open is fetched again once, from
// chunk 0 into a new blob, instead of failing for good.
func TestDownloadDamagedLocalCopyStartsAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	a, b, aChat, bChat := oneShotPair(t, r.Address.String())
	if err := b.SetAutoDownloadLimit(0); err != nil {
		t.Fatal(err)
	}
	path, sum := writeTestFile(t, t.TempDir(), "small.bin", 300_000)
	id, err := a.SendFile(ctx, aChat, path, SendFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WaitTransfer(ctx, aChat, id); err != nil {
		t.Fatalf("upload: %v", err)
	}
	a.kickOutbox()
	bid := b.incomingFile(t, bChat, "small.bin")
	cfg := b.cfg
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	e, err := Open(ctx, cfg, []byte("test pin"))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// A download whose watermark says every chunk is in, but whose blob
	// holds nothing that opens.
	tr := vault.Transfer{ID: transferID(bChat, bid), Chat: bChat, Message: bid}
	err = e.v.Update(ctx, func(tx *vault.Tx) error {
		m, err := tx.Message(bChat, bid)
		if err != nil {
			return err
		}
		return startDownload(tx, bChat, &m)
	})
	if err != nil {
		t.Fatal(err)
	}
	j, err := e.loadJob(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := e.openDownloadBlob(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, vault.BlobChunkSize)
	for i := range j.fm.Chunks {
		junk[0] = byte(i)
		if err := blob.WriteChunk(i, junk); err != nil {
			t.Fatal(err)
		}
	}
	blob.Close()
	tr.Done = j.fm.Chunks
	if err := e.checkpoint(ctx, tr, tr.Done); err != nil {
		t.Fatal(err)
	}
	if err := e.download(ctx, tr); err != nil {
		t.Fatalf("a damaged local copy failed the download for good: %v", err)
	}
	if got := fileSum(t, e, bChat, bid); got != sum {
		t.Fatal("the file fetched again differs")
	}
}

// TestFailedAutoDownloadGivesBudgetBack: an auto-download that fails for
// good before it fetched anything gives its size back to its chat's
// hourly budget.
func TestFailedAutoDownloadGivesBudgetBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	pump(t, ben, ana, chat)
	size := int64(1_000_000)
	if err := ben.SetAutoDownloadLimit(size); err != nil {
		t.Fatal(err)
	}
	n, _ := crypto.FileChunks(size)
	for i := range 2 {
		var s crypto.FileSecret
		s[0], s[1] = 7, byte(i)
		d := format.FileDescriptor{Slot: 0, Secret: s, Size: size, Chunks: n,
			Expires: time.Now().Add(24 * time.Hour).Unix(), Type: "application/pdf", Name: fmt.Sprintf("g%d.pdf", i)}
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
	if err != nil || len(ts) != 2 {
		t.Fatalf("%d auto-downloads, want 2 (%v)", len(ts), err)
	}
	used := func() int64 {
		var u int64
		_ = ben.v.View(ctx, func(tx *vault.Tx) error {
			p, err := profile(tx)
			if err != nil {
				return err
			}
			_, b, _ := strings.Cut(p.Settings[settingAutoBudget+ts[0].Chat], ":")
			u, _ = strconv.ParseInt(b, 10, 64)
			return nil
		})
		return u
	}
	if u := used(); u != 2*size {
		t.Fatalf("budget used %d, want %d", u, 2*size)
	}
	// Its keys are lost: it fails for good before it fetches anything.
	err = ben.v.Update(ctx, func(tx *vault.Tx) error {
		m, err := tx.Message(ts[0].Chat, ts[0].Message)
		if err != nil {
			return err
		}
		fm, mm := fileOf(&m)
		fm.SHA256 = nil
		setMeta(&m, &mm)
		return tx.PutMessage(&m)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ben.download(ctx, ts[0]); !isFailed(err) {
		t.Fatalf("download without keys: %v", err)
	}
	if u := used(); u != size {
		t.Fatalf("after a failed auto-download the budget used is %d, want %d", u, size)
	}
}
