package tui

import (
	"encoding/base64"
	"io"

	tea "github.com/charmbracelet/bubbletea"
)

// notification returns the escape that announces a new message: the bell,
// or a desktop notification (OSC 9, OSC 777) whose text is fixed. It never
// carries a name or a message: whoever sees the screen or the
// notification history learns only that something arrived.
func notification(mode string) string {
	switch mode {
	case "off":
		return ""
	case "osc9":
		return "\x1b]9;veil: new message\x07"
	case "osc777":
		return "\x1b]777;notify;veil;new message\x07"
	}
	return "\a"
}

// notifyCmd writes a notification; errors are ignored (nothing to do).
func notifyCmd(w io.Writer, mode string) func() {
	return func() {
		if s := notification(mode); w != nil && s != "" {
			_, _ = io.WriteString(w, s)
		}
	}
}

// clipboardCmd puts text on the terminal's clipboard with OSC 52 (most
// terminals; tmux with set-clipboard on). Only the invite dialog uses it,
// when the user presses c.
func clipboardCmd(w io.Writer, text string) tea.Cmd {
	return func() tea.Msg {
		if w == nil {
			return doneMsg{note: "no terminal to copy to"}
		}
		_, err := io.WriteString(w, "\x1b]52;c;"+base64.StdEncoding.EncodeToString([]byte(text))+"\a")
		if err != nil {
			return doneMsg{err: err}
		}
		return doneMsg{note: "invite key copied to the clipboard (if the terminal allows OSC 52)"}
	}
}
