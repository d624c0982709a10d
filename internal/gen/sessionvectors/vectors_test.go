package sessionvectors

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite "+File+" and "+ResetFile)

// TestVectors regenerates the vectors from their seeds and checks them
// byte for byte against the committed file (or rewrites it with -update).
func TestVectors(t *testing.T) {
	check(t, File, Generate)
	check(t, ResetFile, GenerateReset)
}

func check(t *testing.T, file string, Generate func() ([]byte, error)) {
	t.Helper()
	got, err := Generate()
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
	again, err := Generate()
	if err != nil || !bytes.Equal(again, got) {
		t.Fatal("the generator is not deterministic")
	}
}
