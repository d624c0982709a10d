package tui

import "github.com/charmbracelet/bubbles/key"

// keyMap holds every key binding of the TUI; the help bar and the full
// help screen are drawn from it (bubbles/help), so what is shown is what
// works.
type keyMap struct {
	Send       key.Binding
	Newline    key.Binding
	Quit       key.Binding
	Lock       key.Binding
	Finder     key.Binding
	Search     key.Binding
	Help       key.Binding
	Settings   key.Binding
	Focus      key.Binding
	Up         key.Binding
	Down       key.Binding
	Open       key.Binding
	PageUp     key.Binding
	PageDown   key.Binding
	Jump       key.Binding
	Complete   key.Binding
	History    key.Binding
	Close      key.Binding
	NextMatch  key.Binding
	PanicChord key.Binding
}

func defaultKeys() keyMap {
	return keyMap{
		Send:       key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "send")),
		Newline:    key.NewBinding(key.WithKeys("alt+enter"), key.WithHelp("alt+enter", "newline")),
		Quit:       key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
		Lock:       key.NewBinding(key.WithKeys("ctrl+l"), key.WithHelp("ctrl+l", "lock")),
		Finder:     key.NewBinding(key.WithKeys("ctrl+k"), key.WithHelp("ctrl+k", "find chat")),
		Search:     key.NewBinding(key.WithKeys("ctrl+f"), key.WithHelp("ctrl+f", "search")),
		Help:       key.NewBinding(key.WithKeys("f1"), key.WithHelp("f1", "help")),
		Settings:   key.NewBinding(key.WithKeys("f2"), key.WithHelp("f2", "settings")),
		Focus:      key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "chats/compose")),
		Up:         key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:       key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Open:       key.NewBinding(key.WithKeys("enter", "l", "right"), key.WithHelp("enter", "open")),
		PageUp:     key.NewBinding(key.WithKeys("pgup", "ctrl+b"), key.WithHelp("pgup", "older")),
		PageDown:   key.NewBinding(key.WithKeys("pgdown", "ctrl+d"), key.WithHelp("pgdn", "newer")),
		Jump:       key.NewBinding(key.WithKeys("alt+1", "alt+2", "alt+3", "alt+4", "alt+5", "alt+6", "alt+7", "alt+8", "alt+9"), key.WithHelp("alt+1…9", "jump")),
		Complete:   key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "complete /command")),
		History:    key.NewBinding(key.WithKeys("ctrl+p", "ctrl+n"), key.WithHelp("ctrl+p/n", "history")),
		Close:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "close")),
		NextMatch:  key.NewBinding(key.WithKeys("enter", "ctrl+f"), key.WithHelp("enter", "older match")),
		PanicChord: key.NewBinding(key.WithKeys("ctrl+\\"), key.WithHelp("ctrl+\\", "panic erase"), key.WithDisabled()),
	}
}

// swapEnter makes Enter insert a newline and Alt-Enter send (a setting).
func (k *keyMap) swapEnter(swap bool) {
	if swap {
		k.Send = key.NewBinding(key.WithKeys("alt+enter"), key.WithHelp("alt+enter", "send"))
		k.Newline = key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "newline"))
		return
	}
	d := defaultKeys()
	k.Send, k.Newline = d.Send, d.Newline
}

// mainKeys is the help.KeyMap of the main screen with the compose box
// focused.
type mainKeys struct {
	k        keyMap
	listMode bool
}

func (m mainKeys) ShortHelp() []key.Binding {
	if m.listMode {
		return []key.Binding{m.k.Up, m.k.Down, m.k.Open, m.k.Focus, m.k.Finder, m.k.Lock, m.k.Help, m.k.Quit}
	}
	return []key.Binding{m.k.Send, m.k.Newline, m.k.Focus, m.k.Finder, m.k.Lock, m.k.Help, m.k.Quit}
}

func (m mainKeys) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{m.k.Send, m.k.Newline, m.k.History, m.k.Complete, m.k.PageUp, m.k.PageDown},
		{m.k.Focus, m.k.Up, m.k.Down, m.k.Open, m.k.Jump, m.k.Finder},
		{m.k.Search, m.k.Settings, m.k.Lock, m.k.PanicChord, m.k.Help, m.k.Quit},
	}
}
