package vault

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"filippo.io/age"
)

func scrypt(t *testing.T, pass string) (*age.ScryptRecipient, *age.ScryptIdentity) {
	t.Helper()
	r, err := age.NewScryptRecipient(pass)
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(10) // fast for tests; the CLI keeps age's default
	id, err := age.NewScryptIdentity(pass)
	if err != nil {
		t.Fatal(err)
	}
	return r, id
}

func dump(t *testing.T, v *Vault) (recs []any) {
	t.Helper()
	err := v.View(ctx, func(tx *Tx) error {
		p, err := tx.Profile()
		recs = append(recs, p, err)
		for _, f := range []func() (any, error){
			func() (any, error) { return tx.Contacts() },
			func() (any, error) { return tx.Chats() },
			func() (any, error) { return tx.Outbox() },
			func() (any, error) { return tx.Groups() },
			func() (any, error) { return tx.Messages("chat1", 0) },
		} {
			r, err := f()
			if err != nil {
				return err
			}
			recs = append(recs, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestBackupRestorePassphrase(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	defer v.Lock()
	fillSample(t, v)
	want := dump(t, v)
	rcpt, id := scrypt(t, "backup passphrase")
	var buf bytes.Buffer
	if err := v.Backup(ctx, &buf, rcpt); err != nil {
		t.Fatal(err)
	}
	backup := buf.Bytes()
	if !bytes.HasPrefix(backup, []byte("age-encryption.org/v1\n")) {
		t.Fatal("backup is not an age file")
	}
	if bytes.Contains(backup, []byte("General Kenobi")) {
		t.Fatal("plaintext in the backup")
	}
	// age's own Decrypt opens it: a plain age file.
	r, err := age.Decrypt(bytes.NewReader(backup), id)
	if err != nil {
		t.Fatalf("age.Decrypt: %v", err)
	}
	inner, err := io.ReadAll(r)
	if err != nil || !bytes.HasPrefix(inner, []byte(backupMagic)) {
		t.Fatalf("inner stream: %v, prefix %q", err, inner[:min(len(inner), 24)])
	}

	dir := filepath.Join(t.TempDir(), "restored")
	newPIN := []byte("4321")
	w, err := Restore(ctx, bytes.NewReader(backup), dir, newPIN, testOpts(nil), id)
	if err != nil {
		t.Fatal(err)
	}
	if got := dump(t, w); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored vault differs:\n got %+v\nwant %+v", got, want)
	}
	checkRestoreMark(t, v, false)
	checkRestoreMark(t, w, true)
	if w.dataKey == v.dataKey {
		t.Error("restored vault reuses the old data key")
	}
	hits, err := w.Search(ctx, "kenobi", "", 0)
	if err != nil || len(hits) != 1 {
		t.Fatalf("search in restored vault: %v %v", hits, err)
	}
	mustLock(t, w)
	mustLock(t, mustOpen(t, dir, newPIN, testOpts(nil)))

	// Wrong passphrase, garbage, and an existing vault are clear errors.
	_, badID := scrypt(t, "wrong")
	if _, err := Restore(ctx, bytes.NewReader(backup), t.TempDir(), newPIN, testOpts(nil), badID); err == nil {
		t.Fatal("wrong passphrase accepted")
	}
	if _, err := Restore(ctx, strings.NewReader("not age"), t.TempDir(), newPIN, testOpts(nil), id); err == nil {
		t.Fatal("garbage accepted")
	}
	_, err = Restore(ctx, bytes.NewReader(backup), dir, newPIN, testOpts(nil), id)
	wantErr(t, err, ErrExists)
}

func TestBackupRestoreX25519(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	defer v.Lock()
	fillSample(t, v)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := v.Backup(ctx, &buf, id.Recipient()); err != nil {
		t.Fatal(err)
	}
	w, err := Restore(ctx, &buf, t.TempDir(), pin, testOpts(nil), id)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Lock()
	if !reflect.DeepEqual(dump(t, w), dump(t, v)) {
		t.Fatal("restored vault differs")
	}
	if err := v.Backup(ctx, io.Discard); err == nil {
		t.Fatal("backup without recipients accepted")
	}
}

// TestRestoreRejectsBadInner: an age file that decrypts but does not hold
// a vault backup is ErrCorrupt, and leaves no vault behind.
func TestRestoreRejectsBadInner(t *testing.T) {
	rcpt, id := scrypt(t, "pw")
	for name, inner := range map[string][]byte{
		"empty":          nil,
		"wrong magic":    []byte("something else entirely"),
		"truncated keys": append([]byte(backupMagic), 0, 0, 1, 0, 1),
		"bad stream":     append(append([]byte(backupMagic), 0, 0, 0, 4, 0, 0, 0, 0), bytes.Repeat([]byte{0xee}, 64)...),
	} {
		var buf bytes.Buffer
		w, _ := age.Encrypt(&buf, rcpt)
		w.Write(inner)
		w.Close()
		dir := t.TempDir()
		_, err := Restore(ctx, &buf, dir, pin, testOpts(nil), id)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
		if _, err := Open(ctx, dir, pin, testOpts(nil)); !errors.Is(err, ErrNoProfile) {
			t.Errorf("%s: a failed restore left a vault: %v", name, err)
		}
	}
}

// checkRestoreMark checks that v holds a restore mark exactly when want
// says so (spec/vault.md §10.1), and that deleting it is for good.
func checkRestoreMark(t *testing.T, v *Vault, want bool) {
	t.Helper()
	err := v.View(ctx, func(tx *Tx) error {
		m, err := tx.RestoreMark()
		if want && (err != nil || m.Restored.IsZero()) {
			t.Fatalf("restored vault without its mark: %v", err)
		}
		if !want && !errors.Is(err, ErrNotFound) {
			t.Fatalf("mark in a vault that was not restored: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !want {
		return
	}
	if err := v.Update(ctx, func(tx *Tx) error { return tx.DeleteRestoreMark() }); err != nil {
		t.Fatal(err)
	}
	checkRestoreMark(t, v, false)
}
