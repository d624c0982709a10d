package vault

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"veil/crypto"
)

// TestScanProfileForSecrets stores known plaintexts and keys, then reads
// every byte of every file under the profile directory, while the vault is
// open (Badger's write-ahead log) and after Lock: no plaintext and no key
// may appear.
func TestScanProfileForSecrets(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	pass, duress := []byte("PASSPHRASE-correct-horse-battery"), []byte("DURESS-passphrase-staple")
	v, err := Create(ctx, dir, pass, testOpts(clk))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.SetDuressPIN(ctx, duress, DuressDecoy); err != nil {
		t.Fatal(err)
	}
	if err := v.SetPolicy(Policy{WipeAfter: 10, DeadMan: 72 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	plain := []string{
		"PLAINTEXT-message-body-meet-at-the-north-gate",
		"PLAINTEXT-second-body-the-source-is-alice",
		"PLAINTEXT-profile-name-zoe",
		"PLAINTEXT-setting-value-onion-relay",
		"PLAINTEXT-contact-nickname-whistleblower",
		"SECRET-identity-private-key-bytes-0123456789",
		"SECRET-ratchet-state-root-key-abcdefghijk",
		"SECRET-relay-recipient-key-seed-zyxwvu",
		"PLAINTEXT-group-state-members-list",
		"PLAINTEXT-outbox-payload-ciphertext-stand-in",
		"chat-identifier-kept-private",
	}
	big := strings.Repeat("PLAINTEXT-large-body-in-the-value-log ", 3000) // > 64 KiB: Badger's value log
	err = v.Update(ctx, func(tx *Tx) error {
		p := Profile{Name: plain[2], Settings: map[string]string{"relay": plain[3]}}
		c := Contact{ID: "c1", Nickname: plain[4], OurIdentity: []byte(plain[5]), Ratchet: []byte(plain[6]),
			Relays: []RelayCap{{Address: "veil://x", RecvKey: []byte(plain[7])}}}
		ch := Chat{ID: plain[10], Kind: ChatDirect, ContactID: "c1"}
		g := Group{ID: "g1", State: []byte(plain[8] + big)} // > 64 KiB: unsealed in the value log
		o := OutboxItem{ID: "o1", ChatID: plain[10], Payload: []byte(plain[9])}
		for _, err := range []error{tx.PutProfile(&p), tx.PutContact(&c), tx.PutChat(&ch), tx.PutGroup(&g), tx.PutOutbox(&o)} {
			if err != nil {
				return err
			}
		}
		for i, body := range []string{plain[0], plain[1], big} {
			m := Message{ID: string(rune('a' + i)), ChatID: plain[10], Direction: Incoming, Body: []byte(body)}
			if err := tx.PutMessage(&m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Search(ctx, "north", "", 0); err != nil {
		t.Fatal(err)
	}
	// A file attachment: its chunks sealed under a local key in a blob
	// file under data/files (spec/vault.md §6.7).
	fileKey, err := crypto.NewLocalFileKey()
	if err != nil {
		t.Fatal(err)
	}
	filePlain := "PLAINTEXT-file-attachment-content-ledger"
	blob, err := v.CreateBlob(2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint32(2) {
		pt := []byte(strings.Repeat(filePlain, crypto.FileChunkPlain/len(filePlain)+1)[:crypto.FileChunkPlain])
		if err := blob.WriteChunk(i, crypto.SealLocalChunk(&fileKey, nil, i, 2, pt, FileAD(plain[10], "a"))); err != nil {
			t.Fatal(err)
		}
	}
	if err := blob.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v.Update(ctx, func(tx *Tx) error {
		return tx.PutFile(plain[10], "a", FileRecord{Blob: blob.Name(), Chunks: 2, Complete: true})
	}); err != nil {
		t.Fatal(err)
	}
	chatKey, ok := v.keys.get(plain[10])
	if !ok {
		t.Fatal("no chat key")
	}
	kb, _ := os.ReadFile(filepath.Join(dir, keyFileName))
	kf, err := parseKeyFile(kb)
	if err != nil {
		t.Fatal(err)
	}
	pinKey, duressKey := kf.pinKey(pass), kf.pinKey(duress)
	secrets := map[string][]byte{
		"data key":           bytes.Clone(v.dataKey[:]),
		"chat key":           bytes.Clone(chatKey[:]),
		"chat-key table key": bytes.Clone(v.keys.key[:]),
		"PIN-derived key":    bytes.Clone(pinKey[:]),
		"duress-derived key": bytes.Clone(duressKey[:]),
		"passphrase":         pass,
		"duress passphrase":  duress,
	}
	for _, p := range plain {
		secrets[p] = []byte(p)
	}
	// The state keys sealing the contact, group and profile (§6.6).
	for _, rk := range [][]byte{simpleKey(pfxContact, "c1"), simpleKey(pfxGroup, "g1"), {pfxProfile}} {
		ids := v.keys.recordIDs(stateKeyBase(rk), 0, false)
		if len(ids) == 0 {
			t.Fatalf("no state key for %q", rk)
		}
		for _, id := range ids {
			k, _ := v.keys.get(id)
			secrets["state key of "+string(rk)] = bytes.Clone(k[:])
		}
	}
	secrets["large body"] = []byte("PLAINTEXT-large-body-in-the-value-log")
	secrets["file content"] = []byte(filePlain)
	secrets["local file key"] = bytes.Clone(fileKey[:])
	// Half of each key too, to catch a key split across a boundary.
	for _, name := range []string{"data key", "chat key", "chat-key table key"} {
		secrets[name+" (first half)"] = secrets[name][:16]
	}

	scan := func(when string) int {
		t.Helper()
		n := 0
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			n += len(b)
			for name, s := range secrets {
				if bytes.Contains(b, s) {
					t.Errorf("%s: %s found in %s", when, name, filepath.Base(p))
				}
			}
			return nil
		})
		return n
	}
	if n := scan("open"); n < len(big) {
		t.Fatalf("scanned only %d bytes while open: the data is not on disk", n)
	}
	mustLock(t, v)
	if n := scan("locked"); n < len(big) {
		t.Fatalf("scanned only %d bytes after Lock", n)
	}
	// The scan must be able to fail: a plaintext written on purpose is found.
	os.WriteFile(filepath.Join(dir, "probe"), []byte(plain[0]), 0o600)
	found := false
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(plain[0])) {
			found = true
		}
		return nil
	})
	if !found {
		t.Fatal("the scan cannot find a planted plaintext")
	}
}
