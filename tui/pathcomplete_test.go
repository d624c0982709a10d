package tui

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// pathTree makes a temporary directory with files, directories, a
// hidden file and a link to a directory.
func pathTree(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, f := range []string{"report.pdf", "report-old.pdf", "photo.png", ".hidden", "docs/a.txt", "docs/b.txt", "données/x", "café", "cafè"} {
		p := filepath.Join(d, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(d, "docs"), filepath.Join(d, "linkdir")); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCompletePath(t *testing.T) {
	d := pathTree(t)
	for _, c := range []struct {
		typed, want string
		names       []string
	}{
		{d + "/ph", d + "/photo.png", nil},
		{d + "/rep", d + "/report", []string{"report-old.pdf", "report.pdf"}},
		{d + "/do", d + "/do", []string{"docs/", "données/"}},
		{d + "/doc", d + "/docs/", nil},
		{d + "/docs/", d + "/docs/", []string{"a.txt", "b.txt"}},
		{d + "/lin", d + "/linkdir/", nil},
		{d + "/.h", d + "/.hidden", nil},
		{d + "/h", d + "/h", nil},
		{d + "/zzz", d + "/zzz", nil},
		{d + "/nodir/x", d + "/nodir/x", nil},
		{d + "/ca", d + "/caf", []string{"cafè", "café"}},
	} {
		got, names := completePath(c.typed, "")
		if got != c.want || !slices.Equal(names, c.names) {
			t.Errorf("%q: got %q %q, want %q %q", c.typed, got, names, c.want, c.names)
		}
	}
	// Hidden entries show only for a typed dot.
	if _, names := completePath(d+"/", ""); slices.Contains(names, ".hidden") {
		t.Errorf("a hidden file offered: %q", names)
	}
}

func TestCompletePathHomeAndRelative(t *testing.T) {
	d := pathTree(t)
	if got, _ := completePath("~", d); got != "~/" {
		t.Errorf("~: %q", got)
	}
	if got, _ := completePath("~/ph", d); got != "~/photo.png" {
		t.Errorf("~/ph: %q", got)
	}
	if got, _ := completePath("~/docs/a", d); got != "~/docs/a.txt" {
		t.Errorf("~/docs/a: %q", got)
	}
	t.Chdir(d)
	if got, _ := completePath("ph", ""); got != "photo.png" {
		t.Errorf("ph: %q", got)
	}
	if got, _ := completePath("./docs/b", ""); got != "./docs/b.txt" {
		t.Errorf("./docs/b: %q", got)
	}
	abs, err := resolvePath("~/docs/a.txt", d)
	if err != nil || abs != filepath.Join(d, "docs/a.txt") {
		t.Errorf("resolve ~: %q %v", abs, err)
	}
	abs, err = resolvePath("docs", "")
	if err != nil || abs != filepath.Join(d, "docs") {
		t.Errorf("resolve relative: %q %v", abs, err)
	}
	if _, err := resolvePath("~/x", ""); err == nil {
		t.Error("~ without a home resolved")
	}
}

// TestCompletePathReadsAtMost200: a huge directory is read no further than
// maxDirEntries entries.
func TestCompletePathReadsAtMost200(t *testing.T) {
	d := t.TempDir()
	for i := range 3 * maxDirEntries {
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%04d", i)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, names := completePath(d+"/f", "")
	if len(names) != maxDirEntries {
		t.Fatalf("%d candidates, want %d", len(names), maxDirEntries)
	}
}
