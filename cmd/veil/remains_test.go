package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"veil/client"
	"veil/crypto"
	"veil/vault"
)

// TestE2EErasedRemainsRemoved: an erase that stopped after the vault's
// part (a crash, a kill, Ctrl-C before the relay directory went) is
// finished by the next command: the embedded relay's directory, whose
// identity ties the device to every invite, goes with the rest.
func TestE2EErasedRemainsRemoved(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		remove []string // under the vault directory; nil: all of it
	}{
		{"vault directory gone", nil},
		{"key file gone, data left", []string{"vault.key"}},
		{"key file and data gone, lock left", []string{"vault.key", "vault.state", "data"}},
	} {
		p := newProfile(t, "")
		p.ok("invite")
		vdir := filepath.Join(p.home, vaultDirName)
		if _, err := os.Stat(filepath.Join(p.home, relayDirName, "identity.key")); err != nil {
			t.Fatalf("%s: no embedded relay to leave behind: %v", tc.name, err)
		}
		if tc.remove == nil {
			tc.remove = []string{""}
		}
		for _, name := range tc.remove {
			if err := os.RemoveAll(filepath.Join(vdir, name)); err != nil {
				t.Fatal(err)
			}
		}
		if e := p.fails(1, "chats"); !strings.Contains(e, "run veil init first") {
			t.Fatalf("%s: %q", tc.name, e)
		}
		wantNothing(t, p.home, tc.name)
		p.ok("init") // a new profile in the same place
	}
}

// TestBringUpReplacesRelayDespiteCancel: after a duress unlock, the decoy's
// setup replaces the erased profile's relay directory even when the
// command's context is already cancelled (Ctrl-C).
func TestBringUpReplacesRelayDespiteCancel(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	cfg := client.Config{Dir: filepath.Join(home, vaultDirName),
		Vault: vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1, MemTableSize: 1 << 20}}
	pin, duress := []byte("real pin"), []byte("duress pin")
	eng, err := client.Create(ctx, cfg, pin, client.CreateOptions{DuressPIN: duress})
	if err != nil {
		t.Fatal(err)
	}
	s := &session{home: home, eng: eng}
	if err := s.setupEmbedded(ctx); err != nil {
		t.Fatal(err)
	}
	s.close()
	idFile := filepath.Join(home, relayDirName, "identity.key")
	old, err := os.ReadFile(idFile)
	if err != nil {
		t.Fatal(err)
	}

	eng, err = client.Open(ctx, cfg, duress)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	s = &session{home: home, eng: eng}
	if err := s.bringUp(cancelled, func() {}); err == nil {
		t.Fatal("bringUp with a cancelled context started the relay")
	}
	s.close()
	now, err := os.ReadFile(idFile)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(now, old) {
		t.Fatal("the erased profile's relay identity survived a cancelled bringUp")
	}
}
