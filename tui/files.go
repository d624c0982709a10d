package tui

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
)

// File attachments (files design §7): /file PATH sends one, the file line
// of the chat view shows each, the progress rows above the compose box
// show the open chat's running transfers, and on a selected file line
// s saves, d downloads, v views an image and x cancels.

// fileEngine is the part of the engine the file features call.
type fileEngine interface {
	SendFile(ctx context.Context, chat, path string, opt client.SendFileOptions) (string, error)
	FetchFile(ctx context.Context, chat, msgID string) error
	SaveFile(ctx context.Context, chat, msgID, out string, force bool) (string, int64, error)
	OpenFile(chat, msgID string) (io.ReadCloser, int64, error)
	CancelFile(chat, msgID string) error
	AutoDownloadLimit() int64
	SetAutoDownloadLimit(n int64) error
}

var _ fileEngine = (*client.Engine)(nil)

// Tuning of files.
const (
	// sendFileTimeout bounds SendFile, which reads and encrypts the whole
	// file before it returns.
	sendFileTimeout = 30 * time.Minute
	// maxProgressRows is the most progress rows shown at once.
	maxProgressRows = 3
	// maxImageProbes is the most image sizes read after one load.
	maxImageProbes = 8
)

type (
	// pathDoneMsg is a finished path completion of typed.
	pathDoneMsg struct {
		typed, completed string
		names            []string
	}
	// imageSizeMsg is the size an image file declares (zero when it is
	// not one we can show).
	imageSizeMsg struct {
		chat, msg string
		size      image.Point
	}
	// previewMsg carries a preview ready to draw, or why there is none.
	previewMsg struct {
		title string
		out   []byte
		kitty bool
		err   error
	}
	previewDoneMsg struct{ err error }
	// saveCheckMsg says the path a save dialog named exists.
	saveCheckMsg struct{ typed, path string }
	// saveDoneMsg ends a save dialog with the outcome of the save.
	saveDoneMsg struct{ done doneMsg }
)

// files is the engine's file API (a fake in tests).
func (a *App) files() fileEngine {
	if a.fileFake != nil {
		return a.fileFake
	}
	if a.sess == nil || a.sess.Engine == nil {
		return nil
	}
	return a.sess.Engine
}

func (a *App) getenv(k string) string {
	if a.cfg.Getenv != nil {
		return a.cfg.Getenv(k)
	}
	return os.Getenv(k)
}

// completePathCmd completes a typed path off the Update loop (it reads a
// directory).
func completePathCmd(typed string) tea.Cmd {
	return func() tea.Msg {
		home, _ := os.UserHomeDir()
		c, names := completePath(typed, home)
		return pathDoneMsg{typed: typed, completed: c, names: names}
	}
}

// filePrefix is what the compose box holds before a /file path.
const filePrefix = "/file "

// onPathDone puts a completion into the compose box, or hands it to the
// save dialog that asked; several candidates show as a notice.
func (a *App) onPathDone(msg pathDoneMsg) tea.Cmd {
	if d, ok := a.dlg.(*saveDialog); ok {
		d.completed(msg)
		return nil
	}
	if a.compose.value() != filePrefix+msg.typed {
		return nil // typed on meanwhile
	}
	a.compose.ta.SetValue(filePrefix + msg.completed)
	if len(msg.names) > 1 {
		a.setNotice(candidateList(msg.names), false)
	}
	return nil
}

// candidateList is the completion candidates for a notice.
func candidateList(names []string) string {
	shown := make([]string, 0, len(names))
	for _, n := range names {
		shown = append(shown, client.SanitizeLine(n))
	}
	return strings.Join(shown, "  ")
}

// cmdFile sends the file at PATH to the open chat.
func (a *App) cmdFile(arg string) tea.Cmd {
	if arg == "" {
		return a.fail(errors.New("/file PATH sends a file (tab completes the path)"))
	}
	fe, id := a.files(), a.view.chat.ID
	if fe == nil {
		return nil
	}
	a.setNotice("preparing "+arg+"…", false)
	return func() tea.Msg {
		home, _ := os.UserHomeDir()
		p, err := resolvePath(arg, home)
		if err != nil {
			return doneMsg{err: err}
		}
		ctx, cancel := context.WithTimeout(context.Background(), sendFileTimeout)
		defer cancel()
		if _, err := fe.SendFile(ctx, id, p, client.SendFileOptions{}); err != nil {
			return doneMsg{err: err, unsent: filePrefix + arg, chat: id}
		}
		return doneMsg{note: "file queued: it uploads while veil is open", reload: true}
	}
}

// Keys on a selected file line.
type fileKeys struct{ Save, Download, View, Cancel key.Binding }

func defaultFileKeys() fileKeys {
	return fileKeys{
		Save:     key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "save")),
		Download: key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "download")),
		View:     key.NewBinding(key.WithKeys("v"), key.WithHelp("v", "view")),
		Cancel:   key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "cancel")),
	}
}

