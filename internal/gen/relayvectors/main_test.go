package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedVectors checks that spec/vectors/relay/ holds exactly what
// the generator produces (rerun `go run ./internal/gen/relayvectors`).
func TestCommittedVectors(t *testing.T) {
	files, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Fatalf("generated %d files, want 4", len(files))
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("..", "..", "..", "spec", "vectors", "relay", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator's output; rerun go run ./internal/gen/relayvectors", name)
		}
	}
}

// TestDeterministic checks that two runs give identical output.
func TestDeterministic(t *testing.T) {
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	for name := range a {
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s differs between runs", name)
		}
	}
}
