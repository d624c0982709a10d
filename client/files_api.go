package client

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors of the file methods callers branch on.
var (
	// ErrFileNotReady is returned by SaveFile and OpenFile for a file not
	// downloaded and verified.
	ErrFileNotReady = errors.New("client: the file is not downloaded and verified")
	// ErrNotFile is returned for a message that is not a file message.
	ErrNotFile = errors.New("client: that message is not a file")
)

// File states (spec/client.md §5.16), as FileInfo.State and the Status of
// an EventTransfer say them.
const (
	FilePreparing   = "preparing"   // ours: being read and encrypted
	FileUploading   = "uploading"   // ours: chunks going to the relay
	FileSent        = "sent"        // ours: every chunk stored; the descriptor is queued or sent
	FileOffered     = "offered"     // theirs: not downloaded (above the auto limit, or not asked for)
	FileDownloading = "downloading" // theirs: chunks coming from the relay
	FileReady       = "ready"       // verified and stored here: SaveFile and OpenFile work
	FileFailed      = "failed"      // the transfer failed (Err says why)
	FileExpired     = "expired"     // its chunks passed their deadline before download
	FileRefused     = "refused"     // its descriptor was refused (Err says why); nothing kept
	FileLost        = "lost"        // restored from a backup that does not carry file contents
)

// DefaultAutoDownload is the auto-download limit of a new profile, in bytes.
const DefaultAutoDownload int64 = 8_000_000

// SendFileOptions are the choices of SendFile.
type SendFileOptions struct {
	// TTL is the message's own timer (0: the chat's timer), as Send's.
	TTL time.Duration
	// Type is the media type (type/subtype); empty means detected from
	// the first bytes of the file.
	Type string
}

// FileInfo is one file message of a chat.
type FileInfo struct {
	ID       string    `json:"id"`
	Chat     string    `json:"chat"`
	Outgoing bool      `json:"outgoing"`
	From     string    `json:"from,omitempty"`
	Name     string    `json:"name"`
	Type     string    `json:"type"`
	Size     int64     `json:"size"`
	State    string    `json:"state"`
	Done     uint32    `json:"done,omitempty"`  // chunks transferred
	Total    uint32    `json:"total,omitempty"` // chunks in all
	Time     time.Time `json:"time"`
	Expires  time.Time `json:"expires,omitzero"` // when its chunks leave the relay
	Err      string    `json:"error,omitempty"`
}

// SendFile stores a file message for path in chat and queues its upload;
// it returns once both are stored (files.go). The upload runs while the
// engine runs (Run, or WaitTransfer).
func (e *Engine) SendFile(ctx context.Context, chat, path string, opt SendFileOptions) (string, error) {
	return e.sendFile(ctx, chat, path, opt)
}

// WaitTransfer runs the transfer of a file message until it ends: nil when
// it is done, its error when it failed or could not go on.
func (e *Engine) WaitTransfer(ctx context.Context, chat, msgID string) error {
	return e.waitTransfer(ctx, chat, msgID)
}

// Files lists the file messages of chat, oldest first.
func (e *Engine) Files(chat string) ([]FileInfo, error) {
	return e.files(context.Background(), chat)
}

// FetchFile starts or resumes the download of a file message.
func (e *Engine) FetchFile(ctx context.Context, chat, msgID string) error {
	return e.fetchFile(ctx, chat, msgID)
}

// Saveable reports whether a file can be saved or opened (spec/client.md
// §7.8): one of theirs once ready; one of ours once sealed here and its
// upload begun (uploading or sent).
func Saveable(f FileInfo) bool {
	return saveable(f.Outgoing, f.State)
}

func saveable(outgoing bool, state string) bool {
	if outgoing {
		return state == FileUploading || state == FileSent
	}
	return state == FileReady
}

// SaveFile writes a ready file to out (a directory, never a link to one,
// means out/NAME: SaveTarget) and
// returns the path written and its size. Without force an existing out is
// refused with vault.ErrExists; a file not ready with ErrFileNotReady.
func (e *Engine) SaveFile(ctx context.Context, chat, msgID, out string, force bool) (string, int64, error) {
	return e.saveFile(ctx, chat, msgID, out, force)
}

// OpenFile streams the plaintext of a ready file and says its size; the
// plaintext never reaches the disk.
func (e *Engine) OpenFile(chat, msgID string) (io.ReadCloser, int64, error) {
	return e.openFile(context.Background(), chat, msgID)
}

// CancelFile stops the transfer of a file message: an upload fails and
// its chunks are deleted from the relay; a download goes back to offered.
func (e *Engine) CancelFile(chat, msgID string) error {
	return e.cancelFile(context.Background(), chat, msgID)
}

// AutoDownloadLimit is the size up to which received files download by
// themselves (0: never).
func (e *Engine) AutoDownloadLimit() int64 {
	return e.autoLimit(context.Background())
}

// SetAutoDownloadLimit sets AutoDownloadLimit; 0 turns auto-download off.
func (e *Engine) SetAutoDownloadLimit(n int64) error {
	return e.setAutoLimit(context.Background(), n)
}
