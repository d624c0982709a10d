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
// once" with a duress unlock, each file overwritten in place before its
// unlink, and spec/client.md §10.2: "nothing of the erased profile's relay
// remains". The relay's identity key is a plaintext seed in a file of its
// own and its store is not encrypted. A descriptor held across the erase
// reads the blocks the unlink freed: if they still held the old seed, an
// examiner who images the disk after the duress PIN would find it at the
// start of a freed block, derive the relay's fingerprint and match it to
// an invite the erased profile issued. The same holds for `veil wipe`
// (and so reset, panic and the erase policy, which share its removal).
func TestDuressRelayIdentityOverwritten(t *testing.T) {
	t.Parallel()
	duress := secretFile(t, "battery staple")
	for _, tc := range []struct {
		name  string
		erase func(p *profile)
	}{
		{"decoy duress unlock", func(p *profile) {
			if _, e, code := p.runPIN(duress, "chats"); code != 0 {
				t.Fatalf("duress unlock: exit %d: %s", code, e)
			}
		}},
		{"wipe", func(p *profile) { p.ok("wipe", "--yes") }},
	} {
		p := newProfile(t, "", "--duress-pin-file", duress)
		p.ok("invite")
		relayDir := filepath.Join(p.home, relayDirName)
		idFile := filepath.Join(relayDir, "identity.key")
		old, held, before := holdTree(t, relayDir, idFile)

		tc.erase(p)
		if now, err := os.ReadFile(idFile); err == nil && bytes.Equal(now, old) {
			t.Fatalf("%s: the erased profile's relay identity is still there", tc.name)
		}
		freed := make([]byte, len(old))
		if _, err := held[idFile].ReadAt(freed, 0); err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(freed, old) {
			t.Errorf("%s: the erased profile's relay identity seed (%d bytes) is still in the blocks its unlink freed: it was not overwritten before the unlink", tc.name, len(old))
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
			t.Errorf("%s: the erased profile's relay store, which is not encrypted, is left intact in freed blocks: %s", tc.name, strings.Join(intact, ", "))
		}
	}
}

// holdTree opens every regular file under dir and reads its contents; it
// returns idFile's contents, the open files (closed at the test's end)
// and what each held.
func holdTree(t *testing.T, dir, idFile string) ([]byte, map[string]*os.File, map[string][]byte) {
	t.Helper()
	held := map[string]*os.File{}
	before := map[string][]byte{}
	t.Cleanup(func() {
		for _, f := range held {
			f.Close()
		}
	})
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		held[path] = f
		before[path], err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(before[idFile]) == 0 {
		t.Fatalf("no relay identity in %s", dir)
	}
	return before[idFile], held, before
}
