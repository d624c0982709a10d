package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/vault"
)

// sendFile is SendFile (spec/client.md §7.8): the file is read and sealed
// under a fresh local key into a blob here, so the upload, which may run
// later or resume after a crash, never needs the file again.
func (e *Engine) sendFile(ctx context.Context, ref, path string, opt SendFileOptions) (string, error) {
	if opt.TTL < 0 || opt.TTL > maxTTL {
		return "", badInput("disappearing timer must be between 1s and %v", maxTTL)
	}
	if opt.Type != "" {
		if err := format.CheckMediaType(opt.Type); err != nil {
			return "", badInput("%q is not a media type (type/subtype, lower case)", opt.Type)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return "", badInput("cannot read %s: %v", filepath.Base(path), errors.Unwrap(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", badInput("%s is not a regular file", filepath.Base(path))
	}
	size := st.Size()
	if size > crypto.MaxFileSize {
		return "", badInput("%s is larger than %d bytes", filepath.Base(path), crypto.MaxFileSize)
	}
	name := format.SanitizeFileName(filepath.Base(path))
	typ := opt.Type
	if typ == "" {
		typ = detectType(f)
	}
	n, err := crypto.FileChunks(size)
	if err != nil {
		return "", badInput("%s is too large", name)
	}
	// What the chat says: where the chunks go, the timers.
	var chat vault.Chat
	var slot uint8
	var relay string
	var logTTL time.Duration
	err = e.viewChat(ctx, ref, func(tx *vault.Tx, c *vault.Chat) error {
		chat = *c
		if chat.Kind != vault.ChatGroup {
			// An out-of-date copy sends nothing (spec/client.md §13.5).
			meta, err := getMeta(tx, chat.ID)
			if err != nil {
				return err
			}
			if meta.Outdated {
				return ErrOutdated
			}
		}
		if chat.Kind == vault.ChatGroup {
			grp, err := groupIn(tx, &chat)
			if err != nil {
				return err
			}
			var rec struct {
				TTL int64 `json:"ttl"`
			}
			if json.Unmarshal(grp.State, &rec) == nil && rec.TTL > 0 {
				logTTL = time.Duration(rec.TTL) * time.Second
			}
		}
		var err error
		slot, relay, err = e.sendRelay(tx, &chat)
		return err
	})
	if err != nil {
		return "", err
	}
	now := e.now()
	ttl := opt.TTL
	if chat.Kind == vault.ChatGroup {
		ttl = shorterTTL(chat.MessageTTL, ttl)
	} else if ttl == 0 {
		ttl = chat.MessageTTL
	}
	want := maxChunkLife
	if chat.Kind == vault.ChatGroup && ttl > 0 {
		want = max(ttl, time.Hour) // members read it within the group's timer
	}
	if logTTL > 0 {
		want = min(want, logTTL) // nobody reads the log's entries later
	}
	if !chat.Deadline.IsZero() {
		want = min(want, chat.Deadline.Sub(now))
	}
	life := chunkLife(want)
	id, err := e.newID()
	if err != nil {
		return "", err
	}
	s, err := crypto.NewFileSecret()
	if err != nil {
		return "", err
	}
	defer s.Wipe()
	lk, err := crypto.NewLocalFileKey()
	if err != nil {
		return "", err
	}
	defer lk.Wipe()
	blob, err := e.v.CreateBlob(n)
	if err != nil {
		return "", err
	}
	sum, err := sealInto(blob, f, &lk, n, size, blobAD(chat.ID, id))
	blob.Close()
	if err != nil {
		return "", err // the blob, without a record, goes at the next unlock
	}
	fm := &fileMeta{Secret: s[:], Local: lk[:], Slot: slot, Size: size, Chunks: n, SHA256: sum,
		Expires: now.Add(life).Unix(), Type: typ, Name: name, State: FilePreparing, Relay: relay,
		TTL: uint32((ttl + time.Second - 1) / time.Second)}
	tid := transferID(chat.ID, id)
	err = e.v.Update(ctx, func(tx *vault.Tx) error {
		c, err := tx.Chat(chat.ID)
		if err != nil {
			return err
		}
		m := vault.Message{ID: id, ChatID: chat.ID, Direction: vault.Outgoing, Body: []byte(name), Sent: now, Status: vault.StatusPending}
		setMeta(&m, &msgMeta{File: fm})
		if ttl > 0 {
			m.Expires = now.Add(ttl)
		}
		if err := tx.PutMessage(&m); err != nil {
			return err
		}
		if err := tx.PutFile(chat.ID, id, vault.FileRecord{Blob: blob.Name(), Chunks: n, Complete: true}); err != nil {
			return err
		}
		if err := tx.PutTransfer(vault.Transfer{ID: tid, Chat: chat.ID, Message: id, Up: true}); err != nil {
			return err
		}
		c.LastActive = now
		return tx.PutChat(&c)
	})
	if err != nil {
		// A burn may have come while the file was sealed.
		return "", e.goneChat(ctx, ref, chat.ID, err)
	}
	e.emit(ctx, Event{Type: EventStatus, Chat: chat.ID, Message: id, Status: statusName(vault.StatusPending)})
	e.emit(ctx, Event{Type: EventTransfer, Chat: chat.ID, Message: id, Status: FilePreparing, Total: n})
	e.kickTransfers()
	return id, nil
}

// detectType guesses f's media type from its first bytes, without
// parameters; what does not pass CheckMediaType is
// application/octet-stream.
func detectType(f *os.File) string {
	var b [512]byte
	k, _ := f.ReadAt(b[:], 0)
	t, _, _ := strings.Cut(http.DetectContentType(b[:k]), ";")
	t = strings.TrimSpace(t)
	if format.CheckMediaType(t) != nil {
		return "application/octet-stream"
	}
	return t
}

// fileMessage reads a file message of chat ref.
func fileMessage(tx *vault.Tx, ref, msgID string) (vault.Chat, vault.Message, *fileMeta, error) {
	c, err := resolveChat(tx, ref)
	if err != nil {
		return c, vault.Message{}, nil, err
	}
	m, fm, err := chatFile(tx, &c, msgID)
	return c, m, fm, err
}

// chatFile reads file message msgID of chat c.
func chatFile(tx *vault.Tx, c *vault.Chat, msgID string) (vault.Message, *fileMeta, error) {
	m, err := tx.Message(c.ID, msgID)
	if errors.Is(err, vault.ErrNotFound) {
		return m, nil, ErrNoMessage
	}
	if err != nil {
		return m, nil, err
	}
	fm, _ := fileOf(&m)
	if fm == nil || m.Deleted {
		return m, nil, ErrNotFile
	}
	return m, fm, nil
}

// files is Files.
func (e *Engine) files(ctx context.Context, ref string) ([]FileInfo, error) {
	var out []FileInfo
	ts, err := e.v.Transfers()
	if err != nil {
		return nil, err
	}
	water := map[string]uint32{}
	terr := map[string]string{}
	for _, t := range ts {
		water[t.ID] = t.Done
		terr[t.ID] = t.Err
	}
	err = e.viewChat(ctx, ref, func(tx *vault.Tx, c *vault.Chat) error {
		peer := ""
		if ct, err := tx.Contact(c.ContactID); err == nil {
			peer = SanitizeLine(ct.Nickname)
		}
		ms, err := tx.Messages(c.ID, 0)
		if err != nil {
			return err
		}
		for i := range ms {
			m := &ms[i]
			fm, _ := fileOf(m)
			if fm == nil || m.Deleted {
				continue
			}
			fi := fileInfoTx(tx, c.ID, m, fm, e.now())
			if d, ok := water[transferID(c.ID, m.ID)]; ok && d > fi.Done {
				fi.Done = d
			}
			if fi.Err == "" && (fi.State == FileDownloading || fi.State == FileUploading) {
				// Why its last try failed (a stall, a lost connection),
				// until a chunk moves again: a waiting command gives up
				// waiting on it.
				fi.Err = strings.TrimPrefix(terr[transferID(c.ID, m.ID)], "client: ")
			}
			if !fi.Outgoing {
				fi.From = peer
				if c.Kind == vault.ChatGroup {
					fi.From = SanitizeLine(m.Sender)
				}
			}
			out = append(out, fi)
		}
		return nil
	})
	return out, err
}

// fileInfo describes file message m; names are sanitised for display.
func fileInfo(chat string, m *vault.Message, fm *fileMeta, now time.Time) FileInfo {
	fi := FileInfo{ID: m.ID, Chat: chat, Outgoing: m.Direction == vault.Outgoing, Name: SanitizeLine(fm.Name),
		Type: fm.Type, Size: fm.Size, State: fm.State, Done: fm.Done, Total: fm.Chunks, Time: m.Sent, Err: fm.Err}
	if !fi.Outgoing {
		fi.Time = m.Received
	}
	if fm.Expires != 0 {
		fi.Expires = time.Unix(fm.Expires, 0)
	}
	if fi.State == FileOffered && !fi.Expires.IsZero() && !now.Before(fi.Expires) {
		fi.State = FileExpired
	}
	return fi
}

// fileInfoTx is fileInfo, with the state "lost" for a file whose blob
// this profile does not have (restored from a backup, which carries no
// files).
func fileInfoTx(tx *vault.Tx, chat string, m *vault.Message, fm *fileMeta, now time.Time) FileInfo {
	fi := fileInfo(chat, m, fm, now)
	switch fi.State {
	case FileReady, FileSent, FileUploading, FilePreparing:
		if _, err := tx.GetFile(chat, m.ID); errors.Is(err, vault.ErrNotFound) {
			fi.State = FileLost
		}
	}
	return fi
}

// fetchFile is FetchFile: it stores a download record, which Run (or
// WaitTransfer) runs. A file that would leave less than diskMargin free
// on the profile's disk is refused at once.
func (e *Engine) fetchFile(ctx context.Context, ref, msgID string) error {
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		c, m, fm, err := fileMessage(tx, ref, msgID)
		if err != nil {
			return err
		}
		if m.Direction == vault.Outgoing {
			return badInput("that file is ours: there is nothing to download")
		}
		switch fm.State {
		case FileReady, FileDownloading:
			return nil
		case FileRefused:
			return badInput("veil refused that file: %s", fm.Err)
		case FileLost:
			return badInput("that file is not in this copy of the profile")
		}
		if fm.Expires != 0 && !e.now().Before(time.Unix(fm.Expires, 0)) {
			return badInput("that file has expired on the relay")
		}
		if need := blobNeed(fm.Chunks, 0); need > 0 {
			if ok, avail, _ := e.diskRoom(need, false); !ok {
				return badInput("%s", errNoDiskRoom(need, avail))
			}
		}
		return startDownload(tx, c.ID, &m)
	})
	if err == nil {
		e.kickTransfers()
	}
	return err
}

// startDownload stores the download record of file message m.
func startDownload(tx *vault.Tx, chat string, m *vault.Message) error {
	fm, mm := fileOf(m)
	fm.State, fm.Err, fm.Done = FileDownloading, "", 0
	setMeta(m, &mm)
	if err := tx.PutMessage(m); err != nil {
		return err
	}
	return tx.PutTransfer(vault.Transfer{ID: transferID(chat, m.ID), Chat: chat, Message: m.ID})
}

// waitTransfer is WaitTransfer.
func (e *Engine) waitTransfer(ctx context.Context, ref, msgID string) error {
	var chat string
	var fm *fileMeta
	var out bool
	err := e.viewChat(ctx, ref, func(tx *vault.Tx, c *vault.Chat) error {
		m, f, err := chatFile(tx, c, msgID)
		chat, fm, out = c.ID, f, m.Direction == vault.Outgoing
		return err
	})
	if err != nil {
		return err
	}
	for {
		x := e.runningXfer(chat, msgID)
		if x == nil {
			var t vault.Transfer
			var ok bool
			gen := e.transferGen()
			err := e.v.View(ctx, func(tx *vault.Tx) error {
				t, ok = findTransfer(tx, transferID(chat, msgID))
				return nil
			})
			if err != nil {
				return err
			}
			if !ok {
				return e.fileEnd(ctx, ref, chat, msgID, fm, out)
			}
			x = e.startTransfer(ctx, t, gen)
		}
		if err := e.waitXfer(ctx, x); err != nil {
			return err
		}
		if x.err != nil {
			if errors.Is(x.err, context.Canceled) && ctx.Err() == nil {
				continue // cancelled by another (Run's) stopping; look again
			}
			if errors.Is(x.err, errXferStale) {
				continue // a hold ended since the read; look again
			}
			return x.err
		}
		return nil
	}
}

// waitXfer waits for x to end, stopping it if it stalls meanwhile
// (stopStalled): a wait without Run's transfer loop needs that watchdog
// too.
func (e *Engine) waitXfer(ctx context.Context, x *xfer) error {
	t := time.NewTicker(xferRetryEvery)
	defer t.Stop()
	for {
		select {
		case <-x.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			e.stopStalled()
		}
	}
}

// fileEnd is what WaitTransfer says of a file with no transfer: a file
// whose chat a burn removed meanwhile did not arrive.
func (e *Engine) fileEnd(ctx context.Context, ref, chat, msgID string, fm *fileMeta, out bool) error {
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		m, err := tx.Message(chat, msgID)
		if err != nil {
			return err
		}
		if f, _ := fileOf(&m); f != nil {
			fm = f
		}
		return nil
	})
	if gone := e.goneChat(ctx, ref, chat, err); err != nil && errors.Is(gone, ErrNoChat) {
		return gone
	}
	switch fm.State {
	case FileFailed:
		return &xferFailed{msg: fm.Err}
	case FileRefused:
		return &xferFailed{msg: "veil refused the file: " + fm.Err}
	case FileOffered:
		if !out {
			return badInput("the file is not being downloaded (fetch it first)")
		}
	}
	return nil
}

