package tui

import (
	"reflect"
	"strings"
	"testing"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"
)

func runes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

// bindingNames lists every key of every binding of the default key map,
// the names of remappable keys included.
func bindingNames() []string {
	var names []string
	k := defaultKeys()
	v := reflect.ValueOf(k)
	for i := range v.NumField() {
		names = append(names, v.Field(i).Interface().(key.Binding).Keys()...)
	}
	return append(names, "ctrl+o", "f3", "alt+o", "q", "?", "c", "y", "n", " ")
}

func allBindings(k keyMap) []key.Binding {
	var bs []key.Binding
	v := reflect.ValueOf(k)
	for i := range v.NumField() {
		b := v.Field(i).Interface().(key.Binding)
		b.SetEnabled(true)
		bs = append(bs, b)
	}
	return bs
}

func TestAsText(t *testing.T) {
	for _, tc := range []struct {
		name   string
		msg    tea.KeyMsg
		typing bool
		text   bool
	}{
		{"word down", runes("down"), false, true},
		{"word enter", runes("enter"), false, true},
		{"word ctrl+l", runes("ctrl+l"), false, true},
		{"word ctrl+c", runes("ctrl+c"), true, true},
		{"word esc", runes("esc"), false, true},
		{"word alt+1", runes("alt+1"), false, true},
		{"q in the list", runes("q"), false, false},
		{"j in the list", runes("j"), false, false},
		{"q typed", runes("q"), true, true},
		{"? typed", runes("?"), true, true},
		{"paste of one rune", tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("j"), Paste: true}, false, true},
		{"paste with a newline", tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("a\rb"), Paste: true}, false, true},
		{"alt+1 typing", tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("1"), Alt: true}, true, false},
		{"enter", tea.KeyMsg{Type: tea.KeyEnter}, true, false},
		{"alt+enter", tea.KeyMsg{Type: tea.KeyEnter, Alt: true}, true, false},
		{"ctrl+l", tea.KeyMsg{Type: tea.KeyCtrlL}, true, false},
		{"down", tea.KeyMsg{Type: tea.KeyDown}, true, false},
		{"esc", tea.KeyMsg{Type: tea.KeyEsc}, true, false},
		{"space", tea.KeyMsg{Type: tea.KeySpace, Runes: []rune(" ")}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := asText(tc.msg, tc.typing)
			if isText(got) != tc.text {
				t.Fatalf("asText(%q, typing %v): text %v, want %v", tc.msg, tc.typing, isText(got), tc.text)
			}
			if tc.text && string(got.Runes) != string(tc.msg.Runes) {
				t.Fatalf("the runes changed: %q", got.Runes)
			}
		})
	}
}

// TestTextMatchesNoBinding: the name of any key, delivered as characters,
// matches no binding, in the list or in a text field; single characters
// match none while typing.
func TestTextMatchesNoBinding(t *testing.T) {
	bs := allBindings(defaultKeys())
	for _, name := range bindingNames() {
		for _, typing := range []bool{false, true} {
			msg := asText(runes(name), typing)
			if len([]rune(name)) == 1 && !typing {
				continue // a single key in the chat list is a key
			}
			for _, b := range bs {
				if key.Matches(msg, b) {
					t.Errorf("%q typed as text (typing %v) matches the binding %q", name, typing, b.Help().Desc)
				}
			}
		}
	}
}

// chunks delivers s as Bubble Tea v1 decodes a fast typist: every run of
// printable runes as one message, each space on its own.
func chunks(tm *teatest.TestModel, s string) {
	for i, w := range strings.Split(s, " ") {
		if i > 0 {
			tm.Send(tea.KeyMsg{Type: tea.KeySpace, Runes: []rune(" ")})
		}
		if w != "" {
			tm.Send(runes(w))
		}
	}
}

// TestChunkedTypingIsText: words that are the names of keys, delivered
// several runes at a time, land in the compose box as typed: nothing
// moves, sends, locks or quits; a bracketed paste with a newline stays
// one text in the box.
func TestChunkedTypingIsText(t *testing.T) {
	cfg, _ := testConfig(t)
	tm, _ := start(t, cfg, 80, 24)
	createProfile(t, tm, "correct horse", "")
	text := "the word down here, then enter and ctrl+l ctrl+c ctrl+k ctrl+f esc tab f1 f2 q ? " + strings.Join(bindingNames(), " ")
	chunks(tm, text)
	paste := tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("\rline one\rline two"), Paste: true}
	tm.Send(paste)
	waitText(t, tm, "line two")
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	app := tm.FinalModel(t, teatest.WithFinalTimeout(waitMax)).(*App)
	defer app.Close()
	if app.screen != scrMain || app.dlg != nil || app.listFocus || app.searching {
		t.Fatalf("typed text acted as a key: screen %d, dialog %T, list %v, search %v", app.screen, app.dlg, app.listFocus, app.searching)
	}
	if got, want := app.compose.value(), text+"\nline one\nline two"; got != want {
		t.Fatalf("the compose box holds\n%q\nwant\n%q", got, want)
	}
}

// TestChunkedTypingInTheGate: at the unlock and first-run field, "enter"
// and "ctrl+c" typed quickly are characters of the PIN.
func TestChunkedTypingInTheGate(t *testing.T) {
	cfg, _ := testConfig(t)
	tm, _ := start(t, cfg, 80, 24)
	waitText(t, tm, "Choose a PIN")
	tm.Send(runes("enter"))
	tm.Send(runes("ctrl+c"))
	waitText(t, tm, strings.Repeat("•", len("enterctrl+c")))
	tm.Send(enter())
	waitText(t, tm, "Enter the PIN again")
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("enterctrl+c"), Paste: true})
	tm.Send(enter())
	waitText(t, tm, "duress PIN")
	finalView(t, tm)
}

// TestBracketedPasteOn: veil's options never turn bracketed paste off.
func TestBracketedPasteOn(t *testing.T) {
	off := reflect.ValueOf(tea.WithoutBracketedPaste()).Pointer()
	for _, o := range Options() {
		if reflect.ValueOf(o).Pointer() == off {
			t.Fatal("Options turns bracketed paste off")
		}
	}
}

var (
	_ typer = (*promptDialog)(nil)
	_ typer = (*finder)(nil)
	_ typer = (*proxyDialog)(nil)
	_ typer = (*relaysDialog)(nil)
)
