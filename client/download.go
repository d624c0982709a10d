package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"veil/crypto"
	"veil/vault"
)

// download fetches a file's chunks from our relay of its slot
// (spec/client.md §7.8) in the file's order, xferInFlight at a time,
// re-seals each under the local key into the blob, then verifies the
// whole: size, zero padding and SHA-256. Nothing of it is readable until
// it is verified.
//
// A local copy the verify finds damaged (a chunk of our own blob that
// does not open) is fetched again once, into a new blob from chunk 0. A
// download that fails for good gives back to its chat's auto-download
// budget what it never fetched.
func (e *Engine) download(ctx context.Context, t vault.Transfer) error {
	var fetched atomic.Int64
	start := int64(t.Done) * fileChunkPlain
	err := e.downloadRun(ctx, t, &fetched)
	var f *xferFailed
	if errors.As(err, &f) && f.local {
		if err = e.dropDownloadBlob(ctx, t); err == nil {
			t.Done = 0
			err = e.downloadRun(ctx, t, &fetched)
		}
	}
	if isFailed(err) {
		e.giveBackAuto(ctx, t, start+fetched.Load())
	}
	return err
}

// dropDownloadBlob deletes a download's blob and stores its watermark as
// 0, so that it starts again in a new blob.
func (e *Engine) dropDownloadBlob(ctx context.Context, t vault.Transfer) error {
	return e.v.Update(context.WithoutCancel(ctx), func(tx *vault.Tx) error {
		cur, ok := findTransfer(tx, t.ID)
		if !ok {
			return errXferGone
		}
		if err := tx.DeleteFile(t.Chat, t.Message); err != nil && !errors.Is(err, vault.ErrNotFound) {
			return err
		}
		cur.Done = 0
		return tx.PutTransfer(cur)
	})
}

// giveBackAuto returns to the chat's auto-download budget the part of an
// auto-downloaded file that was not fetched (fetched bytes at most).
func (e *Engine) giveBackAuto(ctx context.Context, t vault.Transfer, fetched int64) {
	_ = e.v.Update(context.WithoutCancel(ctx), func(tx *vault.Tx) error {
		m, err := tx.Message(t.Chat, t.Message)
		if err != nil {
			return nil
		}
		fm, mm := fileOf(&m)
		if fm == nil || fm.Auto == 0 {
			return nil
		}
		if err := giveAutoBudget(tx, t.Chat, fm.Auto, fm.Size-fetched); err != nil {
			return err
		}
		fm.Auto = 0
		setMeta(&m, &mm)
		return tx.PutMessage(&m)
	})
}

// downloadRun is one run of download; fetched counts the bytes of the
// chunks it got from the relay.
func (e *Engine) downloadRun(ctx context.Context, t vault.Transfer, fetched *atomic.Int64) error {
	e.xferMoved(ctx, false) // a second run (after a damaged local copy) waits on the relay again
	j, err := e.loadJob(ctx, t)
	if err != nil {
		return err
	}
	s, ok := j.fm.secret()
	if !ok || len(j.fm.SHA256) != 32 {
		return failedf("its keys are missing")
	}
	defer s.Wipe()
	keys := crypto.NewFileKeys(&s)
	defer keys.Wipe()
	n := j.fm.Chunks
	if err := e.checkDiskRoom(ctx, j); err != nil {
		return err
	}
	if err := e.setFileState(ctx, t.Chat, t.Message, FileDownloading, t.Done); err != nil {
		return err
	}
	blob, err := e.openDownloadBlob(ctx, j)
	if err != nil {
		return err
	}
	defer blob.Close()
	lk, ok := j.fm.localKey() // a new blob comes with a new local key
	if !ok {
		return failedf("its keys are missing")
	}
	defer lk.Wipe()
	xc, err := e.xferConn(ctx, j.relay, t.Chat)
	if err != nil {
		return err
	}
	defer xc.dropStalled(ctx)
	order := keys.Order(n)
	ad := blobAD(t.Chat, t.Message)
	err = e.pipeline(ctx, &j.t, n, j.fm.Size, FileDownloading, blob.Sync, func(ctx context.Context, pos uint32, buf []byte) error {
		i := order[pos]
		what := func() string { return fmt.Sprintf("chunk %d of %d", i+1, n) }
		var pt []byte
		for try := 0; ; try++ {
			body, err := xc.get(ctx, keys.ChunkID(i), keys.ReadCap(i))
			if err != nil {
				return chunkErr(xc, err, what())
			}
			fetched.Add(fileChunkPlain)
			if len(body) == crypto.FileChunkSize {
				if pt, err = keys.OpenChunk(body[:0], i, n, body); err == nil {
					break
				}
			}
			if try > 0 {
				return failedf("%s is corrupted", what())
			}
		}
		ct := crypto.SealLocalChunk(&lk, buf[:0], i, n, pt, ad)
		return blob.WriteChunk(i, ct)
	})
	if err != nil {
		return err
	}
	if err := blob.Sync(); err != nil {
		return err
	}
	if err := verifyBlob(blob, &lk, n, j.fm.Size, j.fm.SHA256, ad); err != nil {
		return err
	}
	return e.downloaded(ctx, j)
}

