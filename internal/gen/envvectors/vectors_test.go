package envvectors

import (
	"testing"

	"veil/internal/gen/vectorfile"
)

// TestVectors regenerates File and checks it byte for byte (or rewrites it
// with -update).
func TestVectors(t *testing.T) { vectorfile.Check(t, File, Generate) }
