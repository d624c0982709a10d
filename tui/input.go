package tui

import (
	tea "github.com/charmbracelet/bubbletea"
)

// Text is text: what the terminal delivers as characters is never taken
// for a key press. Bubble Tea v1 reports the printable runes of one read
// as one KeyRunes message (a fast typist, tmux, a slow SSH link or a paste
// without bracketed paste all deliver several at once) and a bracketed
// paste as one KeyRunes message with Paste set. Key bindings compare
// msg.String(), so without this the word "down" typed quickly would move
// the cursor, "enter" would send and "ctrl+l" would lock.
//
// App.Update classifies every key once (asText) and routes text straight
// to the focused text field (typeText); key bindings see key presses only.

// asText returns msg marked as text, with Bubble Tea's Paste flag, when it
// is not a key press: a paste, several runes delivered together, or, while
// typing (a text field has the focus), a single rune without Alt. Every
// other key (enter, esc, tab, arrows, ctrl+…, alt+…, function keys) is
// returned as it is. A message marked so never matches a binding
// (key.Matches compares String(), which brackets pasted runes), and text
// fields insert its runes as they insert any paste.
func asText(msg tea.KeyMsg, typing bool) tea.KeyMsg {
	if msg.Type != tea.KeyRunes {
		return msg
	}
	if msg.Paste || len(msg.Runes) != 1 || typing && !msg.Alt {
		msg.Paste, msg.Alt = true, false
	}
	return msg
}

// isText reports whether msg was classified as text by asText.
func isText(msg tea.KeyMsg) bool { return msg.Type == tea.KeyRunes && msg.Paste }

// typer is a dialog that can say whether a text field of it has the
// focus, so that single characters typed there are text.
type typer interface{ typing() bool }

// typing reports whether a text field has the focus: the unlock and
// first-run field, the search line, the compose box (unless a message is
// selected), or a dialog's field.
func (a *App) typing() bool {
	switch {
	case a.screen == scrGate:
		return true
	case a.screen != scrMain:
		return false
	case a.dlg != nil:
		t, ok := a.dlg.(typer)
		return ok && t.typing()
	case a.searching:
		return true
	}
	// While a message is selected (selection.go), a single character is a
	// key for it (r replies); any other leaves the selection and types.
	return !a.listFocus && !a.view.selecting
}

// typeText hands text to the focused text field: the unlock screen's, the
// open dialog (whose field, if it has one, takes it), the search line or
// the compose box. The chat list and a dialog waiting for a key to bind
// have no text field: there text is dropped.
func (a *App) typeText(msg tea.KeyMsg) tea.Cmd {
	switch {
	case a.screen == scrGate:
		var cmd tea.Cmd
		a.gate, cmd = a.gate.Update(msg)
		return cmd
	case a.screen != scrMain, a.catchingKeys():
		return nil
	case a.dlg != nil:
		return a.forward(msg)
	case a.searching:
		var cmd tea.Cmd
		a.search, cmd = a.search.Update(msg)
		a.view.search(a.search.Value(), false)
		return cmd
	case a.listFocus:
		return nil
	}
	a.quitArmed = false
	// Text typed or pasted while a message is selected leaves the
	// selection, as a single typed character does (selection.go): the
	// next "r" is text too.
	a.view.selecting = false
	return a.forward(msg)
}

// The dialogs whose text field has the focus: single characters typed
// there are text, whatever a binding of the list screens says.
func (d *promptDialog) typing() bool { return true }
func (d *finder) typing() bool       { return true }
func (d *proxyDialog) typing() bool  { return true }
func (d *relaysDialog) typing() bool { return d.adding }
