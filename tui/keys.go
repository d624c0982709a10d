package tui

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

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
	NextChat   key.Binding
	PrevChat   key.Binding
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
		NextChat:   key.NewBinding(key.WithKeys("alt+down"), key.WithHelp("alt+down", "next chat")),
		PrevChat:   key.NewBinding(key.WithKeys("alt+up"), key.WithHelp("alt+up", "previous chat")),
	}
}

// keyAction is one row of a key table: a binding of the keyMap and what
// pressing it does on the main screen (keyhandlers.go).
type keyAction struct {
	binding key.Binding
	run     func(*App, tea.KeyMsg) tea.Cmd
}

// The key tables of the main screen, built from the key map in use when a
// key arrives (so a remapped or disabled binding takes effect at once) and
// tried in the order App.onKey gives; the first binding that matches wins.

// alwaysKeyActions work whatever is open.
func alwaysKeyActions(k *keyMap) []keyAction {
	return []keyAction{
		{k.PanicChord, (*App).keyPanic},
		{k.Lock, (*App).keyLock},
	}
}

// dialogKeyActions work while a dialog is open; other keys go to it.
func dialogKeyActions(k *keyMap) []keyAction {
	return []keyAction{
		{k.Close, (*App).keyCloseDialog},
	}
}

// searchKeyActions work on the search line; other keys edit it.
func searchKeyActions(k *keyMap) []keyAction {
	return []keyAction{
		{k.Close, (*App).keyCloseSearch},
		{k.NextMatch, (*App).keyNextMatch},
	}
}

// screenKeyActions work whether the list or the compose box has the
// focus.
func screenKeyActions(k *keyMap) []keyAction {
	return []keyAction{
		{k.Help, (*App).keyHelp},
		{k.Settings, (*App).keySettings},
		{k.Finder, (*App).keyFinder},
		{k.Search, (*App).keySearch},
		{k.NextChat, (*App).keyNextChat},
		{k.PrevChat, (*App).keyPrevChat},
		{k.Jump, (*App).keyJump},
		{k.PageUp, (*App).keyPage},
		{k.PageDown, (*App).keyPage},
	}
}

// listKeyActions work while the chat list has the focus; other keys
// do nothing there.
func listKeyActions(k *keyMap) []keyAction {
	return []keyAction{
		{k.Focus, (*App).keyLeaveList},
		{k.Close, (*App).keyLeaveList},
		{k.Up, (*App).keyListUp},
		{k.Down, (*App).keyListDown},
		{k.Open, (*App).keyListOpen},
	}
}

// composeKeyActions work while the compose box has the focus; other
// keys edit it.
func composeKeyActions(k *keyMap) []keyAction {
	return []keyAction{
		{k.Focus, (*App).keyFocus},
		{k.Send, (*App).keySend},
	}
}

// remapAction is a binding the user may move to another key (settings,
// "Key bindings"); the choice is stored as the setting keySetting(name).
type remapAction struct {
	name, desc string
	binding    func(*keyMap) *key.Binding
}

// remapActions lists the bindings that can be moved, in the order the
// key-bindings dialog shows them.
func remapActions() []remapAction {
	return []remapAction{
		{"lock", "Lock now", func(k *keyMap) *key.Binding { return &k.Lock }},
		{"finder", "Find a chat", func(k *keyMap) *key.Binding { return &k.Finder }},
		{"settings", "Settings", func(k *keyMap) *key.Binding { return &k.Settings }},
		{"search", "Search (this chat; in the list: all chats)", func(k *keyMap) *key.Binding { return &k.Search }},
		{"next-chat", "Next chat", func(k *keyMap) *key.Binding { return &k.NextChat }},
		{"prev-chat", "Previous chat", func(k *keyMap) *key.Binding { return &k.PrevChat }},
		{"panic", "Panic erase (when on)", func(k *keyMap) *key.Binding { return &k.PanicChord }},
	}
}

// keySetting is the name of the setting holding an action's key.
func keySetting(action string) string { return settingKeyPrefix + action }

// rebind moves b to the single key k, keeping its description and
// whether it is enabled.
func rebind(b *key.Binding, k string) {
	on := b.Enabled()
	*b = key.NewBinding(key.WithKeys(k), key.WithHelp(k, b.Help().Desc))
	b.SetEnabled(on)
}

// remap binds every movable action to the key stored for it in vals
// (its default when none is). Searching's "next match" follows the
// search key.
func (k *keyMap) remap(vals map[string]string) {
	d := defaultKeys()
	for _, a := range remapActions() {
		b := a.binding(k)
		on := b.Enabled()
		*b = *a.binding(&d)
		b.SetEnabled(on)
		if v := vals[keySetting(a.name)]; v != "" {
			rebind(b, v)
		}
	}
	k.NextMatch = key.NewBinding(key.WithKeys(append([]string{"enter"}, k.Search.Keys()...)...), key.WithHelp("enter", "older match"))
}

// checkRemap reports why action may not move to key k ("" when it may): a
// key that types or edits text, or one bound to another action.
func (k keyMap) checkRemap(action, kk string) string {
	editKeys := []string{"space", "backspace", "delete", "left", "right", "home", "end"}
	if utf8.RuneCountInString(kk) == 1 || slices.Contains(editKeys, kk) {
		return fmt.Sprintf("%s types or edits text: choose a key with ctrl or alt, or a function key", kk)
	}
	others := []key.Binding{k.Send, k.Newline, k.Quit, k.Help, k.Focus, k.Up, k.Down, k.Open,
		k.PageUp, k.PageDown, k.Jump, k.History, k.Close}
	for _, a := range remapActions() {
		if a.name != action {
			others = append(others, *a.binding(&k))
		}
	}
	for _, b := range others {
		if slices.Contains(b.Keys(), kk) {
			return fmt.Sprintf("%s is already bound to %s: move that first, or choose another key", kk, b.Help().Desc)
		}
	}
	return ""
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
		{m.k.Focus, m.k.Up, m.k.Down, m.k.Open, m.k.Jump, m.k.NextChat, m.k.PrevChat, m.k.Finder},
		{m.k.Search, m.k.Settings, m.k.Lock, m.k.PanicChord, m.k.Help, m.k.Quit},
	}
}
