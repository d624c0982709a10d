package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
)

// saveDialog asks where to save a ready file: ./NAME by default, tab
// completes the path, and a path that exists is replaced only after
// enter is pressed on it a second time.
type saveDialog struct {
	st      styles
	keys    keyMap
	in      textinput.Model
	save    func(typed string, force bool) tea.Cmd
	confirm string // the typed path that exists, after the first enter
	note    string
	busy    bool
	w, h    int
}

func newSaveDialog(st styles, keys keyMap, name string, save func(string, bool) tea.Cmd) *saveDialog {
	in := textinput.New()
	in.Prompt = "> "
	in.CharLimit = 4096
	in.SetValue("./" + name)
	in.Focus()
	return &saveDialog{st: st, keys: keys, in: in, save: save}
}

func (d *saveDialog) SetSize(w, h int) { d.w, d.h = w, h; d.in.Width = max(10, w-10) }
func (d *saveDialog) ShortHelp() []key.Binding {
	return []key.Binding{key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "save")),
		key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "complete path")), d.keys.Close}
}
func (d *saveDialog) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }

// completed applies a path completion if the path is still as typed.
func (d *saveDialog) completed(m pathDoneMsg) {
	if d.in.Value() != m.typed {
		return
	}
	d.in.SetValue(m.completed)
	d.in.CursorEnd()
	d.note = ""
	if len(m.names) > 1 {
		d.note = candidateList(m.names)
	}
}

func (d *saveDialog) Update(msg tea.Msg) (dialog, tea.Cmd) {
	switch msg := msg.(type) {
	case saveCheckMsg:
		d.busy = false
		if msg.typed == d.in.Value() {
			d.confirm = msg.typed
			d.note = client.SanitizeLine(msg.path) + " exists: enter replaces it, esc keeps it"
		}
		return d, nil
	case tea.KeyMsg:
		if d.busy {
			return d, nil
		}
		switch msg.Type {
		case tea.KeyEnter:
			v := strings.TrimSpace(d.in.Value())
			if v == "" {
				return d, nil
			}
			d.busy = true
			return d, d.save(v, v == d.confirm)
		case tea.KeyTab:
			return d, completePathCmd(d.in.Value())
		}
	}
	var cmd tea.Cmd
	d.in, cmd = d.in.Update(msg)
	if d.in.Value() != d.confirm {
		d.confirm = ""
	}
	return d, cmd
}

func (d *saveDialog) View() string {
	body := "Save to (a directory saves the file under its name):\n\n" + d.in.View()
	if d.note != "" {
		body += "\n" + d.st.Notice.Render(d.note)
	}
	return box(d.st, "Save file", body, d.w, d.h)
}
