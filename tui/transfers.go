package tui

import (
	"image"

	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
)

// The open chat's transfers: progress rows fed by transfer events and by
// the loaded messages, and the sizes of its ready images.

// transferKey names a transfer in App.transfers.
func transferKey(chat, msg string) string { return chat + "\x00" + msg }

// onTransfer updates the progress rows from a transfer event; it reports
// whether the state changed (then the chat view is loaded again).
func (a *App) onTransfer(ev client.Event) bool {
	k := transferKey(ev.Chat, ev.Message)
	t, ok := a.transfers[k]
	if !activeState(ev.Status) {
		delete(a.transfers, k)
		a.layout()
		return true
	}
	if !ok {
		t = &transfer{chat: ev.Chat, msg: ev.Message, name: "file"}
		if m, found := a.findMessage(ev.Chat, ev.Message); found && m.File != nil {
			t.name, t.up, t.size = fileName(m.File), m.Outgoing, m.File.Size
		}
		a.transfers[k] = t
		a.layout()
	}
	changed := t.status != ev.Status
	t.status, t.done, t.total, t.bytes, t.rate = ev.Status, ev.Done, ev.Total, ev.Bytes, ev.Rate
	return changed
}

// findMessage finds a message of the open chat.
func (a *App) findMessage(chat, id string) (client.MessageInfo, bool) {
	if chat != a.view.chat.ID {
		return client.MessageInfo{}, false
	}
	for _, m := range a.view.msgs {
		if m.ID == id {
			return m, true
		}
	}
	return client.MessageInfo{}, false
}

// syncTransfers makes the progress rows of the open chat agree with its
// loaded messages: running ones get a row with their name, finished ones
// lose theirs. It returns the commands reading the size of new images.
func (a *App) syncTransfers() tea.Cmd {
	var cmds []tea.Cmd
	chat := a.view.chat.ID
	for _, m := range a.view.msgs {
		f := m.File
		if f == nil || m.Deleted {
			continue
		}
		k := transferKey(chat, m.ID)
		t, ok := a.transfers[k]
		switch {
		case activeState(f.State) && !ok:
			a.transfers[k] = &transfer{chat: chat, msg: m.ID, name: fileName(f), up: m.Outgoing, size: f.Size,
				status: f.State, done: f.Done, total: f.Total}
		case activeState(f.State):
			t.name, t.up, t.size = fileName(f), m.Outgoing, f.Size
		case ok:
			delete(a.transfers, k)
		}
		if f.State == client.FileReady && isPreviewType(f.Type) && len(cmds) < maxImageProbes {
			if _, known := a.view.images[m.ID]; !known {
				if a.view.images == nil {
					a.view.images = map[string]image.Point{}
				}
				a.view.images[m.ID] = image.Point{} // asked once
				cmds = append(cmds, imageSizeCmd(a.files(), chat, m.ID, f.Type))
			}
		}
	}
	a.layout()
	return tea.Batch(cmds...)
}

// imageSizeCmd reads the size an image file's header declares.
func imageSizeCmd(fe fileEngine, chat, msg, typ string) tea.Cmd {
	if fe == nil {
		return nil
	}
	return func() tea.Msg {
		r, _, err := fe.OpenFile(chat, msg)
		if err != nil {
			return imageSizeMsg{chat: chat, msg: msg}
		}
		defer r.Close()
		c, err := imageConfig(r, typ, defaultPreviewLimits())
		if err != nil {
			return imageSizeMsg{chat: chat, msg: msg}
		}
		return imageSizeMsg{chat: chat, msg: msg, size: image.Pt(c.Width, c.Height)}
	}
}

func (a *App) onImageSize(msg imageSizeMsg) {
	if msg.chat != a.view.chat.ID || a.view.images == nil {
		return
	}
	a.view.images[msg.msg] = msg.size
	a.view.render(false)
}

// progressRows are the progress rows of the open chat's transfers.
func (a *App) progressRows() []string {
	var rows []string
	for _, m := range a.view.msgs {
		t, ok := a.transfers[transferKey(a.view.chat.ID, m.ID)]
		if !ok || a.view.chat.ID == "" {
			continue
		}
		if len(rows) == maxProgressRows {
			rows[len(rows)-1] = a.st.Faint.Render("… more transfers")
			break
		}
		rows = append(rows, a.st.Faint.Render(progressRow(*t, a.w)))
	}
	return rows
}
