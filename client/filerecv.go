package client

import (
	"errors"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/vault"
)

// incomingFile returns the file data of a received descriptor d (derr
// when it did not parse) in chat c (spec/client.md §5.16): offered, or
// expired when its chunks are past their deadline, or refused with the
// reason and nothing of it kept when it is bad or names a relay slot this
// chat does not have. A fresh local key seals its blob.
func (e *Engine) incomingFile(tx *vault.Tx, c *vault.Chat, d *format.FileDescriptor, derr error) (*fileMeta, error) {
	if derr != nil || d == nil {
		return &fileMeta{State: FileRefused, Err: refusedReason(derr)}, nil
	}
	relay, err := fetchRelay(tx, c, d.Slot)
	if err != nil && !errors.Is(err, errXferGone) {
		return nil, err
	}
	if relay == "" {
		return &fileMeta{State: FileRefused, Err: "it names a relay this chat does not have"}, nil
	}
	lk, err := crypto.NewLocalFileKey()
	if err != nil {
		return nil, err
	}
	defer lk.Wipe()
	fm := &fileMeta{Secret: append([]byte(nil), d.Secret[:]...), Local: append([]byte(nil), lk[:]...), Slot: d.Slot,
		Size: d.Size, Chunks: d.Chunks, SHA256: append([]byte(nil), d.SHA256[:]...), Expires: d.Expires,
		Type: d.Type, Name: d.Name, State: FileOffered}
	if d.Expires != 0 && !e.now().Before(time.Unix(d.Expires, 0)) {
		fm.State, fm.Secret = FileExpired, nil
	}
	return fm, nil
}

// refusedReason says in the user's words why a descriptor was refused.
func refusedReason(err error) string {
	var fe *format.FileError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return "its description is malformed"
}

// storeIncomingFile finishes a received file message m (stored by the
// caller): a file within the auto-download limit gets its download record
// in the same transaction. It returns the warning of a refused file.
func storeIncomingFile(tx *vault.Tx, chat string, m *vault.Message, fm *fileMeta) error {
	mm := metaOf(m)
	mm.File = fm
	setMeta(m, &mm)
	m.Body = []byte(fm.Name)
	if fm.State == FileRefused {
		m.Body = nil
	}
	if err := tx.PutMessage(m); err != nil {
		return err
	}
	if fm.State != FileOffered {
		return nil
	}
	if lim := autoLimitTx(tx); lim > 0 && fm.Size <= lim {
		return startDownload(tx, chat, m)
	}
	return nil
}

// fileEventText is the text an incoming file's message event carries.
func fileEventText(fm *fileMeta) string {
	if fm.State == FileRefused {
		return "a file veil refused: " + fm.Err
	}
	return fm.Name
}

// file applies a FILE (spec/client.md §5.16): a message like a TEXT whose
// body is the file's name, with its file data; a refused descriptor
// leaves a line saying why, a warning, and nothing of the file.
func (r *rx) file(env *format.Envelope, now time.Time) error {
	fm, err := r.e.incomingFile(r.tx, r.chat, env.File, env.FileErr)
	if err != nil {
		return err
	}
	id := r.e.incomingID(env.ID)
	sent, unsure := sentTime(env.ID, now, r.chat.Created)
	m := vault.Message{ID: id, ChatID: r.chat.ID, Direction: vault.Incoming, Sender: r.ct.ID,
		Sent: sent, Received: now, Status: vault.StatusDelivered}
	setMeta(&m, &msgMeta{SentUnsure: unsure})
	if env.TTL > 0 {
		if r.meta.TTLs == nil {
			r.meta.TTLs = map[string]int64{}
		}
		r.meta.TTLs[id] = int64(min(time.Duration(env.TTL)*time.Second, maxTTL) / time.Second)
	}
	if err := storeIncomingFile(r.tx, r.chat.ID, &m, fm); err != nil {
		return err
	}
	r.chat.Unread++
	r.chat.LastActive = now
	r.event(Event{Type: EventMessage, Message: id, Text: SanitizeLine(fileEventText(fm)), Sent: sent})
	if fm.State == FileRefused {
		r.event(Event{Type: EventWarning, Message: id, Err: SanitizeLine(r.ct.Nickname) + " sent a file veil refused: " + fm.Err})
	}
	return r.queueReceipt(format.ReceiptDelivered, env.ID)
}

// groupFile stores a group FILE read from the log as message m, and
// turns its event into what the user sees.
func (e *Engine) groupFile(tx *vault.Tx, c *vault.Chat, m *vault.Message, ev *Event) error {
	fm, err := e.incomingFile(tx, c, ev.file, ev.fileErr)
	if err != nil {
		return err
	}
	ev.file, ev.fileErr = nil, nil
	if err := storeIncomingFile(tx, c.ID, m, fm); err != nil {
		return err
	}
	ev.Text = SanitizeLine(fileEventText(fm))
	if fm.State == FileRefused {
		ev.Err = ev.From + " sent a file veil refused: " + fm.Err
	}
	e.kickTransfers()
	return nil
}
