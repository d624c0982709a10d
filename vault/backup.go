package vault

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"

	"veil/crypto"
)

// Backup format inside the age file, spec/vault.md §10.
const (
	backupMagic    = "veil-vault-backup/v1\n"
	maxBackupKeys  = chatKeysMaxBytes
	loadMaxPending = 16
)

// Backup writes the whole vault (records and chat keys) to w as one
// standard age file encrypted to recipients: an age.ScryptRecipient for a
// passphrase, or X25519 recipients. Updates wait while it runs, so the
// backup is one consistent snapshot.
func (v *Vault) Backup(ctx context.Context, w io.Writer, recipients ...age.Recipient) error {
	if len(recipients) == 0 {
		return errors.New("vault: backup needs at least one age recipient")
	}
	release, err := v.use()
	if err != nil {
		return err
	}
	defer release()
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	aw, err := age.Encrypt(w, recipients...)
	if err != nil {
		return fmt.Errorf("vault: backup: %w", err)
	}
	keys := v.keys.snapshot()
	table := encodeChatKeys(keys)
	for c := range keys {
		keys[c] = crypto.SymKey{}
	}
	defer crypto.Wipe(table)
	bw := bufio.NewWriter(aw)
	bw.WriteString(backupMagic)
	bw.Write(binary.BigEndian.AppendUint32(nil, uint32(len(table))))
	bw.Write(table)
	if _, err := v.db.Backup(bw, 0); err != nil {
		return fmt.Errorf("vault: backup: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("vault: backup: %w", err)
	}
	if err := aw.Close(); err != nil {
		return fmt.Errorf("vault: backup: %w", err)
	}
	return nil
}

// Restore decrypts an age backup with identities (an age.ScryptIdentity
// for a passphrase) and restores it into a new vault in dir, protected by
// pin, with a new data key. dir must not hold a vault. The new vault holds
// a RestoreMark (spec/vault.md §10.1). Its key file is written last, so
// until Restore returns nothing can open it. If the restore fails, the
// partly restored new vault is erased; nothing else is touched.
func Restore(ctx context.Context, r io.Reader, dir string, pin []byte, opts *Options, identities ...age.Identity) (*Vault, error) {
	ar, err := age.Decrypt(r, identities...)
	if err != nil {
		return nil, fmt.Errorf("vault: restore: %w", err)
	}
	br := bufio.NewReader(ar)
	magic := make([]byte, len(backupMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != backupMagic {
		return nil, corrupt("backup: not a veil vault backup")
	}
	var n [4]byte
	if _, err := io.ReadFull(br, n[:]); err != nil {
		return nil, corrupt("backup: truncated")
	}
	ln := binary.BigEndian.Uint32(n[:])
	if ln > maxBackupKeys {
		return nil, corrupt("backup: chat-key table too large")
	}
	table := make([]byte, ln)
	defer crypto.Wipe(table)
	if _, err := io.ReadFull(br, table); err != nil {
		return nil, corrupt("backup: truncated")
	}
	keys, err := decodeChatKeys(table)
	if err != nil {
		return nil, err
	}
	o := resolve(opts)
	// The key file is written only once the stream is loaded and the mark
	// is in (spec/vault.md §10): a crash before leaves nothing that opens.
	v, err := create(ctx, dir, pin, nil, 0, opts, func(v *Vault) error {
		v.keys.mu.Lock()
		v.keys.keys = keys
		err := v.keys.commitLocked()
		v.keys.mu.Unlock()
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := loadBackup(v, br); err != nil {
			return err
		}
		if err := v.restoreWithoutFiles(ctx); err != nil {
			return err
		}
		if o.onRestoreLoaded != nil {
			o.onRestoreLoaded()
		}
		return markRestored(ctx, v, o.now())
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// loadBackup feeds Badger's backup stream into v's database. Badger may
// panic on a malformed stream; that is recovered as ErrCorrupt.
func loadBackup(v *Vault, r io.Reader) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = corrupt("backup: %v", p)
		}
	}()
	if err := v.db.Load(r, loadMaxPending); err != nil {
		return corrupt("backup: %v", err)
	}
	return nil
}
