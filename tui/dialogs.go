package tui

import (
	"crypto/subtle"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"veil/client"
	"veil/internal/qr"
)

// dialog is a box drawn over the main screen that takes the keys while it
// is open. Esc closes any dialog (the App handles it).
type dialog interface {
	Update(tea.Msg) (dialog, tea.Cmd)
	View() string
	help.KeyMap
	SetSize(w, h int)
}

// closeDialogMsg closes the open dialog.
type closeDialogMsg struct{}

func closeDialog() tea.Msg { return closeDialogMsg{} }

// textDialog shows text: help, an invite key and its QR code, a safety code.
type textDialog struct {
	st          styles
	keys        keyMap
	title, body string
	w, h        int
	// copy, when set, is written to the terminal's clipboard (OSC 52) on
	// "c": the user asked for it, and nothing else ever is.
	copy func() tea.Cmd
	top  int // first line shown, for text longer than the box
}

func (d *textDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *textDialog) ShortHelp() []key.Binding {
	if d.copy != nil {
		return []key.Binding{key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy key to clipboard")), d.keys.Close}
	}
	return []key.Binding{d.keys.Up, d.keys.Down, d.keys.Close}
}
func (d *textDialog) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }

func (d *textDialog) Update(msg tea.Msg) (dialog, tea.Cmd) {
	if km, ok := msg.(tea.KeyMsg); ok {
		switch {
		case km.Type == tea.KeyEnter || km.String() == "q":
			return d, closeDialog
		case km.String() == "c" && d.copy != nil:
			return d, d.copy()
		case key.Matches(km, d.keys.Up):
			d.top = max(0, d.top-1)
		case key.Matches(km, d.keys.Down):
			d.top++
		case key.Matches(km, d.keys.PageUp):
			d.top = max(0, d.top-(d.h-4))
		case key.Matches(km, d.keys.PageDown):
			d.top += d.h - 4
		}
	}
	return d, nil
}

func (d *textDialog) View() string {
	return scrollBox(d.st, d.title, d.body, d.w, d.h, &d.top)
}

// box draws a titled dialog box that fits in w×h, cutting what does not.
func box(st styles, title, body string, w, h int) string {
	top := 0
	return scrollBox(st, title, body, w, h, &top)
}

// scrollBox is box showing the body from line *top on (clamped), with a
// hint when more is hidden above or below.
func scrollBox(st styles, title, body string, w, h int, top *int) string {
	inner := max(10, w-4)
	lines := strings.Split(lipgloss.NewStyle().Width(inner).Render(body), "\n")
	room := max(1, h-5) // border, title and its blank line
	*top = min(max(0, *top), max(0, len(lines)-room))
	shown := lines[*top:min(len(lines), *top+room)]
	if *top > 0 {
		shown[0] = st.Faint.Render("↑ more (↑/pgup)")
	}
	if *top+room < len(lines) {
		shown[len(shown)-1] = st.Faint.Render("↓ more (↓/pgdn)")
	}
	return st.Dialog.Render(st.Title.Render(title) + "\n\n" + strings.Join(shown, "\n"))
}

// listWindow returns the lines of a list that fit in room lines, scrolled
// so that line cur shows, with a hint in place of the lines hidden above
// or below.
func listWindow(st styles, lines []string, cur, room int) []string {
	if len(lines) <= room {
		return lines
	}
	room = max(room, 3) // a hint, the current line, a hint
	cur = min(max(0, cur), len(lines)-1)
	for top := 0; ; top++ {
		n := room
		if top > 0 {
			n--
		}
		if top+n < len(lines) {
			n--
		}
		n = min(n, len(lines)-top)
		if cur < top+n || top+n >= len(lines) {
			out := make([]string, 0, room)
			if top > 0 {
				out = append(out, st.Faint.Render("↑ more"))
			}
			out = append(out, lines[top:top+n]...)
			if top+n < len(lines) {
				out = append(out, st.Faint.Render("↓ more"))
			}
			return out
		}
	}
}

// promptDialog asks for one line: a key to join with, or a confirmation
// word that must be typed exactly (panic erase, burn).
type promptDialog struct {
	st          styles
	keys        keyMap
	title, text string
	word        string // when set, the input must equal it
	in          textinput.Model
	submit      func(string) tea.Cmd
	err         string
	w, h        int
}

func newPrompt(st styles, keys keyMap, title, text, word string, submit func(string) tea.Cmd) *promptDialog {
	in := textinput.New()
	in.Prompt = "> "
	in.CharLimit = 2000
	in.Focus()
	return &promptDialog{st: st, keys: keys, title: title, text: text, word: word, in: in, submit: submit}
}

