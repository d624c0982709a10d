package client

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"veil/client/internal/format"
	"veil/relay/relaytest"
	"veil/vault"
)

// TestFileNamesHoldNoInvisibleCharacters: a file name holds none of the
// characters a screen draws as nothing (spec/files.md §4.2 step 3: every
// one SanitizeLine drops, U+034F, the Hangul fillers U+3164 and U+115F,
// variation selectors), so the name shown is the name saved: the sender
// drops them, and a name that still has them is refused.
func TestFileNamesHoldNoInvisibleCharacters(t *testing.T) {
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

// TestInvisibleNameRulesMatchTheScreen: the file-name rules refuse
// exactly the invisible characters the screen sanitiser drops, and runs
// of spaces, so no accepted name is shown differently from how it is
// saved, and blanks cannot push an extension out of sight.
func TestInvisibleNameRulesMatchTheScreen(t *testing.T) {
	t.Parallel()
	for r := rune(0); r <= 0x10ffff; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue
		}
		if testing.Short() && r > 0x2ffff && (r < 0xe0000 || r > 0xe0fff) {
			continue // -short: the planes with invisible characters (0-2, 14)
		}
		name := "a" + string(r) + "b.txt"
		if format.CheckFileName(name) == nil && SanitizeLine(name) != name {
			t.Errorf("%U: accepted in a file name, but the screen shows %+q", r, SanitizeLine(name))
		}
	}
	for _, c := range []struct{ in, want string }{
		{"invoice.pdf" + strings.Repeat(" ", 40) + ".exe", "invoice.pdf .exe"},
		{"a \u3000\u00a0b.txt", "a b.txt"},
		{"a\u00a0b.txt", "a\u00a0b.txt"},
		{"a \u034f b.txt", "a b.txt"},
	} {
		if got := format.SanitizeFileName(c.in); got != c.want {
			t.Errorf("SanitizeFileName(%+q) = %+q, want %+q", c.in, got, c.want)
		}
	}
	err := format.CheckFileName("invoice.pdf      .exe")
	if err == nil || !strings.Contains(err.Error(), "several spaces in a row") {
		t.Errorf("a name with a run of spaces: %v", err)
	}
}

// TestSaveWritesTheNameShown: a file kept from before the name rules
// refused invisible characters still has one in its stored name; saving
// writes the name the user is shown (FileInfo.Name), which is the name
// SaveTarget gives the TUI and the daemon to check before an overwrite.
func TestSaveWritesTheNameShown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	a, b, aChat, bChat := oneShotPair(t, r.Address.String())
	_, bid := sentOffered(t, a, b, aChat, bChat, "report.pdf", 1000, nil)
	if err := b.FetchFile(ctx, bChat, bid); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitTransfer(ctx, bChat, bid); err != nil {
		t.Fatal(err)
	}
	err := b.v.Update(ctx, func(tx *vault.Tx) error {
		m, err := tx.Message(bChat, bid)
		if err != nil {
			return err
		}
		fm, mm := fileOf(&m)
		fm.Name = "report\u034f.pdf"
		setMeta(&m, &mm)
		return tx.PutMessage(&m)
	})
	if err != nil {
		t.Fatal(err)
	}
	fi := fileState(t, b.Engine, bChat, bid)
	if fi.Name != "report.pdf" {
		t.Fatalf("shown name %+q", fi.Name)
	}
	dir := t.TempDir()
	target := SaveTarget(dir, fi.Name)
	if err := os.WriteFile(target, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.SaveFile(ctx, bChat, bid, dir, false); !errors.Is(err, fs.ErrExist) && !errors.Is(err, vault.ErrExists) {
		t.Fatalf("saving over the file the user was shown, without force: %v", err)
	}
	out, _, err := b.SaveFile(ctx, bChat, bid, dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if out != target {
		t.Fatalf("checked %+q, wrote %+q", target, out)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("%d files in the folder, want the one replaced", len(ents))
	}
}
