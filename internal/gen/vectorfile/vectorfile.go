// Package vectorfile checks a vector generator's output against its
// committed file under spec/vectors byte for byte, for the generators'
// tests. With -update it rewrites the file first.
package vectorfile

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the committed vector files from their generators")

// Check generates file (a path from the module root, slash-separated)
// twice and fails t unless both runs agree with each other and with the
// committed bytes. The calling test runs two directories below the
// module's internal/gen.
func Check(t testing.TB, file string, generate func() ([]byte, error)) {
	t.Helper()
	got, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "..", filepath.FromSlash(file))
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from what the generator produces (run with -update after a deliberate change)", file)
	}
	again, err := generate()
	if err != nil || !bytes.Equal(again, got) {
		t.Fatalf("the generator of %s is not deterministic", file)
	}
}
