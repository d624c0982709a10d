package tui

import (
	"context"
	"errors"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"veil/client"
)

// Open invites (spec/client.md §4.6): the key dialog, and showing or
// cancelling the open chat's invite.

// fullScreenDialog is a dialog drawn over the whole body, from the first
// column, without a border: what it shows can be selected with the mouse
// without picking up anything else.
type fullScreenDialog interface {
	FullView(w, h int) string
}

// keyDialog shows an invite key on lines of its own, with no border or
// indentation around it (a key longer than the screen is broken into
// lines; pasting it back ignores the breaks), its QR code when it fits,
// and copies it (OSC 52) on "c".
type keyDialog struct {
	st    styles
	keys  keyMap
	title string
	intro string
	key   string
	copy  func() tea.Cmd
	top   int
}

func (d *keyDialog) SetSize(int, int) {}
func (d *keyDialog) ShortHelp() []key.Binding {
	return []key.Binding{key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy key to clipboard")),
		d.keys.Up, d.keys.Down, d.keys.Close}
}
func (d *keyDialog) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }

func (d *keyDialog) Update(msg tea.Msg) (dialog, tea.Cmd) {
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
		}
	}
	return d, nil
}

// close forgets the key.
func (d *keyDialog) close() { d.key, d.copy = "", nil }

// View is used only where the App cannot give the whole width.
func (d *keyDialog) View() string { return d.FullView(76, 20) }

// FullView draws the dialog w cells wide and at most h lines high.
func (d *keyDialog) FullView(w, h int) string {
	w = max(w, 10)
	var lines []string
	lines = append(lines, d.st.Title.Render(d.title), "")
	lines = append(lines, strings.Split(lipgloss.NewStyle().Width(w).Render(d.intro), "\n")...)
	lines = append(lines, "")
	for k := d.key; k != ""; {
		n := min(len(k), w) // a key is ASCII: one byte, one cell
		lines = append(lines, k[:n])
		k = k[n:]
	}
	lines = append(lines, "")
	if qr := qrText(d.st, d.key, w, h-len(lines)-1); qr != "" {
		lines = append(lines, strings.Split(qr, "\n")...)
	}
	lines = append(lines, d.st.Faint.Render("c: copy (OSC 52) · or select the lines above with the mouse · veil invite --out FILE"))
	d.top = min(max(0, d.top), max(0, len(lines)-h))
	lines = lines[d.top:min(len(lines), d.top+h)]
	return lipgloss.NewStyle().Height(h).MaxHeight(h).Render(strings.Join(lines, "\n"))
}

// newKeyDialog shows key, copied to the terminal w on "c".
func (a *App) newKeyDialog(title, intro, k string) *keyDialog {
	w := a.cfg.Notify
	return &keyDialog{st: a.st, keys: a.keys, title: title, intro: intro, key: k,
		copy: func() tea.Cmd { return clipboardCmd(w, k) }}
}

const inviteIntro = "Give this key to exactly one person, over a channel you trust. It works once; if anyone else uses it, you will be warned."

// inviteKeyMsg carries an open invite's key, shown again.
type inviteKeyMsg struct {
	chat, key string
	err       error
}

// cmdInviteAction runs "/invite show" and "/invite cancel" on the open
// chat's invite: a 1:1 invite, or a group's open invite (ref, as veil
// invites lists it, names one when the group has several).
func (a *App) cmdInviteAction(what, ref string) tea.Cmd {
	if a.view.chat.ID == "" || !a.view.chat.Pending && !a.view.group {
		return a.fail(errors.New("/invite " + what + " works in an open invite's chat (shown as \"invite\" in the list) or a group you administer"))
	}
	eng, id := a.eng(), a.view.chat.ID
	if ref != "" && a.view.group {
		id = ref
	}
	if what == "show" {
		return func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
			defer cancel()
			k, err := eng.InviteKey(ctx, id)
			return inviteKeyMsg{chat: id, key: k, err: err}
		}
	}
	a.openDialog(newPrompt(a.st, a.keys, "Cancel this invite",
		"The key stops working and this invite is erased.\nType cancel to confirm.", "cancel",
		func(string) tea.Cmd {
			return func() tea.Msg {
				ctx, cancel := context.WithTimeout(context.Background(), networkTimeout)
				defer cancel()
				res, err := eng.CancelInvite(ctx, id)
				note := "invite cancelled: its key no longer works"
				switch {
				case err == nil && res.BlobLeft:
					note = "invite erased here, but the relay was unreachable: the key works until its deadline"
				case err == nil && res.Taken:
					note = "invite erased, but someone had already used its key (the person it was for, or a copier): make a new one"
				}
				return doneMsg{err: err, note: note, reload: true}
			}
		}))
	return nil
}

func (a *App) onInviteKey(msg inviteKeyMsg) tea.Cmd {
	if msg.err != nil {
		a.setNotice(userErr(msg.err), true)
		return nil
	}
	a.openDialog(a.newKeyDialog("Invite key", inviteIntro, msg.key))
	return nil
}

// inviteListHint is the chat view's words for an open invite.
func inviteListHint(c client.ChatInfo) string {
	if !c.Pending {
		return ""
	}
	return "/invite show: the key again · /invite cancel: withdraw it"
}
