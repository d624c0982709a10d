package format

import "testing"

// TestWindowsNamesAccepted: names that on Windows are devices (CON, NUL,
// COM1, LPT1, also with an extension), an NTFS alternate data stream
// ("a:b") or characters Windows forbids pass the receiver's check.
func TestWindowsNamesAccepted(t *testing.T) {
	for _, s := range []string{"CON", "nul.txt", "COM1", "LPT1.pdf", "report.pdf:hidden", `a<b>c|d?e*f"g`, "C:evil"} {
		if CheckFileName(s) == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
