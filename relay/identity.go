package relay

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"veil/crypto"
)

// IdentityFile is the name of the identity key file in the data
// directory (spec/relay.md §3.1).
const IdentityFile = "identity.key"

// LoadOrCreateIdentity reads the relay's Ed25519 identity seed from
// dir/identity.key, creating the directory and a fresh key (mode 0600)
// on first start. The key must be kept secret: whoever holds it can
// impersonate the relay.
func LoadOrCreateIdentity(dir string) (crypto.SignPrivate, error) {
	k, err := LoadIdentity(dir)
	if !errors.Is(err, ErrNoIdentity) {
		return k, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return crypto.SignPrivate{}, fmt.Errorf("relay: creating data directory: %w", err)
	}
	k, err = crypto.GenerateSign(nil)
	if err != nil {
		return crypto.SignPrivate{}, err
	}
	path := filepath.Join(dir, IdentityFile)
	seed := k.Seed()
	defer crypto.Wipe(seed)
	// Write to a temporary file and rename, so a crash never leaves a
	// half-written key behind.
	tmp, err := os.CreateTemp(dir, IdentityFile+".tmp*")
	if err != nil {
		return crypto.SignPrivate{}, fmt.Errorf("relay: writing identity key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		_, err = tmp.Write(seed)
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err != nil {
			return crypto.SignPrivate{}, fmt.Errorf("relay: writing identity key: %w", err)
		}
	} else {
		tmp.Close()
		return crypto.SignPrivate{}, fmt.Errorf("relay: writing identity key: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return k, nil
}

// ErrNoIdentity is LoadIdentity's error for a data directory without an
// identity key.
var ErrNoIdentity = errors.New("relay: no identity key in the data directory")

// LoadIdentity reads the relay's identity key from dir and never creates
// one: for a directory without it, the error wraps ErrNoIdentity.
func LoadIdentity(dir string) (crypto.SignPrivate, error) {
	b, err := os.ReadFile(filepath.Join(dir, IdentityFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return crypto.SignPrivate{}, fmt.Errorf("%w %s (it is made when the relay first starts there)", ErrNoIdentity, dir)
	case err != nil:
		return crypto.SignPrivate{}, fmt.Errorf("relay: reading identity key: %w", err)
	}
	defer crypto.Wipe(b)
	k, err := crypto.ParseSignPrivate(b)
	if err != nil {
		return crypto.SignPrivate{}, fmt.Errorf("relay: identity key file %s is corrupt (want %d bytes)", IdentityFile, crypto.KeySize)
	}
	return k, nil
}