func (d *promptDialog) SetSize(w, h int) { d.w, d.h = w, h; d.in.Width = max(10, w-10) }
func (d *promptDialog) ShortHelp() []key.Binding {
	return []key.Binding{key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "ok")), d.keys.Close}
}
func (d *promptDialog) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }

func (d *promptDialog) Update(msg tea.Msg) (dialog, tea.Cmd) {
	if km, ok := msg.(tea.KeyMsg); ok && km.Type == tea.KeyEnter {
		v := strings.TrimSpace(d.in.Value())
		if d.word != "" && subtle.ConstantTimeCompare([]byte(v), []byte(d.word)) != 1 {
			d.err = fmt.Sprintf("type %q exactly, or esc to cancel", d.word)
			d.in.Reset()
			return d, nil
		}
		if v == "" {
			return d, nil
		}
		return d, tea.Batch(closeDialog, d.submit(v))
	}
	var cmd tea.Cmd
	d.in, cmd = d.in.Update(msg)
	return d, cmd
}

func (d *promptDialog) View() string {
	body := d.text + "\n\n" + d.in.View()
	if d.err != "" {
		body += "\n" + d.st.Error.Render(d.err)
	}
	return box(d.st, d.title, body, d.w, d.h)
}

// selectChatMsg opens a chat.
type selectChatMsg struct{ id string }

// finder is the fuzzy chat finder (Ctrl-K): the letters typed must appear
// in the chat's name in order.
type finder struct {
	st     styles
	keys   keyMap
	in     textinput.Model
	chats  []client.ChatInfo
	found  []client.ChatInfo
	cursor int
	w, h   int
}

func newFinder(st styles, keys keyMap, chats []client.ChatInfo) *finder {
	in := textinput.New()
	in.Prompt = "chat: "
	in.Focus()
	f := &finder{st: st, keys: keys, in: in, chats: chats}
	f.filter()
	return f
}

func (f *finder) SetSize(w, h int) { f.w, f.h = w, h; f.in.Width = max(10, w-12) }
func (f *finder) ShortHelp() []key.Binding {
	return []key.Binding{key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑/↓", "choose")), key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")), f.keys.Close}
}
func (f *finder) FullHelp() [][]key.Binding { return [][]key.Binding{f.ShortHelp()} }

func fuzzy(name, q string) bool {
	name, q = strings.ToLower(name), strings.ToLower(q)
	for _, r := range q {
		i := strings.IndexRune(name, r)
		if i < 0 {
			return false
		}
		name = name[i+len(string(r)):]
	}
	return true
}

func (f *finder) filter() {
	f.found = f.found[:0]
	for _, c := range f.chats {
		if fuzzy(chatTitle(c), f.in.Value()) {
			f.found = append(f.found, c)
		}
	}
	f.cursor = min(f.cursor, max(0, len(f.found)-1))
}

func (f *finder) Update(msg tea.Msg) (dialog, tea.Cmd) {
	if km, ok := msg.(tea.KeyMsg); ok {
		switch km.String() {
		case "enter":
			if len(f.found) == 0 {
				return f, nil
			}
			id := f.found[f.cursor].ID
			return f, tea.Batch(closeDialog, func() tea.Msg { return selectChatMsg{id} })
		case "up", "ctrl+p":
			f.cursor = max(0, f.cursor-1)
			return f, nil
		case "down", "ctrl+n":
			f.cursor = min(max(0, len(f.found)-1), f.cursor+1)
			return f, nil
		}
	}
	var cmd tea.Cmd
	f.in, cmd = f.in.Update(msg)
	f.filter()
	return f, cmd
}

func (f *finder) View() string {
	rows := []string{f.in.View()}
	for i, c := range f.found {
		if i >= max(1, f.h-8) {
			rows = append(rows, "…")
			break
		}
		line := "  " + truncate(chatTitle(c), max(4, f.w-10))
		if i == f.cursor {
			line = f.st.Selected.Render("> " + truncate(chatTitle(c), max(4, f.w-10)))
		}
		rows = append(rows, line)
	}
	if len(f.found) == 0 {
		rows = append(rows, f.st.Faint.Render("no chat matches"))
	}
	return box(f.st, "Find a chat", strings.Join(rows, "\n"), f.w, f.h)
}

// qrText draws an invite key as a QR code (qr.Render), without colours
// when the user asked for none. It returns "" when the code does not fit
// in w×h.
func qrText(st styles, text string, w, h int) string {
	m, err := qr.Encode(text)
	if err != nil {
		return ""
	}
	if cols, rows := qr.RenderSize(m); cols > w || rows > h {
		return ""
	}
	return strings.TrimRight(qr.Render(m, !st.noColor), "\n")
}
