package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"veil/client"
	"veil/relay/relaytest"
)

// TestFilesAnswerFitsLine attacks spec/api.md §4.6 under the line bound
// of §2 (a line is at most 1,048,576 bytes). A chat's file messages are
// not bounded in number: a contact who sends a few thousand file messages
// with long names (spec/files.md allows 255 bytes) must not make the
// chat's files unlistable. files pages as read does; every page must be
// answered and the pages together must list every file message once. The
// messages here are sent on our side, which fills the list the same way
// without a second profile.
func TestFilesAnswerFitsLine(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 2,400 file messages")
	}
	r := relaytest.Start(t)
	s, p := unlockedServer(t, Config{}, r.Address.String())
	c := pipe(t, s)
	var g ChatResult
	must(t, c, "group.create", map[string]any{"name": "files"}, &g)
	name := strings.Repeat("a", 251) + ".txt"
	src := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(src, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	eng := p.lastEngine()
	const n = 2400
	for i := range n {
		if _, err := eng.SendFile(context.Background(), g.Chat, src, client.SendFileOptions{}); err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
	}
	seen := map[string]bool{}
	pages := 0
	for before := ""; ; pages++ {
		var fr FilesResult
		if err := do(t, c, "files", map[string]any{"chat": g.Chat, "before": before}, &fr); err != nil {
			t.Fatalf("files page %d of a chat with %d file messages: %v", pages+1, n, err)
		}
		for _, f := range fr.Files {
			if seen[f.ID] {
				t.Fatalf("file %s listed twice", f.ID)
			}
			seen[f.ID] = true
		}
		if !fr.More {
			break
		}
		before = fr.Files[0].ID
	}
	if len(seen) != n || pages < 1 {
		t.Fatalf("the pages listed %d of %d files in %d more pages", len(seen), n, pages)
	}
	var two FilesResult
	must(t, c, "files", map[string]any{"chat": g.Chat, "limit": 2}, &two)
	if len(two.Files) != 2 || !two.More {
		t.Fatalf("limit 2: %d files, more %v", len(two.Files), two.More)
	}
}
