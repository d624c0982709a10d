package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDuressRelayIdentityOverwritten checks SECURITY.md, "A coerced
// user": the embedded relay's directory ("its identity key and store,
// which would tie the device to every invite the profile issued") "goes at
// once" with a duress unlock, and spec/client.md §10.2: "nothing of the
// erased profile's relay remains". The vault overwrites its key file in
// place before unlinking it (spec/vault.md §7.1), so the blocks an erase
// frees hold only noise; the relay's identity key is a plaintext seed in
// a file of its own. A descriptor held across the duress unlock reads the
// blocks the unlink freed: if they still hold the old seed, an examiner
// who images the disk after the duress PIN finds it at the start of a
// freed block, derives the relay's fingerprint and matches it to an
// invite the erased profile issued.
func TestDuressRelayIdentityOverwritten(t *testing.T) {
	t.Parallel()
	duress := secretFile(t, "battery staple")
	p := newProfile(t, "", "--duress-pin-file", duress)
	p.ok("invite")
	relayDir := filepath.Join(p.home, relayDirName)
	idFile := filepath.Join(relayDir, "identity.key")
	old, err := os.ReadFile(idFile)
	if err != nil {
		t.Fatal(err)
	}
	// Hold every file of the relay directory open across the erase.
	held := map[string]*os.File{}
	before := map[string][]byte{}
	err = filepath.WalkDir(relayDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Close()
			return err
		}
		held[path], before[path] = f, b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, f := range held {
			f.Close()
		}
	})

	if _, e, code := p.runPIN(duress, "chats"); code != 0 {
		t.Fatalf("duress unlock: exit %d: %s", code, e)
	}
	now, err := os.ReadFile(idFile)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(now, old) {
		t.Fatal("the decoy kept the erased profile's relay identity")
	}

	freed := make([]byte, len(old))
	if _, err := held[idFile].ReadAt(freed, 0); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(freed, old) {
		t.Errorf("the erased profile's relay identity seed (%d bytes) is still in the blocks its unlink freed: it was not overwritten before the unlink", len(old))
	}
	var intact []string
	for path, f := range held {
		if path == idFile || len(before[path]) == 0 {
			continue
		}
		b := make([]byte, len(before[path]))
		if n, _ := f.ReadAt(b, 0); n == len(b) && bytes.Equal(b, before[path]) {
			rel, _ := filepath.Rel(relayDir, path)
			intact = append(intact, rel)
		}
	}
	if len(intact) > 0 {
		t.Errorf("the erased profile's relay store, which is not encrypted, is left intact in freed blocks: %s", strings.Join(intact, ", "))
	}
}
