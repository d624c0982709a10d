package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"veil/client"
	"veil/daemon"
)

// filePollEvery is how often a command waiting for a transfer asks for
// its state, besides following its events.
const filePollEvery = time.Second

// sendFile sends the file at path to chat and waits in the foreground for
// its upload; Ctrl-C leaves the upload queued.
func sendFile(ctx context.Context, g *globals, io *stdio, chat, path string, ttl time.Duration, mediaType string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	st, err := os.Stat(abs)
	switch {
	case err != nil:
		return fmt.Errorf("cannot read %s: %w", path, errors.Unwrap(err))
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	}
	var id string
	err = withAPI(ctx, g, io, apiUse{run: true, flush: true}, func(ctx context.Context, c *api) error {
		w, err := startWaiter(ctx, c)
		if err != nil {
			return err
		}
		defer w.stop()
		var r daemon.IDResult
		params := map[string]any{"chat": chat, "path": abs, "ttl": seconds(ttl)}
		if mediaType != "" {
			params["type"] = mediaType
		}
		if err := c.Call(ctx, "send.file", params, &r); err != nil {
			return err
		}
		id = r.ID
		f, err := w.wait(ctx, io, chat, id, st.Size())
		switch {
		case ctx.Err() != nil:
			fmt.Fprintln(io.err, "veil: interrupted: the upload stays queued and continues "+continues(c))
			return nil
		case err != nil:
			return err
		case f.State != client.FileSent:
			// The relay cannot be reached now: the message waits, as a
			// text would.
			fmt.Fprintf(io.err, "veil: the upload waits (%s); it continues %s\n", client.SanitizeLine(f.Err), continues(c))
		}
		return nil
	})
	if id != "" {
		fmt.Fprintln(io.out, id)
	}
	return err
}

// continues says when a transfer left behind goes on.
func continues(c *api) string {
	if c.local {
		return "the next time veil runs (veil watch, veil daemon, the TUI)"
	}
	return "in the running veil daemon"
}

func cmdFiles(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "files", "CHAT [--json] | --auto SIZE", "List a chat's files, or set the size up to which received files download by themselves")
	asJSON := fs.Bool("json", false, "one JSON object a line")
	auto := fs.String("auto", "", "download received files up to `SIZE` by themselves (such as 8MB, 500k, 1G; 0 or off: never)")
	pos, err := parse(fs, argv, 0, 1)
	if err != nil {
		return err
	}
	if *auto != "" {
		if len(pos) > 0 {
			return usagef("--auto applies to every chat: give no CHAT")
		}
		n, err := parseSize(*auto)
		if err != nil {
			return usagef("%v", err)
		}
		return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
			var r daemon.SizeResult
			if err := c.Call(ctx, "files.auto", map[string]any{"size": n}, &r); err != nil {
				return err
			}
			if r.Size == 0 {
				fmt.Fprintln(io.out, "received files download when asked for (veil save)")
			} else {
				fmt.Fprintf(io.out, "received files up to %s download by themselves\n", client.FormatSize(r.Size))
			}
			return nil
		})
	}
	if len(pos) == 0 {
		return usagef("expected CHAT (or --auto SIZE)")
	}
	return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
		files, err := listFiles(ctx, c, pos[0])
		if err != nil {
			return err
		}
		return printFiles(io, files, *asJSON)
	})
}

