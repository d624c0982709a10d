package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
)

// The erase policy's choices in the policy dialog (spec/client.md §10.5).
var (
	wipeAfterChoices = []int{0, 3, 5, 10, 20}
	deadManChoices   = []time.Duration{0, 24 * time.Hour, 3 * 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour}
)

// policyDoneMsg reports an erase policy change.
type policyDoneMsg struct {
	p   client.Policy
	err error
}

// policyLabel is the policy as the settings dialog shows it.
func policyLabel(p client.Policy) string {
	var parts []string
	if p.WipeAfter > 0 {
		parts = append(parts, fmt.Sprintf("%d wrong PINs", p.WipeAfter))
	}
	if p.DeadMan > 0 {
		parts = append(parts, "dead-man "+client.FormatDuration(p.DeadMan))
	}
	if len(parts) == 0 {
		return "off"
	}
	return strings.Join(parts, " · ")
}

// nextChoice is the choice after cur: the next larger one, the first after
// the largest. A value set elsewhere (veil policy) moves to the next
// larger choice too.
func nextChoice[T int | time.Duration](choices []T, cur T) T {
	for _, c := range choices {
		if c > cur {
			return c
		}
	}
	return choices[0]
}

// Steps of the policy dialog.
const (
	policyChoose  = iota // the two values and "save"
	policyCurrent        // the current PIN
)

// policyDialog changes the erase policy: wipe after N wrong PINs, and the
// dead-man timer. Saving asks the current PIN, as every change of what
// unlocks or erases the profile does; it is wiped once used (Go cannot
// guarantee no copy remains: the text input held it as runes).
type policyDialog struct {
	st     styles
	keys   keyMap
	p      client.Policy
	cursor int // 0 wipe-after, 1 dead-man, 2 save
	step   int
	in     textinput.Model
	err    string
	busy   bool
	run    func(p client.Policy, cur []byte) tea.Cmd // owns cur
	w, h   int
}

func newPolicyDialog(st styles, keys keyMap, p client.Policy, run func(client.Policy, []byte) tea.Cmd) *policyDialog {
	in := textinput.New()
	in.EchoMode = textinput.EchoPassword
	in.EchoCharacter = '•'
	in.Prompt = "> "
	in.CharLimit = 256
	in.Focus()
	return &policyDialog{st: st, keys: keys, p: p, in: in, run: run}
}

func (d *policyDialog) SetSize(w, h int) { d.w, d.h = w, h; d.in.Width = max(10, min(40, w-10)) }
func (d *policyDialog) ShortHelp() []key.Binding {
	if d.step == policyChoose {
		return []key.Binding{d.keys.Up, d.keys.Down, key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "change")), d.keys.Close}
	}
	return []key.Binding{key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "save")), d.keys.Close}
}
func (d *policyDialog) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }

// close wipes what was typed (the App calls it when the dialog closes).
func (d *policyDialog) close() { d.in.Reset() }

func (d *policyDialog) Update(msg tea.Msg) (dialog, tea.Cmd) {
	if m, ok := msg.(policyDoneMsg); ok {
		d.busy = false
		if m.err != nil {
			d.err = userErr(m.err)
			return d, nil
		}
		return d, tea.Batch(closeDialog, func() tea.Msg { return doneMsg{note: "erase policy saved: " + policyLabel(m.p)} })
	}
	km, ok := msg.(tea.KeyMsg)
	if !ok || d.busy {
		return d, nil
	}
	if d.step == policyChoose {
		switch {
		case key.Matches(km, d.keys.Up):
			d.cursor = max(0, d.cursor-1)
		case key.Matches(km, d.keys.Down):
			d.cursor = min(2, d.cursor+1)
		case km.Type == tea.KeyEnter || km.String() == " ":
			switch d.cursor {
			case 0:
				d.p.WipeAfter = nextChoice(wipeAfterChoices, d.p.WipeAfter)
			case 1:
				d.p.DeadMan = nextChoice(deadManChoices, d.p.DeadMan)
			default:
				d.step, d.err = policyCurrent, ""
			}
		}
		return d, nil
	}
	cur, cmd := pinEntry(&d.in, km)
	if cur == nil {
		return d, cmd
	}
	d.err, d.busy = "", true
	return d, d.run(d.p, cur)
}

func (d *policyDialog) View() string {
	var b strings.Builder
	b.WriteString("Erase this profile after too many wrong PINs in a row, or at the first unlock attempt once it has been neither unlocked nor open for a while. Anyone with the disk can read this policy.\n\n")
	wipe, dead := "off", "off"
	if d.p.WipeAfter > 0 {
		wipe = fmt.Sprintf("%d in a row", d.p.WipeAfter)
	}
	if d.p.DeadMan > 0 {
		dead = client.FormatDuration(d.p.DeadMan) + " neither unlocked nor open"
	}
	for i, r := range [][2]string{{"Wrong PINs before erasing", wipe}, {"Dead-man timer", dead}, {"Save…", ""}} {
		l := fmt.Sprintf("%-28s %s", r[0], r[1])
		if i == d.cursor && d.step == policyChoose {
			l = d.st.Selected.Render(l)
		}
		b.WriteString(l + "\n")
	}
	if d.step == policyCurrent {
		b.WriteString("\nEnter your current PIN to save.\n\n")
		if d.busy {
			b.WriteString(d.st.Faint.Render("saving…"))
		} else {
			b.WriteString(d.in.View())
		}
	}
	if d.err != "" {
		b.WriteString("\n\n" + d.st.Error.Render(d.err))
	}
	return box(d.st, "Erase policy", strings.TrimRight(b.String(), "\n"), d.w, d.h)
}

// policyCmd stores the erase policy after checking cur, the current PIN,
// which it wipes.
func policyCmd(eng *client.Engine, p client.Policy, cur []byte) tea.Cmd {
	return func() tea.Msg {
		defer wipe(cur)
		// One Argon2id derivation: seconds on a slow machine.
		ctx, cancel := context.WithTimeout(context.Background(), networkTimeout)
		defer cancel()
		err := eng.SetPolicy(ctx, cur, p)
		return policyDoneMsg{p: p, err: err}
	}
}
