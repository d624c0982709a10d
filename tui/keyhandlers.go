package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// onKeyMsg routes a key: text to the focused text field (input.go), then
// quit, then the unlock screen or the main screen.
func (a *App) onKeyMsg(msg tea.KeyMsg) tea.Cmd {
	a.lastInput = a.now()
	if a.holdRead && a.screen == scrMain {
		// The first key after the last chat reopened by itself: the user
		// is here, so its messages count as read now.
		a.holdRead = false
		return tea.Batch(a.reloadView(true), a.onKeyMsg(msg))
	}
	if msg = asText(msg, a.typing()); isText(msg) {
		return a.typeText(msg)
	}
	if key.Matches(msg, a.keys.Quit) && !a.catchingKeys() {
		return a.quit()
	}
	if a.screen == scrGate {
		var cmd tea.Cmd
		a.gate, cmd = a.gate.Update(msg)
		return cmd
	}
	if a.screen != scrMain {
		return nil
	}
	return a.onKey(msg)
}

// onKey handles a key on the main screen through the key tables of
// keys.go, in order: a dialog that wants every key, the keys that always
// work, the open dialog, the search line, the screen's keys, then the chat
// list or the compose box, whichever has the focus.
func (a *App) onKey(msg tea.KeyMsg) tea.Cmd {
	if a.catchingKeys() {
		return a.forward(msg)
	}
	if cmd, ok := a.dispatch(alwaysKeyActions(&a.keys), msg); ok {
		return cmd
	}
	if a.dlg != nil {
		if cmd, ok := a.dispatch(dialogKeyActions(&a.keys), msg); ok {
			return cmd
		}
		return a.forward(msg)
	}
	if a.searching {
		if cmd, ok := a.dispatch(searchKeyActions(&a.keys), msg); ok {
			return cmd
		}
		var cmd tea.Cmd
		a.search, cmd = a.search.Update(msg)
		a.view.search(a.search.Value(), false)
		return cmd
	}
	if cmd, ok := a.dispatch(screenKeyActions(&a.keys), msg); ok {
		return cmd
	}
	a.quitArmed = false
	if a.listFocus {
		cmd, _ := a.dispatch(listKeyActions(&a.keys), msg)
		return cmd
	}
	if cmd, ok := a.selectKey(msg); ok { // selection.go
		return cmd
	}
	if cmd, ok := a.dispatch(composeKeyActions(&a.keys), msg); ok {
		return cmd
	}
	return a.forward(msg)
}

// dispatch runs the action of the first entry of table whose binding msg
// matches; ok is false when none does.
func (a *App) dispatch(table []keyAction, msg tea.KeyMsg) (cmd tea.Cmd, ok bool) {
	for _, e := range table {
		if key.Matches(msg, e.binding) {
			return e.run(a, msg), true
		}
	}
	return nil, false
}

// keyPanic erases the profile; its binding matches only when the panic
// key is turned on in the settings.
func (a *App) keyPanic(tea.KeyMsg) tea.Cmd { return a.panicErase() }

func (a *App) keyLock(tea.KeyMsg) tea.Cmd { return a.lock() }

func (a *App) keyCloseDialog(tea.KeyMsg) tea.Cmd {
	a.closeDialog()
	return nil
}

func (a *App) keyCloseSearch(tea.KeyMsg) tea.Cmd {
	a.searching = false
	a.search.Blur()
	a.view.search("", false)
	return nil
}

func (a *App) keyNextMatch(tea.KeyMsg) tea.Cmd {
	a.view.search(a.search.Value(), true)
	return nil
}

func (a *App) keyHelp(tea.KeyMsg) tea.Cmd { return a.cmdHelp("") }

func (a *App) keySettings(tea.KeyMsg) tea.Cmd { return a.cmdSettings("") }

func (a *App) keyFinder(tea.KeyMsg) tea.Cmd {
	a.openDialog(newFinder(a.st, a.keys, a.list.chats))
	return nil
}

func (a *App) keySearch(tea.KeyMsg) tea.Cmd {
	if a.listFocus || a.view.chat.ID == "" {
		return a.openSearchAll() // in the list: every chat
	}
	a.searching = true
	a.search.Reset()
	return a.search.Focus()
}

func (a *App) keyNextChat(tea.KeyMsg) tea.Cmd { return a.moveChat(1) }

func (a *App) keyPrevChat(tea.KeyMsg) tea.Cmd { return a.moveChat(-1) }

// keyJump opens the chat at the position of the digit pressed.
func (a *App) keyJump(msg tea.KeyMsg) tea.Cmd {
	n := int(msg.String()[len(msg.String())-1] - '1')
	if n < len(a.list.chats) {
		return a.openChat(a.list.chats[n].ID)
	}
	return nil
}

// keyPage scrolls the chat view.
func (a *App) keyPage(msg tea.KeyMsg) tea.Cmd {
	var cmd tea.Cmd
	a.view, cmd = a.view.Update(msg)
	return cmd
}

func (a *App) keyLeaveList(tea.KeyMsg) tea.Cmd {
	a.listFocus = false
	return nil
}

func (a *App) keyListUp(tea.KeyMsg) tea.Cmd {
	a.list.move(-1)
	return nil
}

func (a *App) keyListDown(tea.KeyMsg) tea.Cmd {
	a.list.move(1)
	return nil
}

func (a *App) keyListOpen(tea.KeyMsg) tea.Cmd {
	if id := a.list.selectedID(); id != "" {
		return a.openChat(id)
	}
	return nil
}

// keyFocus completes a /command or the path of /file in the compose box,
// or else moves the focus to the chat list.
func (a *App) keyFocus(tea.KeyMsg) tea.Cmd {
	if v := a.compose.value(); strings.HasPrefix(v, filePrefix) && !strings.Contains(v, "\n") {
		return completePathCmd(strings.TrimPrefix(v, filePrefix))
	}
	if strings.HasPrefix(a.compose.value(), "/") {
		if c := a.compose.complete(); len(c) > 1 {
			a.setNotice(strings.Join(c, " "), false)
		}
		return nil
	}
	a.listFocus = true
	return nil
}

// keySend sends the compose box; a pasted Enter is text.
func (a *App) keySend(msg tea.KeyMsg) tea.Cmd {
	if msg.Paste {
		return a.forward(msg)
	}
	return a.submit()
}
