package client

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// An out that is a link to a directory is the link itself, never the
// directory (spec/api.md file.save): with force the link is replaced.
func TestSaveReplacesLinkToDirectory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	pump(t, ben, ana, chat)
	src, _ := writeTestFile(t, t.TempDir(), "report.pdf", 1000)
	id, err := ana.SendFile(ctx, chat, src, SendFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ana.SaveFile(ctx, chat, id, filepath.Join(t.TempDir(), "early"), false); !errors.Is(err, ErrFileNotReady) {
		t.Fatalf("our file saved while preparing: %v", err)
	}
	// Once its upload has begun, our own file is saveable (spec/client.md §7.8).
	if err := ana.setFileState(ctx, chat, id, FileUploading, 0); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	elsewhere := filepath.Join(dir, "elsewhere")
	if err := os.Mkdir(elsewhere, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "out")
	if err := os.Symlink(elsewhere, link); err != nil {
		t.Fatal(err)
	}
	got, _, err := ana.SaveFile(ctx, chat, id, link, true)
	if err != nil {
		t.Fatal(err)
	}
	if fi, lerr := os.Lstat(link); lerr != nil || fi.Mode()&os.ModeSymlink != 0 {
		t.Fatalf("force did not replace the link %s; the file went to %s (through the link)", link, got)
	}
}
