package client

import (
	"strings"
	"testing"

	"veil/ratchet"
)

// TestGroupRecordV1Refused: a group record of groups v1 (no ML-KEM key)
// loads with an error that says what to do.
func TestGroupRecordV1Refused(t *testing.T) {
	t.Parallel()
	_, _, err := loadGroup(ratchet.Config{}, []byte(`{"v":1,"relay":"x"}`))
	if err == nil || !strings.Contains(err.Error(), "older veil; ask an admin for a new invite") {
		t.Fatalf("got %v", err)
	}
}
