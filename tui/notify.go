package tui

import "io"

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
