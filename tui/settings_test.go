package tui

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"

	"veil/client"
)

// Rows of the settings dialog with no chat open (settingItems, then the
// sub-dialogs, then the file settings).
const (
	rowChangePIN = 4
	rowDuress    = 5
	rowPolicy    = 6
	rowRelays    = 7
	rowProxy     = 8
	rowKeys      = 9
	rowPreview   = 11
)

func press(t tea.KeyType) tea.KeyMsg { return tea.KeyMsg{Type: t} }

// openSettingsRow opens the settings and presses enter on row n.
func openSettingsRow(t *testing.T, tm *teatest.TestModel, n int) {
	t.Helper()
	tm.Send(press(tea.KeyF2))
	waitText(t, tm, "Settings", "Change PIN")
	for range n {
		tm.Send(press(tea.KeyDown))
	}
	tm.Send(enter())
}

// typeLine types s and presses enter.
func typeLine(tm *teatest.TestModel, s string) {
	tm.Type(s)
	tm.Send(enter())
}

// unlock starts the App on cfg and types pin at the unlock screen.
func unlock(t *testing.T, cfg Config, pin string) *teatest.TestModel {
	t.Helper()
	return unlockAt(t, cfg, pin, 80)
}

func unlockAt(t *testing.T, cfg Config, pin string, w int) *teatest.TestModel {
	t.Helper()
	tm, _ := start(t, cfg, w, 24)
	waitText(t, tm, "Enter your PIN")
	typeLine(tm, pin)
	return tm
}

// TestSettingsChangePIN: a wrong current PIN and two different new PINs
// change nothing; then the new PIN unlocks and the old one fails. No PIN
// reaches the screen.
func TestSettingsChangePIN(t *testing.T) {
	cfg, _ := testConfig(t)
	tm, _ := start(t, cfg, 80, 24)
	createProfile(t, tm, "correct horse", "")
	openSettingsRow(t, tm, rowChangePIN)
	waitText(t, tm, "Change PIN", "Enter your current PIN")
	typeLine(tm, "wrong horse")
	waitText(t, tm, "Enter the new PIN.")
	typeLine(tm, "new horse")
	typeLine(tm, "other horse")
	waitText(t, tm, "the two entries differ")
	typeLine(tm, "new horse")
	typeLine(tm, "new horse")
	waitText(t, tm, "the current PIN is wrong; nothing was changed")
	typeLine(tm, "correct horse")
	typeLine(tm, "new horse")
	typeLine(tm, "new horse")
	waitText(t, tm, "PIN changed")
	if v := finalView(t, tm); strings.Contains(v, "horse") {
		t.Fatalf("a PIN reached the screen:\n%s", v)
	}

	tm = unlock(t, cfg, "correct horse")
	waitText(t, tm, "wrong PIN")
	typeLine(tm, "new horse")
	waitText(t, tm, "none yet")
	finalView(t, tm)
}

// TestSettingsDuressPIN: a duress PIN equal to the PIN is refused with the
// vault's reason; a decoy duress PIN set in the dialog opens an empty
// profile and the real PIN is gone after it; a reset one leads to the
// first-run screen.
func TestSettingsDuressPIN(t *testing.T) {
	for _, mode := range []string{"decoy", "reset"} {
		t.Run(mode, func(t *testing.T) {
			cfg, p := testConfig(t)
			tm, _ := start(t, cfg, 80, 24)
			createProfile(t, tm, "correct horse", "")
			openSettingsRow(t, tm, rowDuress)
			waitText(t, tm, "then opens an empty profile", "decoy", "reset", "remove")
			if mode == "reset" {
				tm.Send(press(tea.KeyDown))
			}
			tm.Send(enter())
			waitText(t, tm, "Enter your current PIN")
			typeLine(tm, "correct horse")
			typeLine(tm, "correct horse")
			typeLine(tm, "correct horse")
			waitText(t, tm, "the duress PIN must differ from the unlock PIN")
			typeLine(tm, "correct horse")
			typeLine(tm, "duress horse")
			typeLine(tm, "duress horse")
			waitText(t, tm, "duress PIN set")
			finalView(t, tm)

			tm = unlock(t, cfg, "duress horse")
			if mode == "reset" {
				waitText(t, tm, "Choose a PIN")
				finalView(t, tm)
				if ok, _ := p.Exists(); ok {
					t.Fatal("a profile is left after a reset-mode duress unlock")
				}
				return
			}
			waitText(t, tm, "none yet")
			finalView(t, tm)
			tm = unlock(t, cfg, "correct horse")
			waitText(t, tm, "wrong PIN")
			finalView(t, tm)
		})
	}
}

