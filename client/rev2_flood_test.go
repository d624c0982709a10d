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

// A contact sends one file's descriptor (one upload on the relay) many
// times, each under another message ID: every copy within the
// auto-download limit gets a transfer record of its own, and Run's
// transfer loop starts all of them at once (resumeTransfers has no cap),
// each with up to 128 chunk workers and a blob of its own.
func TestRev2SameSecretFloodAutoDownloads(t *testing.T) {
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
	if len(ts) > 1 {
		t.Fatalf("one upload of %d bytes (%d chunks) made %d auto-downloads (%d MB of blobs, %d chunk workers at once)",
			size, n, len(ts), int64(len(ts))*int64(n)*16000>>20, len(ts)*min(128, int(n)))
	}
}
