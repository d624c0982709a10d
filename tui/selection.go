package tui

import (
	"context"
	"errors"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
)

// Selecting a message of the open chat, to reply to it, react to it or
// see when it arrived (spec/client.md §5.8, §5.9, §6). Shift+↑ in the
// compose box selects the newest message; while selecting, ↑/↓ (or k/j)
// move, r starts a reply, esc leaves; any other key goes to the compose
// box and keeps the selection for /reply and /react.

// selKeys are the bindings of message selection.
type selKeys struct {
	Start, Up, Down, Reply, Leave key.Binding
}

func defaultSelKeys() selKeys {
	return selKeys{
		Start: key.NewBinding(key.WithKeys("shift+up"), key.WithHelp("shift+↑", "select a message")),
		Up:    key.NewBinding(key.WithKeys("up", "k", "shift+up"), key.WithHelp("↑/k", "older")),
		Down:  key.NewBinding(key.WithKeys("down", "j", "shift+down"), key.WithHelp("↓/j", "newer")),
		Reply: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "reply")),
		Leave: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "leave")),
	}
}

// selectKey handles a key of message selection; ok is false when the key
// is not one (it then goes on to the compose box).
func (a *App) selectKey(msg tea.KeyMsg) (tea.Cmd, bool) {
	k := defaultSelKeys()
	v := &a.view
	if v.chat.ID == "" || a.listFocus {
		return nil, false
	}
	if !v.selecting {
		switch {
		case key.Matches(msg, k.Start) && len(v.msgs) > 0:
			v.selecting = true
			if v.selID == "" {
				v.selID = v.msgs[len(v.msgs)-1].ID
			}
			v.render(false)
			v.scrollToSelected()
			a.selectionNotice()
			return nil, true
		case key.Matches(msg, k.Leave) && (v.selID != "" || v.reply != ""):
			v.selID, v.reply = "", ""
			v.render(false)
			a.setNotice("", false)
			return nil, true
		}
		return nil, false
	}
	if cmd, ok := a.fileKey(msg); ok { // files.go
		return cmd, true
	}
	switch {
	case key.Matches(msg, k.Up):
		v.moveSelection(-1)
		a.selectionNotice()
	case key.Matches(msg, k.Down):
		if !v.moveSelection(1) {
			v.selecting, v.selID = false, ""
			v.render(false)
			a.setNotice("", false)
		} else {
			a.selectionNotice()
		}
	case key.Matches(msg, k.Reply):
		return a.startReply(), true
	case key.Matches(msg, k.Leave):
		v.selecting, v.selID = false, ""
		v.render(false)
		a.setNotice("", false)
	default:
		v.selecting = false // the key types; the selection stays for /reply and /react
		return nil, false
	}
	return nil, true
}

// selectionNotice says what the keys do on the selected message.
func (a *App) selectionNotice() {
	if m, ok := a.view.selected(); ok && m.File != nil && !m.Deleted {
		a.setNotice(fileKeysHint, false)
		return
	}
	a.setNotice("↑/↓ select · r reply · /react EMOJI · esc leave", false)
}

// moveSelection moves the selection by d messages; it reports false when
// that leaves the chat's newest message.
func (v *chatView) moveSelection(d int) bool {
	i := v.selectedIndex()
	if i < 0 {
		return false
	}
	j := i + d
	if j >= len(v.msgs) {
		return false
	}
	v.selID = v.msgs[max(0, j)].ID
	v.render(false)
	v.scrollToSelected()
	return true
}

func (v *chatView) selectedIndex() int {
	for i, m := range v.msgs {
		if m.ID == v.selID {
			return i
		}
	}
	return -1
}

// selected returns the selected message.
func (v *chatView) selected() (client.MessageInfo, bool) {
	if i := v.selectedIndex(); i >= 0 {
		return v.msgs[i], true
	}
	return client.MessageInfo{}, false
}

func (v *chatView) scrollToSelected() {
	i := v.selectedIndex()
	if i < 0 || i >= len(v.lines) {
		return
	}
	l := v.lines[i]
	if l < v.vp.YOffset || l >= v.vp.YOffset+v.vp.Height-2 {
		v.vp.SetYOffset(max(0, l-v.vp.Height/2))
	}
}

// startReply makes the next message sent quote the selected one.
func (a *App) startReply() tea.Cmd {
	m, ok := a.view.selected()
	if !ok || m.Kind != "" || m.Deleted {
		return a.fail(errors.New("select a message to reply to (shift+↑)"))
	}
	a.view.selecting, a.view.reply = false, m.ID
	a.setNotice("replying to: "+truncate(client.SanitizeLine(firstLineOf(m.Text)), 40)+" · esc cancels", false)
	return nil
}

func firstLineOf(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

// cmdReply sends TEXT as a reply to the selected message.
func (a *App) cmdReply(arg string) tea.Cmd {
	m, ok := a.view.selected()
	if !ok || arg == "" {
		return a.fail(errors.New("/reply TEXT answers the selected message (shift+↑ selects one)"))
	}
	eng, id := a.eng(), a.view.chat.ID
	a.view.selID, a.view.reply = "", ""
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
		defer cancel()
		if _, err := eng.Send(ctx, id, arg, client.SendOptions{Reply: m.ID}); err != nil {
			return doneMsg{err: err, unsent: "/reply " + arg, chat: id}
		}
		return doneMsg{reload: true}
	}
}

// cmdReact reacts to the selected message; no argument takes ours back.
func (a *App) cmdReact(arg string) tea.Cmd {
	m, ok := a.view.selected()
	if !ok {
		return a.fail(errors.New("/react EMOJI reacts to the selected message (shift+↑ selects one)"))
	}
	eng, id := a.eng(), a.view.chat.ID
	note := "reacted " + arg
	if arg == "" {
		note = "reaction taken back"
	}
	return action(note, true, localTimeout, func(ctx context.Context) error { return eng.React(ctx, id, m.ID, arg) })
}

// replyOptions are the send options of the compose box: a reply to the
// message chosen with r, if any, which it then forgets.
func (a *App) replyOptions() client.SendOptions {
	opt := client.SendOptions{Reply: a.view.reply}
	if a.view.reply != "" {
		a.view.reply, a.view.selID = "", ""
		a.setNotice("", false)
	}
	return opt
}
