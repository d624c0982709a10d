package sessionvectors

import (
	"testing"

	"veil/internal/gen/vectorfile"
)

// TestVectors regenerates the vectors from their seeds and checks them
// byte for byte against the committed file (or rewrites it with -update).
func TestVectors(t *testing.T) {
	vectorfile.Check(t, File, Generate)
	vectorfile.Check(t, ResetFile, GenerateReset)
	vectorfile.Check(t, PQFile, GeneratePQ)
}
