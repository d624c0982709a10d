package client

import (
	"errors"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/vault"
)

// incomingFile returns the file data of a received descriptor d (derr
// when it did not parse) in chat c (spec/client.md §5.12): offered, or
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
	switch {
	case err == nil:
		return "it is malformed"
	case errors.Is(err, format.ErrFileName):
		if s := err.Error(); len(s) > 0 {
			return trimPrefix(s)
		}
		return "its name is not allowed"
	case errors.Is(err, format.ErrFileType):
		return "its media type is not valid"
	case errors.Is(err, format.ErrFileSize):
		return "its size does not match its chunks"
	case errors.Is(err, format.ErrFileVersion):
		return "it uses a newer file format"
	}
	return "it is malformed"
}

// trimPrefix drops a "pkg: " prefix from an error's text.
func trimPrefix(s string) string {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == ':' && s[i+1] == ' ' {
			return s[i+2:]
		}
	}
	return s
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
