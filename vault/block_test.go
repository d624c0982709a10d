package vault

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDamagedInnerBlock: the check at open reads each table's footer,
// index and last block only (spec/vault.md §8.6), so damage in an earlier
// block opens. Badger's iterators then take the block for the end of its
// table: a listing silently misses its records. Verify reads every block
// and reports the damage as ErrCorrupt.
func TestDamagedInnerBlock(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	fillSample(t, v)
	err := v.Update(ctx, func(tx *Tx) error {
		for i := range 200 {
			m := Message{ID: fmt.Sprintf("m%03d", i), ChatID: "chat1", Direction: Incoming, Body: []byte(strings.Repeat("b", 300)), Sent: time.Now(), Status: StatusDelivered}
			if err := tx.PutMessage(&m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(ctx); err != nil {
		t.Fatalf("verify an intact vault: %v", err)
	}
	mustLock(t, v)
	ssts, err := filepath.Glob(filepath.Join(dir, dataDirName, badgerDirName, "*.sst"))
	if err != nil || len(ssts) != 1 {
		t.Fatalf("want one table, have %v (%v)", ssts, err)
	}
	b, err := os.ReadFile(ssts[0])
	if err != nil {
		t.Fatal(err)
	}
	b[64] ^= 1 // inside the first block's entries, far from its trailer
	setFile(t, ssts[0], b)

	v, err = Open(ctx, dir, pin, testOpts(nil))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer mustLock(t, v)
	var listed int
	var getErr error
	err = v.View(ctx, func(tx *Tx) error {
		ms, err := tx.Messages("chat1", 0)
		listed = len(ms)
		_, getErr = tx.Message("chat1", "m000")
		return err
	})
	t.Logf("after the damage: %d of 204 messages listed (err %v); get: %v", listed, err, getErr)
	if listed == 204 {
		t.Fatal("the damaged block was read as if intact")
	}
	wantErr(t, v.Verify(ctx), ErrCorrupt)
}
