package vault

import (
	"context"
	"errors"
	"time"
)

// RestoreMark says that this vault was restored from a backup and has not
// yet been through its first unlock: its ratchet states and group sender
// chains are copies that the original may have moved past (spec/vault.md
// §10.1). Restore writes it; the client reads it at unlock, flags every
// chat for a fresh session, and deletes it in the same transaction.
type RestoreMark struct {
	Restored time.Time // when Restore ran
}

// RestoreMark returns the restore mark, or ErrNotFound when the vault is
// not a restored copy awaiting its first unlock.
func (tx *Tx) RestoreMark() (RestoreMark, error) {
	var m RestoreMark
	err := tx.get([]byte{pfxRestore}, &m)
	return m, err
}

// DeleteRestoreMark deletes the restore mark.
func (tx *Tx) DeleteRestoreMark() error { return tx.del([]byte{pfxRestore}) }

// markRestored writes the restore mark into a vault Restore just filled.
func markRestored(ctx context.Context, v *Vault, now time.Time) error {
	return v.Update(ctx, func(tx *Tx) error {
		if _, err := tx.RestoreMark(); err == nil || !errors.Is(err, ErrNotFound) {
			return err // a backup of a copy never unlocked keeps its mark
		}
		return tx.set([]byte{pfxRestore}, &RestoreMark{Restored: now.UTC()})
	})
}
