package client

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"

	"veil/crypto"
	"veil/relay/wire"
	"veil/vault"
)

// A "cdel" task deletes a file's chunks from a relay (spec/client.md
// §8.5): Key is the file's delete root D, Payload its ID root N and its
// chunk count (4 bytes). Neither root reveals the content or a read
// capability; the task does not keep the file secret.

// cdelTask returns the task that deletes fm's chunks on fm.Relay.
func cdelTask(fm *fileMeta, chat string) (task, bool) {
	s, ok := fm.secret()
	if !ok || fm.Chunks == 0 {
		return task{}, false
	}
	keys := crypto.NewFileKeys(&s)
	defer keys.Wipe()
	s.Wipe()
	d, nr := keys.DeleteRoot(), keys.IDRoot()
	payload := binary.BigEndian.AppendUint32(nr[:], fm.Chunks)
	h := crypto.CapHash(&d)
	return task{Kind: "cdel", Relay: fm.Relay, ID: h[:crypto.IDSize], Key: d[:], Payload: payload, Chat: chat}, true
}

// fileTasks returns the cdel tasks of every file of chat whose chunks we
// may still hold on a relay: ours, and in a 1:1 chat theirs (we are
// their only reader). It is called when the chat or its messages are
// erased.
func fileTasks(tx *vault.Tx, chat string, group bool) ([]task, error) {
	ms, err := tx.Messages(chat, 0)
	if err != nil {
		return nil, err
	}
	var out []task
	for i := range ms {
		tk, ok := messageFileTask(tx, &ms[i], group)
		if ok {
			out = append(out, tk)
		}
	}
	return out, nil
}

// groupFileTasks returns the cdel tasks of group chat c's files when we
// leave it or it ends: our own files' when we leave (the others still
// read them), every file's whose secret we hold when the group ends (a
// burn or its deadline), the others' included: a file's delete root D
// comes from its secret S, which every member holds (spec/files.md §3.1),
// and a sender offline or gone would leave its chunks readable for the
// rest of their lifetime. Each member queues them; a chunk already gone
// answers AUTH, which counts as done.
func groupFileTasks(tx *vault.Tx, c *vault.Chat, ended bool) ([]task, error) {
	if !ended {
		return fileTasks(tx, c.ID, true)
	}
	ms, err := tx.Messages(c.ID, 0)
	if err != nil {
		return nil, err
	}
	var out []task
	for i := range ms {
		m := &ms[i]
		fm, _ := fileOf(m)
		if fm == nil {
			continue
		}
		if m.Direction == vault.Incoming {
			r, err := fetchRelay(tx, c, fm.Slot)
			if err != nil || r == "" {
				continue
			}
			fm.Relay = r
		}
		if fm.Relay == "" {
			continue
		}
		if tk, ok := cdelTask(fm, c.ID); ok {
			out = append(out, tk)
		}
	}
	return out, nil
}

// messageFileTask is fileTasks for one message.
func messageFileTask(tx *vault.Tx, m *vault.Message, group bool) (task, bool) {
	fm, _ := fileOf(m)
	if fm == nil {
		return task{}, false
	}
	if m.Direction == vault.Incoming {
		if group || fm.State == FileReady || fm.State == FileRefused || fm.State == FileExpired {
			return task{}, false // a group's other members still read it; a ready one already has its task
		}
		c, err := tx.Chat(m.ChatID)
		if err != nil {
			return task{}, false
		}
		r, err := fetchRelay(tx, &c, fm.Slot)
		if err != nil || r == "" {
			return task{}, false
		}
		fm.Relay = r
	}
	if fm.Relay == "" {
		return task{}, false
	}
	return cdelTask(fm, m.ChatID)
}

// runCDel deletes a file's chunks, xferInFlight at a time. AUTH (already
// gone, never stored) counts as done.
func (e *Engine) runCDel(ctx context.Context, t *task) error {
	if len(t.Key) != 32 || len(t.Payload) != 32+4 {
		return &wire.Error{Code: wire.CodeMalformed}
	}
	n := binary.BigEndian.Uint32(t.Payload[32:])
	if n == 0 || n > crypto.MaxFileChunks {
		return &wire.Error{Code: wire.CodeMalformed}
	}
	var d, nr [32]byte
	copy(d[:], t.Key)
	copy(nr[:], t.Payload[:32])
	defer clear(d[:])
	xc, err := e.xferConn(ctx, t.Relay, t.Chat)
	if err != nil {
		return err
	}
	sem := make(chan struct{}, xferInFlight)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for i := range n {
		id := crypto.FileChunkID(&nr, i)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := xc.del(ctx, id, crypto.FileDeleteCap(&d, i))
			if err == nil || wire.IsCode(err, wire.CodeAuth) || wire.IsCode(err, wire.CodeNotFound) {
				return
			}
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if first != nil && isConnErr(first) {
		xc.drop()
	}
	return first
}

// dropFileTx removes the file of message m, deleted for everyone: its
// blob, file record and transfer record, and its client data; with
// relay, its chunks get a cdel task (ours: we stored them).
func dropFileTx(tx *vault.Tx, chat string, m *vault.Message, fm *fileMeta, relay bool) error {
	if relay && fm.State != FileFailed {
		if tk, ok := cdelTask(fm, chat); ok {
			if err := addTasks(tx, tk); err != nil {
				return err
			}
		}
	}
	if err := tx.DeleteFile(chat, m.ID); err != nil && !errors.Is(err, vault.ErrNotFound) {
		return err
	}
	if err := tx.DeleteTransfer(transferID(chat, m.ID)); err != nil && !errors.Is(err, vault.ErrNotFound) {
		return err
	}
	mm := metaOf(m)
	mm.File = nil
	setMeta(m, &mm)
	return nil
}
