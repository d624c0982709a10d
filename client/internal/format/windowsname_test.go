package format

import "testing"

// TestWindowsNamesRefused: names that on Windows are devices (CON, NUL,
// COM1, LPT1, also with an extension), an NTFS alternate data stream
// ("a:b") or characters Windows forbids fail the receiver's check, and
// sanitising makes them harmless names that pass it (spec/files.md §4.2).
func TestWindowsNamesRefused(t *testing.T) {
	for _, s := range []string{"CON", "nul.txt", "COM1", "LPT1.pdf", "report.pdf:hidden", `a<b>c|d?e*f"g`, "C:evil", "con .txt", "Com¹.x", "aux.tar.gz"} {
		if CheckFileName(s) == nil {
			t.Errorf("%q accepted", s)
		}
	}
	for in, want := range map[string]string{
		"CON":               "_CON",
		"nul.txt":           "_nul.txt",
		"LPT1.pdf":          "_LPT1.pdf",
		"report.pdf:hidden": "report.pdf_hidden",
		`a<b>c|d?e*f"g`:     "a_b_c_d_e_f_g",
		"C:evil":            "C_evil",
		"COM10":             "COM10",
		"CONSOLE.txt":       "CONSOLE.txt",
		"my nul.txt":        "my nul.txt",
	} {
		got := SanitizeFileName(in)
		if got != want {
			t.Errorf("SanitizeFileName(%q) = %q, want %q", in, got, want)
		}
		if err := CheckFileName(got); err != nil {
			t.Errorf("%q: %v", got, err)
		}
	}
}
