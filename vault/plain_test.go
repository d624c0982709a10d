package vault

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

// noTemp fails if WritePlain left a temporary file in dir.
func noTemp(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".veil-") {
			t.Fatalf("temporary file %s left", e.Name())
		}
	}
}

func TestWritePlain(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "report.pdf")
	if err := WritePlain(out, false, writeString("one")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) != "one" {
		t.Fatalf("content %q", b)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	// No overwrite without force.
	err := WritePlain(out, false, writeString("two"))
	if !errors.Is(err, ErrFileExists) || !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "report.pdf exists") {
		t.Fatalf("overwrite: %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "one" {
		t.Fatal("refused write changed the file")
	}
	if err := WritePlain(out, true, writeString("three")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) != "three" {
		t.Fatalf("forced content %q", b)
	}
	// A failing fill leaves nothing.
	boom := errors.New("boom")
	if err := WritePlain(filepath.Join(dir, "new"), false, func(io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "new")); err == nil {
		t.Fatal("a failed write left the file")
	}
	// A directory is refused, with or without force.
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o700)
	for _, force := range []bool{false, true} {
		if err := WritePlain(sub, force, writeString("x")); err == nil {
			t.Fatalf("wrote over a directory (force %v)", force)
		}
	}
	noTemp(t, dir)
}

// TestWritePlainSymlink: a symlink at the target is never followed: it is
// refused without force, replaced itself with force, and its target is
// never written.
func TestWritePlainSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "authorized_keys")
	os.WriteFile(target, []byte("keep"), 0o600)
	link := filepath.Join(dir, "report.pdf")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{link, dangling} {
		if err := WritePlain(p, false, writeString("evil")); !errors.Is(err, ErrFileExists) {
			t.Fatalf("%s: %v", filepath.Base(p), err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); err == nil {
		t.Fatal("a dangling symlink was followed")
	}
	if err := WritePlain(link, true, writeString("new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Fatal("the symlink's target was written")
	}
	fi, err := os.Lstat(link)
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("the symlink was not replaced: %v", fi.Mode())
	}
	if b, _ := os.ReadFile(link); string(b) != "new" {
		t.Fatalf("content %q", b)
	}
	noTemp(t, dir)
}
