package vault

import "time"

// padShare sets how long the work after the Argon2id derivation of an
// unlock may take before it shows: every outcome (unlock, duress, wrong
// PIN) ends no earlier than the derivation's own time plus 1/padShare of
// it (spec/vault.md §5.4). Measured with DefaultKDF, opening or creating a
// small vault took well under that.
const padShare = 4

// padUnlock sleeps until the PIN trial that began at start, whose
// derivation took kdf, has taken kdf + kdf/padShare.
func padUnlock(start time.Time, kdf time.Duration) {
	if d := time.Until(start.Add(kdf + kdf/padShare)); d > 0 {
		time.Sleep(d)
	}
}