// fileKey handles a key on a selected file line; ok is false when the
// selection is no file or the key is not one of fileKeys.
func (a *App) fileKey(msg tea.KeyMsg) (tea.Cmd, bool) {
	m, ok := a.view.selected()
	if !ok || m.File == nil || m.Deleted {
		return nil, false
	}
	fe, chat, f := a.files(), a.view.chat.ID, m.File
	if fe == nil {
		return nil, false
	}
	k := defaultFileKeys()
	switch {
	case key.Matches(msg, k.Save):
		if !client.Saveable(*f) {
			return a.fail(notSaveable(f)), true
		}
		name := saveName(f)
		a.openDialog(newSaveDialog(a.st, a.keys, name, func(typed string, force bool) tea.Cmd {
			return saveCmd(fe, chat, m.ID, name, typed, force)
		}))
		return nil, true
	case key.Matches(msg, k.Download):
		if m.Outgoing || f.State == client.FileReady {
			return a.fail(errors.New("this file is already here: s saves it")), true
		}
		// No reload: the transfer events of the download redraw the line.
		return action("downloading "+fileName(f), false, localTimeout, func(ctx context.Context) error {
			return fe.FetchFile(ctx, chat, m.ID)
		}), true
	case key.Matches(msg, k.View):
		return a.viewFile(m), true
	case key.Matches(msg, k.Cancel):
		if !activeState(f.State) {
			return a.fail(errors.New("no transfer of this file is running")), true
		}
		return action("transfer cancelled", false, localTimeout, func(context.Context) error {
			return fe.CancelFile(chat, m.ID)
		}), true
	}
	return nil, false
}

// describeFile is a file in words, for a terminal or a file that shows
// no picture.
func describeFile(f *client.FileInfo, dims image.Point) string {
	s := fileName(f) + ": " + client.SanitizeLine(f.Type) + ", " + fileSize(f.Size)
	if dims.X > 0 {
		s += fmt.Sprintf(", image %d×%d", dims.X, dims.Y)
	}
	return s
}

// viewFile previews a ready image; anything else is described in words.
func (a *App) viewFile(m client.MessageInfo) tea.Cmd {
	f := m.File
	desc := describeFile(f, a.view.images[m.ID])
	switch {
	case !isPreviewType(f.Type):
		a.setNotice(desc+" · not an image: s saves it", false)
		return nil
	case !client.Saveable(*f):
		a.setNotice(desc+" · "+notSaveable(f).Error(), false)
		return nil
	}
	proto := detectPreview(a.settings[settingPreview], a.getenv)
	if proto == previewOff {
		a.setNotice(desc+" · this terminal shows no images (settings: image preview)", false)
		return nil
	}
	fe, chat, cols, rows := a.files(), a.view.chat.ID, max(1, a.w), max(1, a.h-3)
	title := desc
	a.setNotice("decoding "+fileName(f)+"…", false)
	return func() tea.Msg {
		r, _, err := fe.OpenFile(chat, m.ID)
		if err != nil {
			return previewMsg{err: err}
		}
		defer r.Close()
		out, _, err := renderPreview(r, f.Type, proto, cols, rows, defaultPreviewLimits())
		return previewMsg{title: title, out: out, kitty: proto == previewKitty, err: err}
	}
}

// onPreview draws a decoded preview through tea.Exec: Bubble Tea lets go
// of the terminal while it shows, so its renderer never sees the image.
func (a *App) onPreview(msg previewMsg) tea.Cmd {
	if msg.err != nil {
		a.setNotice("no preview: "+previewErrText(msg.err), true)
		return nil
	}
	a.setNotice("", false)
	return tea.Exec(&previewExec{title: msg.title, image: msg.out, kitty: msg.kitty},
		func(err error) tea.Msg { return previewDoneMsg{err} })
}

// previewErrText says why an image shows no preview.
func previewErrText(err error) string {
	switch {
	case errors.Is(err, errPreviewSize):
		return "the image is too large to preview (s saves it)"
	case errors.Is(err, errPreviewType):
		return "its bytes are not the image its type says (s saves it)"
	}
	return userErr(err)
}

// saveCmd saves a ready file to the typed path (a directory: name in
// it). Unless force, a path that exists is not touched: the dialog asks
// first.
func saveCmd(fe fileEngine, chat, msg, name, typed string, force bool) tea.Cmd {
	return func() tea.Msg {
		home, _ := os.UserHomeDir()
		p, err := resolvePath(typed, home)
		if err != nil {
			return saveDoneMsg{doneMsg{err: err}}
		}
		// What is confirmed is the file the engine writes (in a
		// directory, NAME in it); the engine is given the path typed.
		target := client.SaveTarget(p, name)
		if _, err := os.Lstat(target); err == nil && !force {
			return saveCheckMsg{typed: typed, path: target}
		}
		ctx, cancel := context.WithTimeout(context.Background(), networkTimeout)
		defer cancel()
		out, n, err := fe.SaveFile(ctx, chat, msg, p, force)
		if err != nil {
			if _, serr := os.Lstat(target); serr == nil && !force {
				return saveCheckMsg{typed: typed, path: target} // it appeared meanwhile
			}
			return saveDoneMsg{doneMsg{err: err}}
		}
		return saveDoneMsg{doneMsg{note: "saved " + fileSize(n) + " to " + out}}
	}
}

// notSaveable says why file f cannot be saved or viewed yet.
func notSaveable(f *client.FileInfo) error {
	switch {
	case f.Outgoing && f.State == client.FilePreparing:
		return errors.New("this file is still being prepared")
	case f.Outgoing || f.State == client.FileFailed || f.State == client.FileExpired || f.State == client.FileRefused:
		return errors.New("this file cannot be saved: it is " + f.State)
	case f.State == client.FileDownloading:
		return errors.New("this file is still downloading")
	}
	return errors.New("this file is not here yet: d downloads it")
}