func printFiles(io *stdio, files []client.FileInfo, asJSON bool) error {
	if asJSON {
		for _, f := range files {
			if err := writeJSON(io, f); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(io.out, 0, 0, 2, ' ', 0)
	for _, f := range files {
		dir := "in"
		if f.Outgoing {
			dir = "out"
		}
		// Tabs in a name are sanitised away, so they cannot shift columns.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, dir, client.SanitizeLine(f.Name), client.FormatSize(f.Size), fileState(f), f.Time.Local().Format("2006-01-02 15:04:05"))
	}
	return tw.Flush()
}

// fileState is f's state in words, with its progress while it moves and
// its error when it has one.
func fileState(f client.FileInfo) string {
	s := f.State
	if (f.State == client.FileUploading || f.State == client.FileDownloading) && f.Total > 0 {
		s += fmt.Sprintf(" %d%%", uint64(f.Done)*100/uint64(f.Total))
	}
	if f.Err != "" {
		s += " (" + client.SanitizeLine(f.Err) + ")"
	}
	return s
}

func cmdSave(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "save", "CHAT MSGID [--out PATH] [--force]", "Write a received file to PATH (default ./NAME, or NAME inside PATH when it is a directory), downloading it first if needed; prints the path")
	out := fs.String("out", "", "write to `PATH` (a directory: PATH/NAME)")
	force := fs.Bool("force", false, "replace PATH if it exists (a link is replaced, not its target)")
	pos, err := parse(fs, argv, 2, 2)
	if err != nil {
		return err
	}
	chat, id := pos[0], pos[1]
	var saved daemon.SaveResult
	err = withAPI(ctx, g, io, apiUse{run: true}, func(ctx context.Context, c *api) error {
		f, err := findFile(ctx, c, chat, id)
		if err != nil {
			return err
		}
		target, err := saveTarget(f.Name, *out)
		if err != nil {
			return err
		}
		if !*force {
			if _, err := os.Lstat(target); err == nil {
				return fmt.Errorf("%s exists (use --force)", target)
			}
		}
		if f.State != client.FileReady && !(f.Outgoing && f.State == client.FileSent) {
			if f, err = download(ctx, io, c, chat, f); err != nil {
				return err
			}
		}
		err = c.Call(ctx, "file.save", map[string]any{"chat": chat, "id": id, "out": target, "force": *force}, &saved)
		if apiKind(err) == daemon.KindExists {
			return fmt.Errorf("%s exists (use --force)", target)
		}
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(io.out, saved.Path)
	return nil
}

// download fetches f if it is not downloading yet and waits until it is
// ready.
func download(ctx context.Context, io *stdio, c *api, chat string, f client.FileInfo) (client.FileInfo, error) {
	switch f.State {
	case client.FileExpired, client.FileRefused, client.FileLost:
		return f, notSaveable(f)
	case client.FilePreparing, client.FileUploading:
		return f, errors.New("this file is still being sent: only a file received, or one of yours that was sent, can be saved")
	}
	w, err := startWaiter(ctx, c)
	if err != nil {
		return f, err
	}
	defer w.stop()
	if f.State != client.FileDownloading {
		if err := c.Call(ctx, "file.fetch", map[string]any{"chat": chat, "id": f.ID}, nil); err != nil {
			return f, err
		}
	}
	got, err := w.wait(ctx, io, chat, f.ID, f.Size)
	switch {
	case ctx.Err() != nil:
		return f, errors.New("interrupted: the download continues " + continues(c) + "; veil save again then")
	case err != nil:
		return f, err
	case got.State != client.FileReady:
		return f, fmt.Errorf("the download waits (%s); it continues %s", client.SanitizeLine(got.Err), continues(c))
	}
	return got, nil
}

func notSaveable(f client.FileInfo) error {
	msg := "this file cannot be saved: it is " + f.State
	if f.Err != "" {
		msg += " (" + client.SanitizeLine(f.Err) + ")"
	}
	return errors.New(msg)
}

// saveTarget is the absolute path a file called name is saved to: out,
// out/name when out is a directory, ./name without out.
func saveTarget(name, out string) (string, error) {
	if out == "" || isDir(out) {
		if name == "" || name == "." || name == ".." || filepath.Base(name) != name || strings.ContainsRune(name, os.PathSeparator) {
			// The engine refuses such names; this keeps a bad one from
			// ever naming a path outside the directory.
			return "", errors.New("this file's name cannot be used as a file name here: give --out PATH")
		}
		out = filepath.Join(out, name)
	}
	return filepath.Abs(out)
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// listFiles returns every file message of chat, oldest first, reading
// page after page.
func listFiles(ctx context.Context, c *api, chat string) ([]client.FileInfo, error) {
	var out []client.FileInfo
	before := ""
	for {
		var r daemon.FilesResult
		if err := c.Call(ctx, "files", map[string]any{"chat": chat, "limit": 1000, "before": before}, &r); err != nil {
			return nil, err
		}
		out = append(r.Files, out...)
		if !r.More || len(r.Files) == 0 {
			return out, nil
		}
		before = r.Files[0].ID
	}
}

// findFile is the file message id of chat.
func findFile(ctx context.Context, c *api, chat, id string) (client.FileInfo, error) {
	files, err := listFiles(ctx, c, chat)
	if err != nil {
		return client.FileInfo{}, err
	}
	for _, f := range files {
		if f.ID == id {
			return f, nil
		}
	}
	return client.FileInfo{}, fmt.Errorf("this chat has no file with the id %s (veil files %s lists them)", client.SanitizeLine(id), client.SanitizeLine(chat))
}

// waiter follows a transfer through the event stream (for its progress)
// and the files method (for its state, also when an event was missed).
type waiter struct {
	c      *api
	events chan client.Event
	done   chan struct{}
}

// startWaiter subscribes c to the event stream: a command's own server
// from its first event, a daemon's from now.
func startWaiter(ctx context.Context, c *api) (*waiter, error) {
	sub := daemon.SubscribeParams{}
	if c.local {
		var zero uint64
		sub.Stream, sub.After = c.stream, &zero
	}
	if err := c.Call(ctx, "subscribe", sub, nil); err != nil {
		return nil, err
	}
	w := &waiter{c: c, events: make(chan client.Event, 1024), done: make(chan struct{})}
	// The notes are read all the time, so the answers to calls behind
	// them never wait; progress events past the buffer are dropped (the
	// state comes from polling too).
	go func() {
		defer close(w.events)
		for {
			select {
			case n, ok := <-c.Notes():
				if !ok {
					return
				}
				if n.Method != daemon.NoteEvent {
					continue
				}
				var en daemon.EventNote
				if json.Unmarshal(n.Params, &en) != nil {
					continue
				}
				select {
				case w.events <- en.Event:
				default:
				}
			case <-w.done:
				return
			}
		}
	}()
	return w, nil
}

func (w *waiter) stop() {
	close(w.done)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = w.c.Call(ctx, "unsubscribe", nil, nil)
}

// filePatience is how long a transfer may report an error without moving
// before a command stops waiting for it (the engine retries on its own).
const filePatience = 15 * time.Second

// wait waits until the file id of chat is done moving: its state then
// (sent, ready), an error when it failed, or its state with Err set when
// it has been held up by a relay for filePatience. It draws a bar for
// size bytes on a terminal.
func (w *waiter) wait(ctx context.Context, io *stdio, chat, id string, size int64) (client.FileInfo, error) {
	bar := terminalBar(io.err, size, false)
	tick := time.NewTicker(filePollEvery)
	defer tick.Stop()
	var stuckSince time.Time
	var stuckAt uint32
	for {
		f, err := findFile(ctx, w.c, chat, id)
		if apiKind(err) == client.KindNoChat {
			err = errors.New("the chat is gone (burned, or past its deadline): the transfer stopped and nothing was saved")
		}
		if err != nil {
			bar.abandon()
			return f, err
		}
		switch f.State {
		case client.FileSent, client.FileReady:
			bar.finish(f.Size)
			return f, nil
		case client.FileFailed, client.FileExpired, client.FileRefused, client.FileLost:
			bar.abandon()
			return f, transferError(f)
		}
		switch {
		case f.Err == "":
			stuckSince = time.Time{}
		case stuckSince.IsZero() || f.Done != stuckAt:
			stuckSince, stuckAt = time.Now(), f.Done
		case time.Since(stuckSince) >= filePatience:
			bar.abandon()
			return f, nil
		}
		if err := w.next(ctx, tick.C, bar, id, f.State); err != nil {
			bar.abandon()
			return f, err
		}
	}
}

// next waits for a reason to ask for the transfer's state again: the
// ticker, a change of its state, a relay found unreachable. It moves the
// bar on the transfer's progress events meanwhile.
func (w *waiter) next(ctx context.Context, tick <-chan time.Time, bar *transferBar, id, state string) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
			return nil
		case ev, ok := <-w.events:
			if !ok {
				return errors.New("the veil daemon stopped")
			}
			switch {
			case ev.Type == client.EventTransfer && ev.Message == id:
				bar.update(ev.Bytes)
				if ev.Status != state {
					return nil
				}
			case ev.Type == client.EventRelayUnreachable:
				return nil
			}
		}
	}
}

// transferError says why the transfer of f ended without the file.
func transferError(f client.FileInfo) error {
	what := "upload"
	if !f.Outgoing {
		what = "download"
	}
	msg := "the " + what + " failed"
	if f.State != client.FileFailed {
		msg = "the file is " + f.State
	}
	if f.Err != "" {
		msg += ": " + client.SanitizeLine(f.Err)
	}
	return errors.New(msg)
}

// parseSize reads a size such as 8MB, 500k, 1G, 1000 or off (0).
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "off" || t == "never" {
		return 0, nil
	}
	t = strings.TrimSuffix(t, "b")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult, t = 1_000, t[:n-1]
		case 'm':
			mult, t = 1_000_000, t[:n-1]
		case 'g':
			mult, t = 1_000_000_000, t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || !(v >= 0) || v*float64(mult) > 1e15 { // !(v >= 0) also refuses NaN
		return 0, fmt.Errorf("bad size %q (such as 8MB, 500k, 1G, or off)", s)
	}
	return int64(v * float64(mult)), nil
}
