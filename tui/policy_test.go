package tui

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
	"veil/vault"
)

// TestSettingsPolicy: the erase policy entry cycles its values, asks the
// current PIN (a wrong one changes nothing) and saves; the settings line
// then shows it, and the wrong-PIN limit it set erases the profile.
func TestSettingsPolicy(t *testing.T) {
	cfg, p := testConfig(t)
	tm, _ := start(t, cfg, 80, 24)
	createProfile(t, tm, "correct horse", "")
	openSettingsRow(t, tm, rowPolicy)
	waitText(t, tm, "Erase policy", "Wrong PINs before erasing")
	tm.Send(enter()) // off → 3
	tm.Send(enter()) // 3 → 5
	tm.Send(press(tea.KeyDown))
	tm.Send(enter()) // off → 1d
	waitText(t, tm, "5 in a row", "1d neither unlocked nor open")
	tm.Send(press(tea.KeyDown))
	tm.Send(enter())
	waitText(t, tm, "Enter your current PIN to save")
	typeLine(tm, "wrong horse")
	waitText(t, tm, "the current PIN is wrong; nothing was changed")
	typeLine(tm, "correct horse")
	waitText(t, tm, "erase policy saved: 5 wrong PINs")
	tm.Send(press(tea.KeyF2))
	waitText(t, tm, "Erase policy", "5 wrong PINs · dead-man 1d")
	if v := finalView(t, tm); strings.Contains(v, "horse") {
		t.Fatal("a PIN reached the screen")
	}

	eng, err := client.Open(context.Background(), p.cfg(nil), []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := eng.Policy(context.Background())
	eng.Close()
	if err != nil || pol != (client.Policy{WipeAfter: 5, DeadMan: 24 * time.Hour}) {
		t.Fatalf("stored policy %+v (%v)", pol, err)
	}
}

// TestGoldenErased: a profile erased while opening (here its duress PIN in
// reset mode; the wrong-PIN limit and the dead-man timer end the same way)
// gives the first-run screen exactly as a profile that never existed draws
// it (the same golden, byte for byte: someone comparing the two screens
// cannot tell them apart), and a new profile can be made at once.
func TestGoldenErased(t *testing.T) {
	fresh, _ := testConfig(t)
	tm, _ := start(t, fresh, 80, 24)
	waitText(t, tm, "Choose a PIN")
	never := finalView(t, tm)

	cfg, p := testConfig(t)
	s, err := p.Create(context.Background(), Setup{PIN: []byte("correct horse"), Duress: []byte("duress horse"), DuressReset: true, Relay: testRelayAddr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	tm = unlock(t, cfg, "duress horse")
	waitText(t, tm, "Choose a PIN")
	v := finalView(t, tm)
	if v != never {
		t.Fatalf("the screen after a reset differs from a new install's:\n%s\n---\n%s", v, never)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "TestGoldenFirstRun.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if v != string(want) {
		t.Fatalf("the screen after a reset differs from TestGoldenFirstRun's golden:\n%s", v)
	}
	if ok, _ := p.Exists(); ok {
		t.Fatal("the profile still exists")
	}
	tm, _ = start(t, cfg, 80, 24)
	createProfile(t, tm, "new horse", "")
	finalView(t, tm)
}

// TestNoProfileShowsFirstRun: a profile erased elsewhere while the unlock
// screen was up (veil panic in another terminal) leads to the first-run
// screen, not to a "no profile" error at every attempt.
func TestNoProfileShowsFirstRun(t *testing.T) {
	cfg, p := testConfig(t)
	tm, _ := start(t, cfg, 80, 24)
	createProfile(t, tm, "correct horse", "")
	finalView(t, tm)
	tm, _ = start(t, cfg, 80, 24)
	waitText(t, tm, "Enter your PIN")
	if err := vault.WipeProfile(context.Background(), p.dir, nil); err != nil {
		t.Fatal(err)
	}
	typeLine(tm, "correct horse")
	waitText(t, tm, "Choose a PIN")
	if v := finalView(t, tm); strings.Contains(v, "no profile") || strings.Contains(v, "erased") {
		t.Fatalf("the first-run screen after an erase elsewhere:\n%s", v)
	}
}
