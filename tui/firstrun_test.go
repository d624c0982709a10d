package tui

import (
	"context"
	"errors"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"
)

// checkedProfile is a dirProfile that checks first-run answers as
// cmd/veil does: PINs of 8 characters or more, relay addresses that
// parse and answer (here: none answers).
type checkedProfile struct{ *dirProfile }

var _ SetupChecker = checkedProfile{}

func (checkedProfile) CheckPIN(pin []byte) error {
	if len(pin) < 8 {
		return errors.New("too short: a PIN needs at least 8 characters (a passphrase is far stronger)")
	}
	return nil
}

func (checkedProfile) CheckRelay(_ context.Context, addr string) error {
	if !strings.HasPrefix(addr, "veil") {
		return errors.New("this is not a relay address: it looks like veil://host:port#fingerprint")
	}
	return errors.New("the relay at 127.0.0.1:1 cannot be reached (connection refused): check the address, or leave it empty for a local relay")
}

func checkedConfig(t *testing.T) Config {
	cfg, p := testConfig(t)
	cfg.Profile = checkedProfile{p}
	return cfg
}

// TestFirstRunChecksEachField: each answer is checked when it is entered,
// the reason shown beside its field; a short PIN stays in the field to be
// lengthened, a confirmation that differs is asked again, esc goes back a
// step, and a relay that cannot be reached keeps its address to correct.
func TestFirstRunChecksEachField(t *testing.T) {
	cfg := checkedConfig(t)
	tm, app := start(t, cfg, 80, 24)
	waitText(t, tm, "Choose a PIN")
	tm.Type("short")
	tm.Send(enter())
	waitText(t, tm, "too short")
	tm.Type(" horse") // lengthened, not typed again
	tm.Send(enter())
	waitText(t, tm, "Enter the PIN again")
	tm.Type("short horsx")
	tm.Send(enter())
	waitText(t, tm, "the two PINs differ: type it again")
	tm.Type("short horse")
	tm.Send(enter())
	waitText(t, tm, "Optional: a duress PIN")
	tm.Type("short horse")
	tm.Send(enter())
	waitText(t, tm, "must differ from the PIN")
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlU})
	tm.Type("tiny")
	tm.Send(enter())
	waitText(t, tm, "too short")
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlU})
	tm.Send(enter()) // no duress PIN
	waitText(t, tm, "Relay:")
	tm.Send(tea.KeyMsg{Type: tea.KeyEsc}) // back: a duress PIN after all
	waitText(t, tm, "Optional: a duress PIN")
	tm.Type("duress horse")
	tm.Send(enter())
	tm.Type("duress horse")
	tm.Send(enter())
	waitText(t, tm, "Relay:")
	tm.Type("nonsense")
	tm.Send(enter())
	waitText(t, tm, "not a relay address", "nonsense")
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlU})
	tm.Type(testRelayAddr)
	tm.Send(enter())
	waitText(t, tm, "cannot be reached")
	// The refused address is still in the field: back at its start, the
	// field shows its head (the renderer redraws only changed lines, so
	// the error's frame need not hold the field's line).
	tm.Send(tea.KeyMsg{Type: tea.KeyHome})
	waitText(t, tm, "veil+ws://127.0.0.1:1#")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnd})
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlU})
	tm.Send(enter()) // empty: the local relay
	waitText(t, tm, "none yet")
	finalView(t, tm)
	if app.gate.pin != nil || app.gate.dur != nil {
		t.Fatal("the gate keeps the PINs after the profile opened")
	}

	// Both PINs work: the profile was made with what was typed.
	tm = unlock(t, cfg, "short horse")
	waitText(t, tm, "none yet")
	finalView(t, tm)
}

// TestGoldenFirstRunChecks: the first-run screens with a refused answer.
func TestGoldenFirstRunChecks(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {60, 20}} {
		t.Run(itoa(size[0])+"x"+itoa(size[1]), func(t *testing.T) {
			t.Run("pin", func(t *testing.T) {
				tm, _ := start(t, checkedConfig(t), size[0], size[1])
				waitText(t, tm, "Choose a PIN")
				tm.Type("short")
				tm.Send(enter())
				waitText(t, tm, "too short")
				golden.RequireEqual(t, []byte(finalView(t, tm)))
			})
			t.Run("relay", func(t *testing.T) {
				tm, _ := start(t, checkedConfig(t), size[0], size[1])
				waitText(t, tm, "Choose a PIN")
				typeLine(tm, "correct horse")
				typeLine(tm, "correct horse")
				waitText(t, tm, "duress PIN")
				tm.Send(enter())
				waitText(t, tm, "Relay:")
				typeLine(tm, "veil://relay.example.org:443#x")
				waitText(t, tm, "cannot be reached")
				golden.RequireEqual(t, []byte(finalView(t, tm)))
			})
		})
	}
}

func TestGoldenFirstRunSmall(t *testing.T) {
	tm, _ := start(t, checkedConfig(t), 60, 20)
	waitText(t, tm, "Choose a PIN")
	golden.RequireEqual(t, []byte(finalView(t, tm)))
}
