package vault

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDeadManWhileUnlocked checks the dead-man timer's promise
// (SECURITY.md, "The vault": erase "at the first unlock attempt once the
// profile has not been unlocked for a period"; spec/vault.md §5.1 step
// 2). A profile that stays unlocked in `veil daemon` or the TUI is in use
// the whole time: its owner reads, sends and sweeps. A timer that counted
// only from the unlock itself would, after a long unlocked session, make
// the owner's next unlock with the right PIN, after nothing more than a
// `veil lock` or a restart, erase the profile before the PIN is tried.
func TestDeadManWhileUnlocked(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	v := createVault(t, dir, testOpts(clk))
	if err := v.SetPolicy(Policy{DeadMan: 48 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)
	v = mustOpen(t, dir, pin, testOpts(clk))
	fillSample(t, v)
	// Three days unlocked, in use every hour, as a daemon would be.
	for range 72 {
		clk.Add(time.Hour)
		fillSample(t, v)
		if _, err := v.SweepExpired(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mustLock(t, v) // veil lock, or a restart
	v, err := Open(ctx, dir, pin, testOpts(clk))
	if err != nil {
		t.Fatalf("the owner, unlocked and active until a moment ago, unlocks with the right PIN: %v", err)
	}
	mustLock(t, v)

	// Unlocked, then left alone (no sweep) for 47 hours before the lock:
	// the period counts from the lock.
	v = mustOpen(t, dir, pin, testOpts(clk))
	clk.Add(47 * time.Hour)
	mustLock(t, v)
	clk.Add(47 * time.Hour)
	v = mustOpen(t, dir, pin, testOpts(clk))
	mustLock(t, v)

	// A process killed while unlocked: the last hourly mark counts.
	v = mustOpen(t, dir, pin, testOpts(clk))
	clk.Add(30 * time.Minute)
	if _, err := v.SweepExpired(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Add(31 * time.Minute)
	if _, err := v.SweepExpired(ctx); err != nil { // marks: over an hour since the unlock
		t.Fatal(err)
	}
	marked := clk.Now().Unix()
	st, err := readState(filepath.Join(dir, stateFileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.lastUnlock != marked {
		t.Errorf("the state file records %d after an hour in use; want %d", st.lastUnlock, marked)
	}
	mustLock(t, v)
}

// TestDeadManOffLeavesStateAlone checks that, with the dead-man timer off,
// being in use and locking write nothing to the state file (spec/vault.md
// §5.0: it records a time only while the timer is on).
func TestDeadManOffLeavesStateAlone(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	mustLock(t, createVault(t, dir, testOpts(clk)))
	v := mustOpen(t, dir, pin, testOpts(clk))
	name := filepath.Join(dir, stateFileName)
	before, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	fi0, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		clk.Add(2 * time.Hour)
		fillSample(t, v)
		if _, err := v.SweepExpired(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mustLock(t, v)
	after, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	fi1, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) || !os.SameFile(fi0, fi1) {
		t.Error("with the dead-man timer off, use and lock rewrote the state file")
	}
}
