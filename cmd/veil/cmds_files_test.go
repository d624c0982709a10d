package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "off": 0, "8MB": 8_000_000, "8m": 8_000_000, "500k": 500_000, "1G": 1_000_000_000, "1.5MB": 1_500_000, "1234": 1234, "12b": 12} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "MB", "8TB", "1e20", "lots", "nan", "NaNMB", "inf", "-0x1p3"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) took it", in)
		}
	}
}

// TestSaveTarget: the default path is ./NAME, a directory gets NAME inside
// it, and a name that would leave the directory is refused.
func TestSaveTarget(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if got, err := saveTarget("a.txt", ""); err != nil || got != filepath.Join(dir, "a.txt") {
		t.Fatalf("default: %q %v", got, err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if got, err := saveTarget("a.txt", "sub"); err != nil || got != filepath.Join(sub, "a.txt") {
		t.Fatalf("into a directory: %q %v", got, err)
	}
	if got, err := saveTarget("a.txt", "b.txt"); err != nil || got != filepath.Join(dir, "b.txt") {
		t.Fatalf("--out: %q %v", got, err)
	}
	for _, bad := range []string{"", ".", "..", "../x", "a/b", "/etc/passwd"} {
		if got, err := saveTarget(bad, ""); err == nil {
			t.Errorf("name %q saved to %q", bad, got)
		}
	}
}

// FuzzParseSize: whatever the user types, a size that parses is between
// 0 and 10^15 bytes, and nothing panics.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"8MB", "off", "1.5g", "nan", "1e15", "0x10k", " 12 b "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err == nil && (n < 0 || n > 1e15) {
			t.Fatalf("parseSize(%q) = %d", s, n)
		}
	})
}
