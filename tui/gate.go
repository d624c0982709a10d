package tui

import (
	"crypto/subtle"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// gate is the first-run walk-through and the unlock screen. The duress PIN
// goes through exactly the same path as the real one: what it opens is the
// Profile's business, and the screen cannot tell.
type gate struct {
	p     Profile
	st    styles
	keys  keyMap
	setup bool
	step  int
	in    textinput.Model
	pin   []byte
	dur   []byte
	err   string
	busy  bool
	w, h  int
}

// Setup steps.
const (
	stepPIN = iota
	stepPINAgain
	stepDuress
	stepDuressAgain
	stepRelay
)

func newGate(p Profile, st styles, keys keyMap, setup bool) gate {
	in := textinput.New()
	in.EchoMode = textinput.EchoPassword
	in.EchoCharacter = '•'
	in.Prompt = "> "
	in.CharLimit = 256
	in.Focus()
	return gate{p: p, st: st, keys: keys, setup: setup, in: in}
}

func (g *gate) SetSize(w, h int) {
	g.w, g.h = w, h
	g.in.Width = max(10, min(40, w-8))
}

func (g gate) ShortHelp() []key.Binding {
	return []key.Binding{key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "continue")), g.keys.Quit}
}
func (g gate) FullHelp() [][]key.Binding { return [][]key.Binding{g.ShortHelp()} }

// failed shows an error from Create or Open and starts again.
func (g *gate) failed(msg string) {
	g.busy = false
	g.err = msg
	g.reset()
}

func (g *gate) reset() {
	wipe(g.pin)
	wipe(g.dur)
	g.pin, g.dur = nil, nil
	g.step = stepPIN
	g.in.EchoMode = textinput.EchoPassword
	g.in.Reset()
}

func (g gate) Update(msg tea.Msg) (gate, tea.Cmd) {
	km, ok := msg.(tea.KeyMsg)
	if !ok || g.busy {
		return g, nil
	}
	if km.Type != tea.KeyEnter {
		var cmd tea.Cmd
		g.in, cmd = g.in.Update(msg)
		return g, cmd
	}
	val := []byte(g.in.Value())
	g.in.Reset()
	g.err = ""
	if !g.setup {
		if len(val) == 0 {
			return g, nil
		}
		g.busy = true
		return g, openProfile(g.p, val, nil)
	}
	switch g.step {
	case stepPIN:
		if len(val) == 0 {
			return g, nil
		}
		g.pin, g.step = val, stepPINAgain
	case stepPINAgain:
		if subtle.ConstantTimeCompare(val, g.pin) != 1 {
			wipe(val)
			g.failed("the two PINs differ; start again")
			return g, nil
		}
		wipe(val)
		g.step = stepDuress
	case stepDuress:
		if len(val) == 0 {
			g.step = stepRelay
			g.in.EchoMode = textinput.EchoNormal
			break
		}
		if subtle.ConstantTimeCompare(val, g.pin) == 1 {
			wipe(val)
			g.err = "the duress PIN must differ from the PIN"
			return g, nil
		}
		g.dur, g.step = val, stepDuressAgain
	case stepDuressAgain:
		if subtle.ConstantTimeCompare(val, g.dur) != 1 {
			wipe(val)
			wipe(g.dur)
			g.dur, g.step = nil, stepDuress
			g.err = "the two duress PINs differ; enter it again (or leave it empty)"
			return g, nil
		}
		wipe(val)
		g.step = stepRelay
		g.in.EchoMode = textinput.EchoNormal
	case stepRelay:
		s := &Setup{PIN: g.pin, Duress: g.dur, Relay: strings.TrimSpace(string(val))}
		g.pin, g.dur = nil, nil // the Setup owns them now
		g.busy = true
		return g, openProfile(g.p, nil, s)
	}
	return g, nil
}

func (g gate) View() string {
	var b strings.Builder
	b.WriteString(g.st.Title.Render("veil") + g.st.Faint.Render("  end-to-end encrypted, no accounts") + "\n\n")
	if !g.setup {
		b.WriteString("Enter your PIN to unlock.\n\n")
	} else {
		switch g.step {
		case stepPIN:
			b.WriteString("Welcome. Choose a PIN to protect this profile.\nA long passphrase is far stronger than digits.\n\n")
		case stepPINAgain:
			b.WriteString("Enter the PIN again.\n\n")
		case stepDuress:
			b.WriteString("Optional: a duress PIN. Entered at this screen, it erases\nthis profile and opens an empty one. Leave empty to skip.\n\n")
		case stepDuressAgain:
			b.WriteString("Enter the duress PIN again.\n\n")
		case stepRelay:
			b.WriteString("Relay: paste a relay address (veil://host:port#fingerprint),\nor leave empty to run a local relay on 127.0.0.1 for now.\n\n")
		}
	}
	if g.busy {
		b.WriteString(g.st.Faint.Render("opening…") + "\n")
	} else {
		b.WriteString(g.in.View() + "\n")
	}
	if g.err != "" {
		b.WriteString("\n" + g.st.Error.Render(g.err) + "\n")
	}
	box := g.st.Dialog.Width(min(64, max(20, g.w-4))).Render(strings.TrimRight(b.String(), "\n"))
	return lipgloss.Place(g.w, max(1, g.h-1), lipgloss.Center, lipgloss.Center, box)
}
