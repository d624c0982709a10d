package tui

import (
	"bytes"
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

	relay    string // the first-run relay answer, kept for a retry
	checking bool   // the relay address is being dialled
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
	keys := []key.Binding{key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "continue"))}
	if g.setup && g.step != stepPIN {
		keys = append(keys, key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")))
	}
	return append(keys, g.keys.Quit)
}
func (g gate) FullHelp() [][]key.Binding { return [][]key.Binding{g.ShortHelp()} }

// failed shows an error from Create or Open. The unlock screen empties its
// field; the first-run screen stays on its last step with every answer
// kept, so nothing is typed again.
func (g *gate) failed(msg string) {
	g.busy = false
	g.err = msg
	if g.setup {
		g.in.SetValue(g.relay)
		g.in.CursorEnd()
		return
	}
	g.in.Reset()
}

// reset wipes the PINs held and goes back to the first step.
func (g *gate) reset() {
	wipe(g.pin)
	wipe(g.dur)
	g.pin, g.dur = nil, nil
	g.step = stepPIN
	g.in.EchoMode = textinput.EchoPassword
	g.in.Reset()
}

// back goes one first-run step back (esc), forgetting what that step had.
func (g *gate) back() {
	g.err = ""
	g.in.Reset()
	switch g.step {
	case stepPINAgain, stepDuress:
		g.reset()
	case stepDuressAgain, stepRelay:
		wipe(g.dur)
		g.dur, g.step = nil, stepDuress
		g.in.EchoMode = textinput.EchoPassword
	}
}

func (g gate) Update(msg tea.Msg) (gate, tea.Cmd) {
	if rc, ok := msg.(relayCheckedMsg); ok && g.busy && g.setup && g.step == stepRelay {
		if rc.err != nil {
			g.failed(userErr(rc.err))
			return g, nil
		}
		return g, g.create(rc.addr)
	}
	km, ok := msg.(tea.KeyMsg)
	if !ok || g.busy {
		return g, nil
	}
	if g.setup && km.Type == tea.KeyEsc {
		g.back()
		return g, nil
	}
	if km.Type != tea.KeyEnter {
		var cmd tea.Cmd
		g.in, cmd = g.in.Update(msg)
		return g, cmd
	}
	if !g.setup {
		val := []byte(g.in.Value())
		g.in.Reset()
		g.err = ""
		if len(val) == 0 {
			return g, nil
		}
		g.busy = true
		return g, openProfile(g.p, val, nil)
	}
	return g.enterSetup()
}

// enterSetup checks the answer of the current first-run step. A refused
// answer stays in its field with the reason beside it; a confirmation
// that differs is emptied (it cannot be seen to be corrected).
func (g gate) enterSetup() (gate, tea.Cmd) {
	val := []byte(g.in.Value())
	g.err = ""
	switch g.step {
	case stepPIN:
		if len(val) == 0 {
			return g, nil
		}
		if g.err = g.checkPIN(val); g.err != "" {
			wipe(val)
			return g, nil
		}
		g.pin, g.step = val, stepPINAgain
	case stepPINAgain:
		same := subtle.ConstantTimeCompare(val, g.pin) == 1
		wipe(val)
		if !same {
			g.in.Reset()
			g.err = "the two PINs differ: type it again (esc: choose another)"
			return g, nil
		}
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
		if g.err = g.checkPIN(val); g.err != "" {
			wipe(val)
			return g, nil
		}
		g.dur, g.step = val, stepDuressAgain
	case stepDuressAgain:
		same := subtle.ConstantTimeCompare(val, g.dur) == 1
		wipe(val)
		if !same {
			g.in.Reset()
			g.err = "the two duress PINs differ: type it again (esc: choose another)"
			return g, nil
		}
		g.step = stepRelay
		g.in.EchoMode = textinput.EchoNormal
	case stepRelay:
		g.relay = strings.TrimSpace(string(val))
		g.busy = true
		if c, ok := g.p.(SetupChecker); ok && g.relay != "" {
			g.checking = true
			return g, checkRelay(c, g.relay)
		}
		return g, g.create(g.relay)
	}
	g.in.Reset()
	return g, nil
}

// create makes the profile. The Setup gets copies of the PINs (Create
// wipes them), so that a failure keeps every answer; the gate wipes its
// own when the App leaves it (reset).
func (g *gate) create(relay string) tea.Cmd {
	g.busy, g.checking = true, false
	s := &Setup{PIN: bytes.Clone(g.pin), Duress: bytes.Clone(g.dur), Relay: relay}
	return openProfile(g.p, nil, s)
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
			b.WriteString("Relay: paste the address of a relay your contacts can reach (veil://host:port#fingerprint), or leave empty for a local relay on 127.0.0.1: fine to try veil, but only this machine reaches it (add a relay later with /relay add).\n\n")
		}
	}
	switch {
	case g.busy && g.checking:
		b.WriteString(g.st.Faint.Render("reaching the relay…") + "\n")
	case g.busy:
		b.WriteString(g.st.Faint.Render("opening…") + "\n")
	default:
		b.WriteString(g.in.View() + "\n")
	}
	if g.err != "" {
		b.WriteString(g.st.Error.Render(g.err) + "\n")
	}
	box := g.st.Dialog.Width(min(64, max(20, g.w-4))).Render(strings.TrimRight(b.String(), "\n"))
	return lipgloss.Place(g.w, max(1, g.h-1), lipgloss.Center, lipgloss.Center, box)
}
