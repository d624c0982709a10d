package client

import (
	"bytes"
	"context"
	"testing"
	"time"

	"veil/relay/relaytest"
	"veil/vault"
)

// TestNewDownloadBlobNewLocalKey: a download that has to start a new blob
// (its old one went with a cancel or a failure) seals it under a new local
// key, stored with the message, so chunks written again never reuse a key
// and nonce with an old blob's freed blocks.
func TestNewDownloadBlobNewLocalKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	a := startLive(t, r.Address.String(), nil)
	b := startLive(t, r.Address.String(), nil)
	aChat, bChat := liveChat(t, a, b, InviteOptions{}, JoinOptions{})
	if err := b.SetAutoDownloadLimit(0); err != nil {
		t.Fatal(err)
	}
	path, _ := writeTestFile(t, t.TempDir(), "notes.txt", 40_000)
	id, err := a.SendFile(ctx, aChat, path, SendFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WaitTransfer(ctx, aChat, id); err != nil {
		t.Fatal(err)
	}
	bid := b.incomingFile(t, bChat, "notes.txt")
	// A transfer record the engine leaves alone (its next try is far
	// off), so that only this test opens blobs for it.
	tr := vault.Transfer{ID: transferID(bChat, bid), Chat: bChat, Message: bid, NextTry: time.Now().Add(24 * time.Hour)}
	if err := b.v.Update(ctx, func(tx *vault.Tx) error { return tx.PutTransfer(tr) }); err != nil {
		t.Fatal(err)
	}
	stored := func() []byte {
		var k []byte
		err := b.v.View(ctx, func(tx *vault.Tx) error {
			m, err := tx.Message(bChat, bid)
			if err != nil {
				return err
			}
			fm, _ := fileOf(&m)
			k = append(k, fm.Local...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	before := stored()
	var keys [][]byte
	for round := range 2 {
		j, err := b.loadJob(ctx, tr)
		if err != nil {
			t.Fatal(err)
		}
		if j.blob != "" {
			t.Fatal("the file has a blob before its download")
		}
		blob, err := b.openDownloadBlob(ctx, j)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		blob.Close()
		if got := stored(); !bytes.Equal(got, j.fm.Local) {
			t.Fatal("the new blob's local key is not the one stored with the message")
		}
		keys = append(keys, append([]byte(nil), j.fm.Local...))
		// The blob is lost (as after a cancel, which takes the transfer
		// record with it): the next try starts anew.
		err = b.v.Update(ctx, func(tx *vault.Tx) error {
			if err := tx.DeleteFile(bChat, bid); err != nil {
				return err
			}
			return tx.PutTransfer(tr)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if bytes.Equal(keys[0], keys[1]) || bytes.Equal(keys[0], before) || bytes.Equal(keys[1], before) {
		t.Fatal("a new blob reused a local key")
	}
}