// SaveTarget is the path SaveFile writes for out and a file whose
// FileInfo.Name is name: out/NAME when out is a directory — itself, never
// a link to one — with a NAME that would be hidden, an option, blank or no
// name replaced by "file";
// out otherwise. A caller checking the target first uses this, and passes
// out as the user gave it.
func SaveTarget(out, name string) string {
	st, err := os.Lstat(out)
	if err != nil || !st.IsDir() {
		return out
	}
	n := filepath.Base(name)
	if n == "." || n == ".." || n == "/" || strings.HasPrefix(n, "-") || strings.HasPrefix(n, ".") || strings.TrimSpace(n) == "" {
		n = "file"
	}
	return filepath.Join(out, n)
}

// saveFile is SaveFile.
func (e *Engine) saveFile(ctx context.Context, ref, msgID, out string, force bool) (string, int64, error) {
	r, _, name, err := e.plainReader(ctx, ref, msgID)
	if err != nil {
		return "", 0, err
	}
	defer r.Close()
	// The name written is the name shown (FileInfo.Name), so a caller
	// that checks SaveTarget(out, FileInfo.Name) first checks this file.
	out = SaveTarget(out, SanitizeLine(name))
	var n int64
	err = vault.WritePlain(out, force, func(w io.Writer) error {
		var err error
		n, err = io.Copy(w, r)
		return err
	})
	if err != nil {
		return "", 0, err
	}
	return out, n, nil
}