// TestSettingsRemoveDuressPIN: "remove" asks only the current PIN; the
// old duress PIN is then just a wrong PIN.
func TestSettingsRemoveDuressPIN(t *testing.T) {
	cfg, _ := testConfig(t)
	tm, _ := start(t, cfg, 80, 24)
	createProfile(t, tm, "correct horse", "duress horse")
	openSettingsRow(t, tm, rowDuress)
	waitText(t, tm, "then opens an empty profile")
	tm.Send(press(tea.KeyDown))
	tm.Send(press(tea.KeyDown))
	tm.Send(enter())
	typeLine(tm, "correct horse")
	waitText(t, tm, "no duress PIN now")
	finalView(t, tm)
	tm = unlock(t, cfg, "duress horse")
	waitText(t, tm, "wrong PIN")
	typeLine(tm, "correct horse")
	waitText(t, tm, "none yet")
	finalView(t, tm)
}

// socksListener counts the connections made to it and closes them: enough
// to show that the engine dialled the proxy.
func socksListener(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), &n
}

// TestSettingsProxy: a bad HOST:PORT is refused in the dialog; a good one
// is stored, shown, and used by the engine for relay connections.
func TestSettingsProxy(t *testing.T) {
	addr, dialled := socksListener(t)
	cfg, p := testConfig(t)
	tm, _ := start(t, cfg, 80, 24)
	createProfile(t, tm, "correct horse", "")
	openSettingsRow(t, tm, rowProxy)
	waitText(t, tm, "SOCKS5 proxy", "Empty: direct")
	typeLine(tm, "127.0.0.1")
	waitText(t, tm, "not HOST:PORT")
	tm.Send(press(tea.KeyCtrlU))
	typeLine(tm, "127.0.0.1:99999")
	waitText(t, tm, "the port must be a number")
	tm.Send(press(tea.KeyCtrlU))
	typeLine(tm, addr)
	waitText(t, tm, "proxy saved")
	tm.Send(press(tea.KeyF2))
	waitText(t, tm, "SOCKS5 proxy (Tor)", addr)
	finalView(t, tm)

	ctx := context.Background()
	eng, err := client.Open(ctx, p.cfg(nil), []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if got, fixed := eng.SOCKS5(); got != addr || fixed {
		t.Fatalf("the engine uses proxy %q (fixed %v), want %q", got, fixed, addr)
	}
	if err := eng.CheckRelay(ctx, testRelayAddr); err == nil {
		t.Fatal("the relay was reached through a proxy that closes every connection")
	}
	if dialled.Load() == 0 {
		t.Fatal("the engine did not dial the stored proxy")
	}
}

// TestSettingsKeyBindings: a key bound elsewhere or one that types text is
// refused; a remapped lock key locks and the old one no longer does, the
// help shows it, it survives a lock, and "reset" restores the defaults.
// The terminal is wide enough for the whole help bar.
func TestSettingsKeyBindings(t *testing.T) {
	cfg, _ := testConfig(t)
	tm, _ := start(t, cfg, 120, 24)
	createProfile(t, tm, "correct horse", "")
	openSettingsRow(t, tm, rowKeys)
	waitText(t, tm, "Key bindings", "Lock now", "Reset all to defaults")
	tm.Send(enter()) // Lock now
	waitText(t, tm, "press the new key")
	tm.Send(press(tea.KeyCtrlK))
	waitText(t, tm, "ctrl+k is already bound to find chat")
	tm.Send(enter())
	tm.Type("x")
	waitText(t, tm, "x types or edits text")
	tm.Send(enter())
	tm.Send(press(tea.KeyCtrlC)) // caught, not quitting
	waitText(t, tm, "ctrl+c is already bound to quit")
	tm.Send(enter())
	tm.Send(press(tea.KeyCtrlO))
	waitText(t, tm, "saved", "ctrl+o")
	tm.Send(press(tea.KeyEsc))
	waitText(t, tm, "ctrl+o lock")

	tm.Send(press(tea.KeyCtrlL)) // the old key: nothing happens
	tm.Type("still open")
	waitText(t, tm, "still open")
	tm.Send(press(tea.KeyF1))
	waitText(t, tm, "ctrl+o", "lock", "alt+down")
	tm.Send(press(tea.KeyEsc))
	tm.Send(press(tea.KeyCtrlO))
	waitText(t, tm, "Enter your PIN")
	finalView(t, tm)
	tm = unlockAt(t, cfg, "correct horse", 120)
	waitText(t, tm, "ctrl+o lock") // stored in the profile

	openSettingsRow(t, tm, rowKeys)
	waitText(t, tm, "Reset all to defaults")
	for range len(remapActions()) {
		tm.Send(press(tea.KeyDown))
	}
	tm.Send(enter())
	waitText(t, tm, "key bindings reset to the defaults")
	tm.Send(press(tea.KeyEsc))
	waitText(t, tm, "ctrl+l lock")
	tm.Send(press(tea.KeyCtrlL))
	waitText(t, tm, "Enter your PIN")
	finalView(t, tm)
}

// TestCheckRemap: what may and may not become a key.
func TestCheckRemap(t *testing.T) {
	k := defaultKeys()
	for _, ok := range []string{"ctrl+o", "f5", "alt+l", "ctrl+l"} {
		if why := k.checkRemap("lock", ok); why != "" {
			t.Errorf("lock → %s refused: %s", ok, why)
		}
	}
	for bad, want := range map[string]string{
		"ctrl+k": "find chat", "enter": "send", "esc": "close", "tab": "chats/compose",
		"alt+3": "jump", "alt+up": "previous chat", "ctrl+\\": "panic erase", "q": "types",
		"space": "types", "backspace": "edits",
	} {
		if why := k.checkRemap("lock", bad); !strings.Contains(why, want) {
			t.Errorf("lock → %s: %q, want it to mention %q", bad, why, want)
		}
	}
	k.remap(map[string]string{keySetting("search"): "ctrl+g", keySetting("lock"): "f9"})
	if !k.NextMatch.Enabled() || !strings.Contains(strings.Join(k.NextMatch.Keys(), " "), "ctrl+g") {
		t.Errorf("next match does not follow the search key: %q", k.NextMatch.Keys())
	}
	if k.Lock.Help().Key != "f9" || k.Lock.Help().Desc != "lock" {
		t.Errorf("lock help: %+v", k.Lock.Help())
	}
}

// TestSettingsViewsFit: every settings view draws within 60×20.
func TestSettingsViewsFit(t *testing.T) {
	for _, c := range []struct {
		name string
		row  int
		want string
	}{
		{"settings", -1, "SOCKS5 proxy"},
		{"help", -2, "↓ more"},
		{"pin", rowChangePIN, "current PIN"},
		{"duress", rowDuress, "then opens an empty profile"},
		{"proxy", rowProxy, "Empty: direct"},
		{"keys", rowKeys, "Reset all"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, _ := testConfig(t)
			tm, _ := start(t, cfg, 60, 20)
			createProfile(t, tm, "correct horse", "")
			switch c.row {
			case -1:
				tm.Send(press(tea.KeyF2))
			case -2:
				tm.Send(press(tea.KeyF1))
			default:
				openSettingsRow(t, tm, c.row)
			}
			waitText(t, tm, c.want)
			v := finalView(t, tm)
			lines := strings.Split(v, "\n")
			if len(lines) > 20 {
				t.Errorf("%d lines", len(lines))
			}
			for _, l := range lines {
				if w := lipgloss.Width(l); w > 60 {
					t.Errorf("line %d cells wide: %q", w, l)
				}
			}
			if !strings.Contains(v, c.want) {
				t.Errorf("%q is not on the screen:\n%s", c.want, v)
			}
		})
	}
}
