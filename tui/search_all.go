package tui

import (
	"context"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"veil/client"
)

// Search across every chat (spec/client.md §9.1): Ctrl-F in the chat list
// (or with no chat open) opens this dialog; Ctrl-F in a chat still
// searches that chat. Each keystroke runs one search (the vault's index
// answers 100,000 messages in milliseconds); a result opens its chat at
// the message.

// searchAllLimit is how many results the dialog asks for.
const searchAllLimit = 200

// searchResultsMsg is the answer to the search numbered seq.
type searchResultsMsg struct {
	seq  int
	hits []client.SearchHit
	err  error
}

// openAtMsg opens a chat scrolled to one message.
type openAtMsg struct{ chat, msg string }

type searchAllDialog struct {
	st     styles
	keys   keyMap
	in     textinput.Model
	run    func(q string, seq int) tea.Cmd
	seq    int
	hits   []client.SearchHit
	errMsg string
	cursor int
	w, h   int
}

func newSearchAll(st styles, keys keyMap, eng *client.Engine) *searchAllDialog {
	in := textinput.New()
	in.Prompt = "search all chats: "
	in.CharLimit = client.MaxQuery
	in.Focus()
	return &searchAllDialog{st: st, keys: keys, in: in, run: func(q string, seq int) tea.Cmd {
		return func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
			defer cancel()
			hits, err := eng.Search(ctx, q, "", searchAllLimit)
			return searchResultsMsg{seq: seq, hits: hits, err: err}
		}
	}}
}

func (d *searchAllDialog) SetSize(w, h int) { d.w, d.h = w, h; d.in.Width = max(10, w-24) }
func (d *searchAllDialog) ShortHelp() []key.Binding {
	return []key.Binding{key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑/↓", "choose")),
		key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open at message")), d.keys.Close}
}
func (d *searchAllDialog) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }

// close forgets the query and the snippets.
func (d *searchAllDialog) close() { d.in.Reset(); d.hits = nil }

func (d *searchAllDialog) Update(msg tea.Msg) (dialog, tea.Cmd) {
	switch msg := msg.(type) {
	case searchResultsMsg:
		if msg.seq != d.seq {
			return d, nil // an answer to an older query
		}
		d.hits, d.errMsg, d.cursor = msg.hits, "", 0
		if msg.err != nil {
			d.hits, d.errMsg = nil, userErr(msg.err)
		}
		return d, nil
	case tea.KeyMsg:
		switch msg.String() {
		case "enter":
			if d.cursor >= len(d.hits) {
				return d, nil
			}
			h := d.hits[d.cursor]
			return d, tea.Batch(closeDialog, func() tea.Msg { return openAtMsg{chat: h.Chat, msg: h.Message} })
		case "up", "ctrl+p":
			d.cursor = max(0, d.cursor-1)
			return d, nil
		case "down", "ctrl+n":
			d.cursor = min(max(0, len(d.hits)-1), d.cursor+1)
			return d, nil
		}
	}
	before := d.in.Value()
	var cmd tea.Cmd
	d.in, cmd = d.in.Update(msg)
	if q := d.in.Value(); q != before {
		d.seq++
		if !client.HasVisible(q) {
			d.hits, d.errMsg = nil, ""
			return d, cmd
		}
		return d, tea.Batch(cmd, d.run(q, d.seq))
	}
	return d, cmd
}

func (d *searchAllDialog) View() string {
	inner := max(10, d.w-4)
	rows := []string{d.in.View(), ""}
	room := max(1, d.h-8)
	var lines []string
	for _, h := range d.hits {
		lines = append(lines, d.resultLine(h, inner))
	}
	switch {
	case d.errMsg != "":
		rows = append(rows, d.st.Error.Render(d.errMsg))
	case strings.TrimSpace(d.in.Value()) == "":
		rows = append(rows, d.st.Faint.Render("Type to search every chat. Ctrl-F in a chat searches only that chat."))
	case len(d.hits) == 0:
		rows = append(rows, d.st.Faint.Render("no message matches"))
	default:
		for i, l := range lines {
			if i == d.cursor {
				lines[i] = d.st.Selected.Render(l)
			}
		}
		rows = append(rows, listWindow(d.st, lines, d.cursor, room)...)
	}
	return box(d.st, "Search", strings.Join(rows, "\n"), d.w, d.h)
}

// resultLine is "chat · sender · time  snippet", cut to w cells; every
// string in it is sanitised again here.
func (d *searchAllDialog) resultLine(h client.SearchHit, w int) string {
	chat := client.SanitizeLine(h.ChatName)
	if chat == "" {
		chat = shortID(h.Chat)
	}
	from := client.SanitizeLine(h.From)
	if h.Outgoing {
		from = "you"
	}
	head := truncate(chat, 12) + " · " + truncate(from, 10) + " · " + h.Time.Local().Format("Jan 2 15:04") + "  "
	// The snippet again, cut around the match to the room left.
	room := max(8, w-lipgloss.Width(head))
	return lipgloss.NewStyle().MaxWidth(w).Render(head + client.Snippet(h.Snippet, d.in.Value(), room))
}

// openSearchAll opens the search across chats.
func (a *App) openSearchAll() tea.Cmd {
	d := newSearchAll(a.st, a.keys, a.sess.Engine)
	a.openDialog(d)
	return textinput.Blink
}

// openAt opens a chat and, once its messages are loaded, scrolls to msg.
func (a *App) openAt(msg openAtMsg) tea.Cmd {
	cmd := a.openChat(msg.chat)
	a.view.jumpTo = msg.msg
	return cmd
}

// jump scrolls to message id and marks it; it reports whether id is among
// the loaded messages.
func (v *chatView) jump(id string) bool {
	for i, m := range v.msgs {
		if m.ID == id && i < len(v.lines) {
			v.vp.SetYOffset(max(0, v.lines[i]-v.vp.Height/2))
			return true
		}
	}
	return false
}