// openFile is OpenFile.
func (e *Engine) openFile(ctx context.Context, ref, msgID string) (io.ReadCloser, int64, error) {
	r, size, _, err := e.plainReader(ctx, ref, msgID)
	return r, size, err
}

// plainReader opens the plaintext of a ready file: its size and its
// sender's name for it come with it.
func (e *Engine) plainReader(ctx context.Context, ref, msgID string) (*blobReader, int64, string, error) {
	var fm *fileMeta
	var blob, chat string
	err := e.viewChat(ctx, ref, func(tx *vault.Tx, c *vault.Chat) error {
		m, f, err := chatFile(tx, c, msgID)
		if err != nil {
			return err
		}
		chat, fm = c.ID, f
		if !saveable(m.Direction == vault.Outgoing, fm.State) {
			return ErrFileNotReady
		}
		fr, err := tx.GetFile(c.ID, m.ID)
		if errors.Is(err, vault.ErrNotFound) || err == nil && !fr.Complete {
			return ErrFileNotReady
		}
		blob = fr.Blob
		return err
	})
	if err != nil {
		return nil, 0, "", err
	}
	lk, ok := fm.localKey()
	if !ok {
		return nil, 0, "", ErrFileNotReady
	}
	b, err := e.v.OpenBlob(blob)
	if err != nil {
		if e.chatGone(ctx, chat) { // a burn took the blob since the read
			return nil, 0, "", &noChatError{ref: ref}
		}
		return nil, 0, "", ErrFileNotReady
	}
	return &blobReader{b: b, key: lk, n: fm.Chunks, left: fm.Size, ad: blobAD(chat, msgID)}, fm.Size, fm.Name, nil
}

