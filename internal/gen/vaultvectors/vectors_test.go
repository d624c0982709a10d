package vaultvectors

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"veil/internal/gen/vectorfile"
)

// TestVectors regenerates the vectors from their seeds and checks them
// byte for byte against the committed file (or rewrites it with -update).
func TestVectors(t *testing.T) { vectorfile.Check(t, File, Generate) }

// TestVectorNumbersAreExact checks every vector file under spec/vectors,
// not only this generator's: a JSON number must be an integer that a
// double holds exactly (|n| ≤ 2^53), so that a reader in any language gets
// the value the generator wrote. Larger values are written as decimal
// strings (spec/implementing.md).
func TestVectorNumbersAreExact(t *testing.T) {
	root := filepath.Join("..", "..", "..", "spec", "vectors")
	files, err := filepath.Glob(filepath.Join(root, "*", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vector files under %s: %v", root, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		walkNumbers(v, func(n json.Number) {
			i, err := strconv.ParseInt(string(n), 10, 64)
			if err != nil || i > 1<<53 || i < -(1<<53) {
				t.Errorf("%s: number %s is not an integer a double holds exactly; write it as a string", f, n)
			}
		})
	}
}

func walkNumbers(v any, f func(json.Number)) {
	switch v := v.(type) {
	case json.Number:
		f(v)
	case []any:
		for _, e := range v {
			walkNumbers(e, f)
		}
	case map[string]any:
		for _, e := range v {
			walkNumbers(e, f)
		}
	}
}
