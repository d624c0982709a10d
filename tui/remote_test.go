package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/teatest"
)

// TestRemoteLockAndErase: LockMsg locks as the lock key does (the draft
// is forgotten); EraseMsg erases as /panic does and exits.
func TestRemoteLockAndErase(t *testing.T) {
	cfg, p := testConfig(t)
	tm, _ := start(t, cfg, 80, 24)
	createProfile(t, tm, "correct horse", "")
	tm.Type("secret draft")
	waitText(t, tm, "secret draft")
	tm.Send(LockMsg{})
	waitText(t, tm, "Enter your PIN")
	tm.Send(LockMsg{}) // locked already: nothing happens
	tm.Send(EraseMsg{})
	tm.WaitFinished(t, teatest.WithFinalTimeout(waitMax))
	if v := tm.FinalModel(t).(*App).View(); strings.Contains(v, "secret draft") {
		t.Fatalf("after the remote lock and erase:\n%s", v)
	}
	if ok, err := p.Exists(); ok || err != nil {
		t.Fatalf("after EraseMsg the profile exists: %v, %v", ok, err)
	}
}
