package daemon

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"veil/client"
	"veil/vault"
)

// Methods for file messages (spec/api.md §4.6). Their progress reaches
// subscribers as "transfer" events, which the engine sends like any other.

// Kinds of the file methods' own failures (spec/api.md §3.1).
const (
	KindExists   = "exists"    // file.save: the output path exists and force is not set
	KindNotReady = "not_ready" // file.save: the file is not downloaded and verified yet
)

// kindError is a failure of a file method with a kind of its own; msg is
// already in the user's words.
type kindError struct {
	kind, msg string
	err       error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.err }

type (
	sendFileParams struct {
		Chat string   `json:"chat"`
		Path string   `json:"path"` // absolute: the server's working directory is not the caller's
		TTL  Duration `json:"ttl,omitempty"`
		Type string   `json:"type,omitempty"`
		// Wait: answer once the upload has ended (its error if it failed).
		Wait bool `json:"wait,omitempty"`
	}
	fileSaveParams struct {
		Chat  string `json:"chat"`
		ID    string `json:"id"`
		Out   string `json:"out"` // absolute
		Force bool   `json:"force,omitempty"`
	}
	filesAutoParams struct {
		// Size, when given, sets the auto-download limit in bytes (0: never).
		Size *int64 `json:"size,omitempty"`
	}
	// SaveResult is the result of file.save: the file written and its size.
	SaveResult struct {
		Path  string `json:"path"`
		Bytes int64  `json:"bytes"`
	}
	// SizeResult is the result of files.auto: the limit in bytes.
	SizeResult struct {
		Size int64 `json:"size"`
	}
)

func (p *sendFileParams) check() error {
	if p.Path != "" && !filepath.IsAbs(p.Path) {
		return badParams("\"path\" must be an absolute file name")
	}
	return errors.Join(need("chat", p.Chat), need("path", p.Path))
}

func (p *fileSaveParams) check() error {
	if p.Out != "" && !filepath.IsAbs(p.Out) {
		return badParams("\"out\" must be an absolute file name")
	}
	return errors.Join(need("chat", p.Chat), need("id", p.ID), need("out", p.Out))
}

func (p *filesAutoParams) check() error {
	if p.Size != nil && *p.Size < 0 {
		return badParams("size is a number of bytes, 0 or more (0: never)")
	}
	return nil
}

// fileMethods returns the methods of this file, added to methods by init.
func fileMethods() map[string]method {
	return map[string]method{
		"send.file": {run: call(sendFileMethod)},
		"files":     {run: call(filesMethod)},
		"file.fetch": {run: call(func(ctx context.Context, eng *client.Engine, p *msgParam) (any, error) {
			return ok{}, fileError(eng.FetchFile(ctx, p.Chat, p.ID))
		})},
		"file.save": {run: call(fileSaveMethod)},
		"file.cancel": {run: call(func(ctx context.Context, eng *client.Engine, p *msgParam) (any, error) {
			return ok{}, fileError(eng.CancelFile(p.Chat, p.ID))
		})},
		"files.auto": {run: call(func(ctx context.Context, eng *client.Engine, p *filesAutoParams) (any, error) {
			if p.Size != nil {
				if err := eng.SetAutoDownloadLimit(*p.Size); err != nil {
					return nil, err
				}
			}
			return SizeResult{eng.AutoDownloadLimit()}, nil
		})},
	}
}

// sendFileMethod stores a file message and queues its upload; with wait
// it answers once the upload has ended.
func sendFileMethod(ctx context.Context, eng *client.Engine, p *sendFileParams) (any, error) {
	id, err := eng.SendFile(ctx, p.Chat, p.Path, client.SendFileOptions{TTL: time.Duration(p.TTL), Type: p.Type})
	if err != nil {
		return nil, err
	}
	if p.Wait {
		if err := eng.WaitTransfer(ctx, p.Chat, id); err != nil {
			return nil, fileError(err)
		}
	}
	return IDResult{id}, nil
}

