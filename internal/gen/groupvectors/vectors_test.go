package groupvectors

import (
	"testing"

	"veil/internal/gen/vectorfile"
)

// TestEncodings regenerates EncodingsFile and checks it byte for byte (or
// rewrites it with -update).
func TestEncodings(t *testing.T) { vectorfile.Check(t, EncodingsFile, GenerateEncodings) }

// TestVectors regenerates the vectors from their seeds and checks them
// byte for byte against the committed file (or rewrites it with -update).
func TestVectors(t *testing.T) { vectorfile.Check(t, File, Generate) }

// TestRelays regenerates RelaysFile and checks it byte for byte (or
// rewrites it with -update).
func TestRelays(t *testing.T) { vectorfile.Check(t, RelaysFile, GenerateRelays) }