// blobReader decrypts a blob chunk by chunk: the plaintext is only ever
// in memory.
type blobReader struct {
	b    *vault.Blob
	key  crypto.LocalFileKey
	n, i uint32
	left int64
	ad   []byte
	buf  []byte // ciphertext, then the chunk's plaintext
	cur  []byte // what is left of the current chunk
}

func (r *blobReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.left <= 0 || r.i >= r.n {
			return 0, io.EOF
		}
		ct, err := r.b.ReadChunk(r.i, r.buf[:0])
		if err != nil {
			return 0, err
		}
		pt, err := crypto.OpenLocalChunk(&r.key, ct[:0], r.i, r.n, ct, r.ad)
		if err != nil {
			return 0, fmt.Errorf("client: the stored file is damaged (chunk %d of %d)", r.i+1, r.n)
		}
		r.buf = ct
		r.i++
		take := min(int64(len(pt)), r.left)
		r.left -= take
		r.cur = pt[:take]
	}
	k := copy(p, r.cur)
	r.cur = r.cur[k:]
	return k, nil
}

func (r *blobReader) Close() error {
	clear(r.buf[:cap(r.buf)])
	r.key.Wipe()
	return r.b.Close()
}

// cancelFile is CancelFile.
func (e *Engine) cancelFile(ctx context.Context, ref, msgID string) error {
	var chat string
	err := e.viewChat(ctx, ref, func(tx *vault.Tx, c *vault.Chat) error {
		_, _, err := chatFile(tx, c, msgID)
		chat = c.ID
		return err
	})
	if err != nil {
		return err
	}
	// The running transfer stops, and none starts from a list of
	// transfers read before the record goes (a stale start would mark the
	// file as moving again, with no record left to move it).
	release := e.holdTransfer(chat, msgID)
	var ev *Event
	err = e.v.Update(ctx, func(tx *vault.Tx) error {
		ev = nil
		_, m, fm, err := fileMessage(tx, chat, msgID)
		if err != nil {
			return err
		}
		tid := transferID(chat, msgID)
		if _, ok := findTransfer(tx, tid); !ok {
			return nil // nothing under way
		}
		if err := tx.DeleteTransfer(tid); err != nil {
			return err
		}
		_, mm := fileOf(&m)
		if m.Direction == vault.Outgoing {
			if tk, ok := cdelTask(fm, chat); ok {
				if err := addTasks(tx, tk); err != nil {
					return err
				}
			}
			if err := tx.DeleteFile(chat, msgID); err != nil && !errors.Is(err, vault.ErrNotFound) {
				return err
			}
			fm.State, fm.Err = FileFailed, "cancelled"
			m.Status = vault.StatusFailed
		} else {
			if err := tx.DeleteFile(chat, msgID); err != nil && !errors.Is(err, vault.ErrNotFound) {
				return err
			}
			fm.State, fm.Done = FileOffered, 0
		}
		mm.File = fm
		setMeta(&m, &mm)
		ev = &Event{Type: EventTransfer, Chat: chat, Message: msgID, Status: fm.State, Err: fm.Err, Total: fm.Chunks}
		return tx.PutMessage(&m)
	})
	release()
	if ev != nil {
		e.emit(ctx, *ev)
		e.kickOutbox()
	}
	return err
}

// autoLimit is AutoDownloadLimit.
func (e *Engine) autoLimit(ctx context.Context) int64 {
	n := DefaultAutoDownload
	_ = e.v.View(ctx, func(tx *vault.Tx) error {
		n = autoLimitTx(tx)
		return nil
	})
	return n
}

func autoLimitTx(tx *vault.Tx) int64 {
	p, err := profile(tx)
	if err != nil {
		return DefaultAutoDownload
	}
	s, ok := p.Settings[settingAutoFetch]
	if !ok {
		return DefaultAutoDownload
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return DefaultAutoDownload
	}
	return n
}

// setAutoLimit is SetAutoDownloadLimit.
func (e *Engine) setAutoLimit(ctx context.Context, n int64) error {
	if n < 0 || n > crypto.MaxFileSize {
		return badInput("the auto-download limit must be between 0 (off) and %d bytes", crypto.MaxFileSize)
	}
	return e.v.Update(ctx, func(tx *vault.Tx) error {
		p, err := profile(tx)
		if err != nil {
			return err
		}
		p.Settings[settingAutoFetch] = strconv.FormatInt(n, 10)
		return tx.PutProfile(&p)
	})
}