// fileSaveMethod writes a ready file to p.Out (p.Out/NAME when it is a
// directory). It refuses a file that is not ready, and an existing target
// without p.Force, before writing anything.
func fileSaveMethod(ctx context.Context, eng *client.Engine, p *fileSaveParams) (any, error) {
	f, err := findFile(eng, p.Chat, p.ID)
	if err != nil {
		return nil, err
	}
	if !client.Saveable(f) {
		return nil, notReady(f)
	}
	if !p.Force {
		target := client.SaveTarget(p.Out, f.Name) // where the engine writes
		if _, err := os.Lstat(target); err == nil {
			return nil, existsError(target, fs.ErrExist)
		}
	}
	path, n, err := eng.SaveFile(ctx, p.Chat, p.ID, p.Out, p.Force)
	switch {
	case errors.Is(err, vault.ErrExists), errors.Is(err, fs.ErrExist):
		return nil, existsError(p.Out, err)
	case err != nil:
		return nil, fileError(err)
	}
	return SaveResult{Path: path, Bytes: n}, nil
}

// findFile is the file message id of chat.
func findFile(eng *client.Engine, chat, id string) (client.FileInfo, error) {
	fs, err := eng.Files(chat)
	if err != nil {
		return client.FileInfo{}, err
	}
	for _, f := range fs {
		if f.ID == id {
			return f, nil
		}
	}
	return client.FileInfo{}, client.ErrNoMessage
}

// fileError gives the engine's file errors their kinds.
func fileError(err error) error {
	switch {
	case errors.Is(err, client.ErrNotFile):
		return &kindError{client.KindNoMessage, "that message is not a file (veil files CHAT lists the files)", err}
	case errors.Is(err, client.ErrFileNotReady):
		return &kindError{KindNotReady, "the file is not downloaded and verified yet", err}
	}
	return err
}

func existsError(path string, err error) error {
	return &kindError{KindExists, client.SanitizeLine(path) + " exists (use force to replace it)", err}
}

// notReady says why f cannot be saved yet.
func notReady(f client.FileInfo) error {
	msg := "the file is not downloaded yet (file.fetch starts it)"
	switch f.State {
	case client.FileDownloading:
		msg = "the file is still downloading"
	case client.FilePreparing:
		msg = "the file is still being prepared"
	case client.FileFailed, client.FileExpired, client.FileRefused, client.FileLost:
		msg = "the file cannot be saved: it is " + f.State
		if f.Err != "" {
			msg += " (" + client.SanitizeLine(f.Err) + ")"
		}
	}
	return &kindError{KindNotReady, msg, nil}
}

// filesParams are files' params: with limit or before, the answer is one
// page (FilesResult), as read's; without, the array of version 1.
type filesParams struct {
	Chat   string  `json:"chat"`
	Limit  *int    `json:"limit,omitempty"`
	Before *string `json:"before,omitempty"`
}

func (p *filesParams) check() error {
	if p.Limit != nil && (*p.Limit < 0 || *p.Limit > maxPage) {
		return badParams("limit is 0 to %d (0: %d)", maxPage, maxPage)
	}
	return need("chat", p.Chat)
}

// FilesResult is a page of files: the newest file messages older than
// before, oldest first, as many as fit a line.
type FilesResult struct {
	Files []client.FileInfo `json:"files"`
	// More is true when older file messages exist (ask again with before
	// set to the first one's id).
	More bool `json:"more"`
}

// filesMethod lists a chat's file messages: all of them, or a page.
func filesMethod(ctx context.Context, eng *client.Engine, p *filesParams) (any, error) {
	all, err := eng.Files(p.Chat)
	if err != nil {
		return nil, err
	}
	if all == nil {
		all = []client.FileInfo{}
	}
	if p.Limit == nil && p.Before == nil {
		return all, nil
	}
	end := len(all)
	if p.Before != nil && *p.Before != "" {
		end = slices.IndexFunc(all, func(f client.FileInfo) bool { return f.ID == *p.Before })
		if end < 0 {
			return nil, client.ErrNoMessage
		}
	}
	limit := maxPage
	if p.Limit != nil && *p.Limit > 0 {
		limit = *p.Limit
	}
	start, err := pageStart(all, end, limit)
	if err != nil {
		return nil, err
	}
	return FilesResult{Files: all[start:end], More: start > 0}, nil
}
