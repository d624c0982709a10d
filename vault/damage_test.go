package vault

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// damageCase is one damaged copy of a vault: a function that changes the
// files of the copy in dir.
type damageCase struct {
	name   string
	damage func(t *testing.T, dir string)
	// expect checks the outcome of Open with the right PIN (err, and the
	// vault if it opened), given the files before and after the attempt.
	expect func(t *testing.T, err error, before, after map[string][]byte, dir string)
}

// goldenVault makes a vault holding the sample records and one message
// large enough to live in Badger's value log, locks it and returns its
// files by path relative to the profile directory.
func goldenVault(t *testing.T) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	fillSample(t, v)
	big := Message{ID: "big", ChatID: "chat1", Direction: Outgoing, Body: bytes.Repeat([]byte("x"), 2*valueThreshold), Sent: time.Now(), Status: StatusSent}
	if err := v.Update(ctx, func(tx *Tx) error { return tx.PutMessage(&big) }); err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)
	out := map[string][]byte{}
	for p, b := range snapshotDir(t, dir) {
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			t.Fatal(err)
		}
		out[rel] = b
	}
	for _, want := range []string{"MANIFEST", "KEYREGISTRY", "DISCARD", "000001.vlog"} {
		if _, ok := out[filepath.Join(dataDirName, badgerDirName, want)]; !ok {
			t.Fatalf("golden vault has no %s", want)
		}
	}
	return out
}

