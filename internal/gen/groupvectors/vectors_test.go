package groupvectors

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite "+File)

// TestEncodings regenerates EncodingsFile and checks it byte for byte (or
// rewrites it with -update).
func TestEncodings(t *testing.T) {
	got, err := GenerateEncodings()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "..", filepath.FromSlash(EncodingsFile))
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
		t.Fatalf("%s differs from what the generator produces (run with -update after a deliberate change)", EncodingsFile)
	}
}

// TestVectors regenerates the vectors from their seeds and checks them
// byte for byte against the committed file (or rewrites it with -update).
func TestVectors(t *testing.T) {
	got, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "..", filepath.FromSlash(File))
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
		t.Fatalf("%s differs from what the generator produces (run with -update after a deliberate change)", File)
	}
	again, err := Generate()
	if err != nil || !bytes.Equal(again, got) {
		t.Fatal("the generator is not deterministic")
	}
}

// TestRelays regenerates RelaysFile and checks it byte for byte (or
// rewrites it with -update).
func TestRelays(t *testing.T) {
	got, err := GenerateRelays()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "..", filepath.FromSlash(RelaysFile))
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
		t.Fatalf("%s differs from what the generator produces (run with -update after a deliberate change)", RelaysFile)
	}
}