// openDownloadBlob opens the blob of a download, creating it (and its
// file record) on the first try.
func (e *Engine) openDownloadBlob(ctx context.Context, j *fileJob) (*vault.Blob, error) {
	if j.blob != "" {
		b, err := e.v.OpenBlob(j.blob)
		if err == nil {
			return b, nil
		}
	}
	j.t.Done = 0 // a new blob: start again from chunk 0
	// Every new blob is sealed under a key of its own, so chunks written
	// again after a cancel or a failure (which a holder of the file secret
	// may have replaced on the relay meanwhile) never reuse a key and
	// nonce with what an old blob's freed blocks may still hold.
	lk, err := crypto.NewLocalFileKey()
	if err != nil {
		return nil, err
	}
	defer lk.Wipe()
	b, err := e.v.CreateBlob(j.fm.Chunks)
	if err != nil {
		return nil, err
	}
	gone := false
	// Recorded even when ctx ended: a blob without its record would stay
	// until the next unlock.
	err = e.v.Update(context.WithoutCancel(ctx), func(tx *vault.Tx) error {
		gone = false
		if err := tx.PutFile(j.t.Chat, j.t.Message, vault.FileRecord{Blob: b.Name(), Chunks: j.fm.Chunks}); err != nil {
			return err
		}
		m, merr := tx.Message(j.t.Chat, j.t.Message)
		var fm *fileMeta
		var mm msgMeta
		if merr == nil {
			fm, mm = fileOf(&m)
		}
		tr, ok := findTransfer(tx, j.t.ID)
		if !ok || merr != nil || fm == nil {
			// Cancelled or erased meanwhile: recorded and dropped at
			// once, so the blob is unlinked after the commit.
			gone = true
			return tx.DeleteFile(j.t.Chat, j.t.Message)
		}
		// The stored watermark is the old blob's: a resume must not skip
		// chunks the new blob never had.
		tr.Done = 0
		if err := tx.PutTransfer(tr); err != nil {
			return err
		}
		fm.Local = append([]byte(nil), lk[:]...)
		fm.Done = 0
		setMeta(&m, &mm)
		return tx.PutMessage(&m)
	})
	if err != nil || gone {
		b.Close()
		if err == nil {
			err = errXferGone
		}
		return nil, err // an orphan blob goes at the next unlock
	}
	j.blob = b.Name()
	clear(j.fm.Local)
	j.fm.Local = append([]byte(nil), lk[:]...)
	return b, nil
}

// downloaded marks a verified file ready; in a 1:1 chat, where we are its
// only reader, its chunks on the relay get a cdel task.
func (e *Engine) downloaded(ctx context.Context, j *fileJob) error {
	t := j.t
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		m, err := tx.Message(t.Chat, t.Message)
		if err != nil {
			return errXferGone
		}
		fm, mm := fileOf(&m)
		if fm == nil {
			return errXferGone
		}
		fm.State, fm.Done, fm.Err = FileReady, fm.Chunks, ""
		setMeta(&m, &mm)
		if err := tx.PutMessage(&m); err != nil {
			return err
		}
		if err := tx.DeleteTransfer(t.ID); err != nil && !errors.Is(err, vault.ErrNotFound) {
			return err
		}
		if err := tx.PutFile(t.Chat, t.Message, vault.FileRecord{Blob: j.blob, Chunks: fm.Chunks, Complete: true}); err != nil {
			return err
		}
		if !j.group {
			if tk, ok := cdelTask(fm, t.Chat); ok {
				tk.Relay = j.relay
				return addTasks(tx, tk)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.emit(ctx, Event{Type: EventTransfer, Chat: t.Chat, Message: t.Message, Status: FileReady, Done: j.fm.Chunks, Total: j.fm.Chunks, Bytes: j.fm.Size})
	if !j.group {
		e.kickOutbox()
	}
	return nil
}

// checkDiskRoom stops a download, before it writes, whose rest would not
// fit on the profile's disk (spec/client.md §5.16): an auto-download that
// would leave less than the reserve goes back to offered, its budget
// given back and the user told once per chat (*autoPaused); one the user
// asked for fails, with what it needs and what is free.
func (e *Engine) checkDiskRoom(ctx context.Context, j *fileJob) error {
	done := j.t.Done
	if j.blob == "" {
		done = 0 // a new blob
	}
	need := blobNeed(j.fm.Chunks, done)
	auto := j.fm.Auto != 0
	ok, avail, reserve := e.diskRoom(need, auto)
	if ok {
		return nil
	}
	if !auto {
		return failedf("%s", errNoDiskRoom(need, avail))
	}
	t := j.t
	var tell bool
	err := e.v.Update(context.WithoutCancel(ctx), func(tx *vault.Tx) error {
		tell = false
		m, err := tx.Message(t.Chat, t.Message)
		if err != nil {
			return errXferGone
		}
		fm, mm := fileOf(&m)
		cur, found := findTransfer(tx, t.ID)
		if fm == nil || !found {
			return errXferGone
		}
		if fm.Auto != 0 {
			if err := giveAutoBudget(tx, t.Chat, fm.Auto, fm.Size-int64(cur.Done)*fileChunkPlain); err != nil {
				return err
			}
		}
		if err := tx.DeleteTransfer(t.ID); err != nil {
			return err
		}
		fm.State, fm.Done, fm.Err, fm.Auto = FileOffered, 0, "", 0
		setMeta(&m, &mm)
		if err := tx.PutMessage(&m); err != nil {
			return err
		}
		tell, err = noteDiskPaused(tx, t.Chat)
		return err
	})
	if err != nil {
		return err
	}
	e.emit(ctx, Event{Type: EventTransfer, Chat: t.Chat, Message: t.Message, Status: FileOffered, Total: j.fm.Chunks})
	if tell {
		e.emit(ctx, Event{Type: EventWarning, Chat: t.Chat, Message: t.Message, Err: autoPausedText(reserve)})
	}
	return &autoPaused{reserve: reserve}
}
