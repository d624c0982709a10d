package vault

import "time"

// Unlock padding, spec/vault.md §5.4 (tuning, not format). Every outcome
// of a PIN trial (unlock, duress unlock in either mode, wrong PIN) ends no
// earlier than the Argon2id derivation's own time plus a floor: a quarter
// of the derivation's time, and at least padMin or the derivation's time,
// whichever is less (so the test KDF's tiny derivations pay almost
// nothing). Measured with DefaultKDF on the project's 2-core machine, the
// work after the derivation took 0–25 ms to open a small vault, 50–100 ms
// to erase it and create the decoy, under 6 ms to erase it in reset mode,
// and nothing for a wrong PIN, against a floor of 160 ms or more.
const (
	padShare   = 4
	padMin     = 150 * time.Millisecond
	padPerFile = 150 * time.Microsecond // per name in data/ (padExtra)
)

// padFloor is how long the work after a derivation that took kdf may take
// before it shows.
func padFloor(kdf time.Duration) time.Duration {
	return max(kdf/padShare, min(kdf, padMin))
}

// padExtra is how much longer than padFloor the work after the derivation
// may take in a profile whose data directory holds files names: the
// erase of a duress unlock unlinks each of them (thousands for a profile
// with many file attachments), so every trial of the profile, whatever
// the PIN, is padded by padPerFile for each.
func padExtra(files int) time.Duration { return time.Duration(files) * padPerFile }

// padUnlock sleeps until the PIN trial that began at start, whose
// derivation took kdf, has taken kdf + padFloor(kdf) + extra. onPad
// (tests and benchmarks only) learns how long the work after the
// derivation took, and the floor it had to stay within (padFloor(kdf) +
// extra).
func padUnlock(start time.Time, kdf, extra time.Duration, onPad func(kdf, work, floor time.Duration)) {
	floor := padFloor(kdf) + extra
	if onPad != nil {
		onPad(kdf, time.Since(start)-kdf, floor)
	}
	if d := time.Until(start.Add(kdf + floor)); d > 0 {
		time.Sleep(d)
	}
}
