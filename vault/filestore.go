package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"veil/crypto"
)

// File and transfer records (spec/vault.md §8.1): 'F' || len(chat) ||
// chat || message ID names the blob of a file message; 'T' || transfer ID
// is an upload or download in progress. Neither holds a secret: the file
// secret and the local key live in the message's sealed Meta.

// Key prefixes of file records.
const (
	pfxFile     = 'F'
	pfxTransfer = 'T'
)

// FileRecord ties a file message to its blob file.
type FileRecord struct {
	Blob     string // the blob's name (CreateBlob)
	Chunks   uint32 // chunk slots of the blob
	Complete bool   // every chunk is in and verified
}

// Transfer is an upload (Up) or download in progress: Done is the
// watermark over the file's upload order (every position below it is
// acknowledged or stored), Tries and NextTry the retry schedule, Err the
// last failure in the user's words.
type Transfer struct {
	ID      string
	Chat    string
	Message string
	Up      bool
	Done    uint32
	Tries   int
	NextTry time.Time
	Err     string
}

func filePrefix(chat string) []byte {
	return append([]byte{pfxFile, byte(len(chat))}, chat...)
}

func fileKey(chat, id string) []byte { return append(filePrefix(chat), id...) }

// FileAD returns the associated data a client seals a message's blob
// chunks with (spec/files.md §3.4): "veil/vault/file/v1" || len(chat) ||
// chat || message ID, so a chunk cannot be moved to another message's
// blob.
func FileAD(chat, msgID string) []byte {
	ad := append([]byte("veil/vault/file/v1"), byte(len(chat)))
	ad = append(ad, chat...)
	return append(ad, msgID...)
}

func (r *FileRecord) check() error {
	if !validBlobName(r.Blob) || r.Chunks == 0 || r.Chunks > crypto.MaxFileChunks {
		return errors.New("vault: file record needs a blob name and 1 to MaxFileChunks chunks")
	}
	return nil
}

func (t *Transfer) check() error {
	if err := checkID("transfer", t.ID); err != nil {
		return err
	}
	if err := checkID("chat", t.Chat); err != nil {
		return err
	}
	return checkID("message", t.Message)
}

// PutFile stores the file record of message msgID. A record that named
// another blob before loses that blob after the commit.
func (tx *Tx) PutFile(chat, msgID string, r FileRecord) error {
	if err := checkID("chat", chat); err != nil {
		return err
	}
	if err := checkID("message", msgID); err != nil {
		return err
	}
	if err := r.check(); err != nil {
		return err
	}
	k := fileKey(chat, msgID)
	var old FileRecord
	switch err := tx.get(k, &old); {
	case err == nil && old.Blob != r.Blob:
		tx.unlink = append(tx.unlink, old.Blob)
	case err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrCorrupt):
		return err
	}
	tx.recorded = append(tx.recorded, r.Blob)
	return tx.set(k, &r)
}

// GetFile returns the file record of message msgID, or ErrNotFound.
func (tx *Tx) GetFile(chat, msgID string) (FileRecord, error) {
	var r FileRecord
	if err := checkID("chat", chat); err != nil {
		return r, err
	}
	if err := checkID("message", msgID); err != nil {
		return r, err
	}
	err := tx.get(fileKey(chat, msgID), &r)
	return r, err
}

// DeleteFile deletes the file record of message msgID and, after the
// commit, its blob file. A message without one is no error.
func (tx *Tx) DeleteFile(chat, msgID string) error {
	if err := checkID("chat", chat); err != nil {
		return err
	}
	if err := checkID("message", msgID); err != nil {
		return err
	}
	return tx.dropFile(chat, msgID)
}

// dropFile deletes the file record of (chat, id), if any, queues its blob
// for unlinking after the commit, and deletes the message's transfers
// (which exist only beside a file record, so a message without one costs
// a single read).
func (tx *Tx) dropFile(chat, id string) error {
	k := fileKey(chat, id)
	var r FileRecord
	switch err := tx.get(k, &r); {
	case errors.Is(err, ErrNotFound):
		return nil // a transfer always comes with a file record
	case errors.Is(err, ErrCorrupt):
		// Deleted all the same; the sweep at unlock takes the blob.
	case err != nil:
		return err
	default:
		tx.unlink = append(tx.unlink, r.Blob)
	}
	if err := tx.del(k); err != nil {
		return err
	}
	return tx.dropTransfers(func(t *Transfer) bool { return t.Chat == chat && t.Message == id })
}

