package tui

import (
	"context"

	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
)

// settingLastChat holds the ID of the chat open last, so that an unlock
// opens it again. It lives in the profile's encrypted settings like every
// setting of the TUI: nothing of it is written in the clear.
const settingLastChat = "tui.last-chat"

// lastChat is the reopening of the last open chat after an unlock.
type lastChat struct {
	want   string // the chat to reopen, once the chat list is loaded
	loaded bool   // the chat list has been loaded since the unlock
	saved  string // the ID stored in the settings, to skip writing it again
}

// lastChatMsg carries the stored last open chat.
type lastChatMsg struct{ id string }

func loadLastChat(eng *client.Engine) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
		defer cancel()
		id, err := eng.Setting(ctx, settingLastChat)
		if err != nil {
			return doneMsg{err: err}
		}
		return lastChatMsg{id}
	}
}

// rememberChat stores id as the last open chat, unless it is already.
func (a *App) rememberChat(id string) tea.Cmd {
	if a.sess == nil || id == a.last.saved {
		return nil
	}
	a.last.saved = id
	eng := a.sess.Engine
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
		defer cancel()
		if err := eng.SetSetting(ctx, settingLastChat, id); err != nil {
			return doneMsg{err: err}
		}
		return nil
	}
}

func (a *App) onLastChat(msg lastChatMsg) tea.Cmd {
	a.last.want, a.last.saved = msg.id, msg.id
	return a.reopenLastChat()
}

// reopenLastChat opens the chat that was open last, once the chat list is
// loaded, if it still exists and no chat was opened meanwhile.
func (a *App) reopenLastChat() tea.Cmd {
	id := a.last.want
	if id == "" || !a.last.loaded {
		return nil
	}
	a.last.want = ""
	if a.view.chat.ID != "" {
		return nil
	}
	for _, c := range a.list.chats {
		if c.ID == id {
			// Opened for the user, not by them: nothing is marked read
			// (no timer starts, no read receipt goes out) until they
			// press a key.
			a.holdRead = true
			return a.openChat(id)
		}
	}
	return nil
}
