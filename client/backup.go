package client

import (
	"context"
	"io"

	"filippo.io/age"

	"veil/vault"
)

// Backup writes the whole profile to w as one age file for recipients (an
// age.ScryptRecipient for a passphrase), spec/vault.md §10. It does not
// close w.
func (e *Engine) Backup(ctx context.Context, w io.Writer, recipients ...age.Recipient) error {
	return e.v.Backup(ctx, w, recipients...)
}

// Restore decrypts the age backup r with identities and restores it into a
// new profile in cfg.Dir protected by pin, with cfg.Vault's options. cfg.Dir
// must not hold a profile (vault.ErrExists). The restored profile is left
// locked: unlock it with Open. If the restore fails, nothing is left of the
// new profile.
func Restore(ctx context.Context, cfg Config, r io.Reader, pin []byte, identities ...age.Identity) error {
	v, err := vault.Restore(ctx, r, cfg.Dir, pin, &cfg.Vault, identities...)
	if err != nil {
		return err
	}
	return v.Lock()
}