// PutTransfer stores a transfer record.
func (tx *Tx) PutTransfer(t Transfer) error {
	if err := t.check(); err != nil {
		return err
	}
	return tx.set(simpleKey(pfxTransfer, t.ID), &t)
}

// DeleteTransfer deletes a transfer record; a missing one is no error.
func (tx *Tx) DeleteTransfer(id string) error {
	if err := checkID("transfer", id); err != nil {
		return err
	}
	return tx.del(simpleKey(pfxTransfer, id))
}

// Transfers returns every transfer record in the transaction's view, in
// ID order. Damaged records are skipped.
func (tx *Tx) Transfers() ([]Transfer, error) {
	var out []Transfer
	err := tx.each([]byte{pfxTransfer}, func(b []byte) error {
		var t Transfer
		if decodeRecord(b, &t) == nil && t.check() == nil {
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

// Transfers returns every transfer record, in ID order.
func (v *Vault) Transfers() ([]Transfer, error) {
	var out []Transfer
	err := v.View(context.Background(), func(tx *Tx) error {
		var err error
		out, err = tx.Transfers()
		return err
	})
	return out, err
}

// dropTransfers deletes every transfer record that match selects.
// Transfers are few (one per file moving), so a scan is cheap.
func (tx *Tx) dropTransfers(match func(*Transfer) bool) error {
	if !tx.writable {
		return errReadOnly
	}
	ts, err := tx.Transfers()
	if err != nil {
		return err
	}
	for i := range ts {
		if match(&ts[i]) {
			if err := tx.del(simpleKey(pfxTransfer, ts[i].ID)); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteChatFilesLocked deletes the file and transfer records of chat, in
// batches, and unlinks their blobs after each commit. It needs v.writeMu
// and the use lock held.
func (v *Vault) deleteChatFilesLocked(ctx context.Context, chat string) error {
	prefix := filePrefix(chat)
	for range maxBatches {
		n := 0
		err := v.updateLocked(ctx, func(tx *Tx) error {
			it := tx.txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
			var keys [][]byte
			for it.Rewind(); it.Valid() && len(keys) < deleteBatch; it.Next() {
				item := it.Item()
				keys = append(keys, item.KeyCopy(nil))
				var r FileRecord
				if item.Value(func(b []byte) error { return decodeRecord(b, &r) }) == nil {
					tx.unlink = append(tx.unlink, r.Blob)
				}
			}
			it.Close()
			n = len(keys)
			for _, k := range keys {
				if err := tx.del(k); err != nil {
					return err
				}
			}
			return tx.dropTransfers(func(t *Transfer) bool { return t.Chat == chat })
		})
		if err != nil {
			return err
		}
		if n < deleteBatch {
			return nil
		}
	}
	return fmt.Errorf("vault: deleting chat files: too many files")
}

// dropAllFileRecords deletes every file and transfer record: a restored
// backup holds no blob files (spec/vault.md §10), so its file messages
// have none.
func (v *Vault) dropAllFileRecords(ctx context.Context) error {
	for _, pfx := range []byte{pfxFile, pfxTransfer} {
		for range maxBatches {
			n := 0
			err := v.updateLocked(ctx, func(tx *Tx) error {
				it := tx.txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfx}})
				var keys [][]byte
				for it.Rewind(); it.Valid() && len(keys) < deleteBatch; it.Next() {
					keys = append(keys, it.Item().KeyCopy(nil))
				}
				it.Close()
				n = len(keys)
				for _, k := range keys {
					if err := tx.del(k); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if n < deleteBatch {
				break
			}
		}
	}
	return nil
}

// restoreWithoutFiles runs dropAllFileRecords with the write lock.
func (v *Vault) restoreWithoutFiles(ctx context.Context) error {
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	return v.dropAllFileRecords(ctx)
}
