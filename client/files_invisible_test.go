package client

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"veil/relay/relaytest"
)

// TestInvisibleCharactersInFileNames: SECURITY.md promises that a
// receiver accepts no file name with "control, bidi or zero-width
// characters", and spec/files.md §4.2 that a name cannot "draw on a
// terminal". But names keep the default-ignorable characters that are
// not of category Cf: U+034F COMBINING GRAPHEME JOINER (zero width), the
// Hangul fillers U+3164 and U+115F (drawn blank), variation selectors.
// Every screen shows a name through SanitizeLine, which drops exactly
// these, so the user is shown one name ("report.pdf") and veil writes
// another to the disk ("report\u034f.pdf"): two files that look alike
// in a folder, and the TUI's overwrite check (which looks at the shown
// name) looks at another file than the one written.
func TestInvisibleCharactersInFileNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	a, b, aChat, bChat := oneShotPair(t, r.Address.String())
	for _, name := range []string{"report\u034f.pdf", "photo\u3164.jpg", "\u115fnotes.txt", "scan.pdf\ufe0f"} {
		shown := SanitizeLine(name)
		if shown == name {
			t.Fatalf("%q: the test needs a name SanitizeLine changes", name)
		}
		if err := b.SetAutoDownloadLimit(0); err != nil {
			t.Fatal(err)
		}
		path, _ := writeTestFile(t, t.TempDir(), name, 1000)
		id, err := a.SendFile(ctx, aChat, path, SendFileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.WaitTransfer(ctx, aChat, id); err != nil {
			t.Fatal(err)
		}
		a.kickOutbox()
		ev := b.waitFor(t, "file "+shown, func(ev Event) bool {
			return ev.Type == EventMessage && ev.Chat == bChat && (ev.Text == shown || strings.Contains(ev.Text, "refused"))
		})
		fi := fileState(t, b.Engine, bChat, ev.Message)
		if fi.State == FileRefused {
			continue // refused as promised
		}
		if err := b.FetchFile(ctx, bChat, ev.Message); err != nil {
			t.Fatal(err)
		}
		if err := b.WaitTransfer(ctx, bChat, ev.Message); err != nil {
			t.Fatal(err)
		}
		out, _, err := b.SaveFile(ctx, bChat, ev.Message, t.TempDir(), false)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(out) != SanitizeLine(fi.Name) {
			t.Errorf("accepted %+q: the user is shown %+q, veil wrote %+q", fi.Name, SanitizeLine(fi.Name), filepath.Base(out))
		}
	}
}