func writeGolden(t *testing.T, gold map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for rel, b := range gold {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// cuts are the damaged versions of one file: truncated to 0, 1, half and
// all but one byte, one byte flipped in the middle, deleted (nil).
func cuts(good []byte) map[string][]byte {
	out := map[string][]byte{"deleted": nil}
	for _, n := range []int{0, 1, len(good) / 2, len(good) - 1} {
		if n >= 0 && n < len(good) {
			out[fmt.Sprintf("cut to %d", n)] = good[:n:n]
		}
	}
	if len(good) > 0 {
		out["flipped middle"] = flip(good, len(good)/2)
	}
	return out
}

func setFile(t *testing.T, p string, b []byte) {
	t.Helper()
	var err error
	if b == nil {
		err = os.Remove(p)
	} else {
		err = os.WriteFile(p, b, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// wantCorrupt: ErrCorrupt and not one byte changed, no file added or removed.
func wantCorrupt(t *testing.T, err error, before, after map[string][]byte, _ string) {
	t.Helper()
	wantErr(t, err, ErrCorrupt)
	if !sameSnapshot(before, after) {
		t.Fatal("a failed open changed the profile")
	}
}

// wantIntact: the vault opened (Open has locked it again) and every
// record, the value-log message included, was readable.
func wantIntact(t *testing.T, err error, _, _ map[string][]byte, dir string) {
	t.Helper()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	v := mustOpen(t, dir, pin, testOpts(nil))
	defer mustLock(t, v)
	if isEmpty(t, v) {
		t.Fatal("data lost")
	}
	err = v.View(ctx, func(tx *Tx) error {
		ms, err := tx.Messages("chat1", 0)
		if err == nil && len(ms) != 4 {
			err = fmt.Errorf("%d messages, want 4", len(ms))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func damageCases(t *testing.T, gold map[string][]byte) []damageCase {
	var cases []damageCase
	names := make([]string, 0, len(gold))
	for rel := range gold {
		names = append(names, rel)
	}
	slices.Sort(names)
	for _, rel := range names {
		base := filepath.Base(rel)
		for how, b := range cuts(gold[rel]) {
			c := damageCase{name: rel + " " + how, damage: func(t *testing.T, dir string) { setFile(t, filepath.Join(dir, rel), b) }}
			switch {
			case base == "DISCARD":
				// Badger's value-log GC statistics: a hint it rebuilds, never
				// data. Damage there must not cost a record.
				c.expect = wantIntact
			case strings.HasPrefix(base, "chatkeys."):
				// One good copy of the chat-key table is enough (§6.2).
				c.expect = wantIntact
			case base == stateFileName && b == nil:
				// A missing state file is a fresh one (§5).
				c.expect = wantIntact
			case base == keyFileName && b == nil:
				// Without its key file the data is noise, and the
				// leftovers are those of an erase a crash interrupted:
				// Open finishes that erase (§7.1), so the profile is
				// gone as after a completed one.
				c.expect = func(t *testing.T, err error, before, after map[string][]byte, dir string) {
					wantErr(t, err, ErrNoProfile)
					if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
						t.Fatalf("an interrupted erase left %s (%v)", dir, err)
					}
				}
			case base == keyFileName && how == "flipped middle":
				// The middle of the key file is a slot; slots are
				// indistinguishable, so a damaged one is a wrong PIN, or
				// nothing at all if it was not the primary one.
				c.expect = func(t *testing.T, err error, before, after map[string][]byte, dir string) {
					if err == nil {
						wantIntact(t, err, before, after, dir)
						return
					}
					wantErr(t, err, ErrWrongPIN)
					if !sameSnapshot(before, after, stateFileName) {
						t.Fatal("profile changed")
					}
				}
			default:
				c.expect = wantCorrupt
			}
			cases = append(cases, c)
		}
	}
	// Both copies of the chat-key table damaged the same way.
	a, b := filepath.Join(dataDirName, chatKeyFiles[0]), filepath.Join(dataDirName, chatKeyFiles[1])
	ca, cb := cuts(gold[a]), cuts(gold[b])
	for how := range ca {
		cases = append(cases, damageCase{name: "both chat-key tables " + how, expect: wantCorrupt,
			damage: func(t *testing.T, dir string) {
				setFile(t, filepath.Join(dir, a), ca[how])
				setFile(t, filepath.Join(dir, b), cb[how])
			}})
	}
	return cases
}

// TestDamagedFiles opens, with the right PIN, copies of a vault with each
// of its files damaged: Open must return an error and never panic, the
// error must be ErrCorrupt (ErrNoProfile or ErrWrongPIN for the key file),
// and a failed Open must leave every file as it was.
func TestDamagedFiles(t *testing.T) {
	t.Parallel()
	gold := goldenVault(t)
	cases := damageCases(t, gold)
	panics := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeGolden(t, gold)
			c.damage(t, dir)
			before := snapshotDir(t, dir)
			err := openNoPanic(t, dir, &panics)
			c.expect(t, err, before, snapshotDir(t, dir), dir)
		})
	}
	t.Logf("%d cases, %d panics", len(cases), panics)
}

// TestRandomDamage flips or cuts random bytes of Badger's files (the GC
// statistics aside); every such open must fail with ErrCorrupt and change
// nothing.
func TestRandomDamage(t *testing.T) {
	gold := goldenVault(t)
	var names []string
	for rel := range gold {
		if strings.HasPrefix(rel, filepath.Join(dataDirName, badgerDirName)) && filepath.Base(rel) != "DISCARD" {
			names = append(names, rel)
		}
	}
	slices.Sort(names)
	rounds := 200
	if testing.Short() {
		rounds = 40
	}
	r := rand.New(rand.NewPCG(1, 2))
	panics := 0
	for i := range rounds {
		rel := names[r.IntN(len(names))]
		good := gold[rel]
		var bad []byte
		what := ""
		if r.IntN(2) == 0 {
			n := r.IntN(len(good))
			bad, what = good[:n:n], fmt.Sprintf("cut to %d", n)
		} else {
			j := r.IntN(len(good))
			bad, what = bytes.Clone(good), fmt.Sprintf("byte %d flipped", j)
			bad[j] ^= byte(1 + r.IntN(255))
		}
		t.Run(fmt.Sprintf("%d %s %s", i, rel, what), func(t *testing.T) {
			if filepath.Base(rel) == "MANIFEST" && wholeManifest(t, bad) {
				t.Skip("a manifest cut at a record boundary is a valid older one (spec/vault.md §11)")
			}
			dir := writeGolden(t, gold)
			setFile(t, filepath.Join(dir, rel), bad)
			before := snapshotDir(t, dir)
			err := openNoPanic(t, dir, &panics)
			wantCorrupt(t, err, before, snapshotDir(t, dir), dir)
		})
	}
	t.Logf("%d cases, %d panics", rounds, panics)
}

// openNoPanic opens dir with the right PIN, reports a panic as a test
// failure (counting it) and locks the vault if it opened.
func openNoPanic(t *testing.T, dir string, panics *int) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			*panics++
			err = errors.New("panic")
			t.Errorf("Open panicked: %v", r)
		}
	}()
	v, err := Open(ctx, dir, pin, testOpts(nil))
	if err == nil {
		mustLock(t, v)
	}
	return err
}

// wholeManifest reports whether b is a Badger manifest that replays to its
// end, such as one cut exactly after a record.
func wholeManifest(t *testing.T, b []byte) bool {
	p := filepath.Join(t.TempDir(), "MANIFEST")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, off, err := replayManifest(f, badger.DefaultOptions(""))
	return err == nil && off == int64(len(b))
}
