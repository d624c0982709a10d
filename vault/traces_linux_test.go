package vault

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fileTrace is what an examiner sees of one file of a profile without the
// key: its name, type, mode, size, link count and owner, and its times.
type fileTrace struct {
	name                string
	mode                fs.FileMode
	size                int64
	nlink               uint64
	uid, gid            uint32
	atime, mtime, ctime time.Time
}

func (f fileTrace) shape() string {
	return fmt.Sprintf("%s %v size=%d nlink=%d uid=%d gid=%d", f.name, f.mode, f.size, f.nlink, f.uid, f.gid)
}

// traceTree lists dir and everything under it, sorted by name.
func traceTree(t *testing.T, dir string) []fileTrace {
	t.Helper()
	var out []fileTrace
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fileTrace{
			name: rel, mode: fi.Mode(), size: fi.Size(), nlink: uint64(st.Nlink),
			uid: st.Uid, gid: st.Gid,
			atime: time.Unix(st.Atim.Unix()), mtime: time.Unix(st.Mtim.Unix()), ctime: time.Unix(st.Ctim.Unix()),
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// timestampSlack is how far a file time the kernel sets may lag behind
// time.Now: Linux stamps files from a coarse clock, up to one tick old.
const timestampSlack = 10 * time.Millisecond

// TestDuressLeavesNoTraces: after a duress unlock (decoy mode) the profile
// directory looks exactly like one that Create made at the same moment:
// the same files with the same types, modes, sizes, link counts and
// owners, and not one time older than the duress unlock.
func TestDuressLeavesNoTraces(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "vault")
	v := createVault(t, dir, testOpts(nil))
	fillSample(t, v)
	if err := v.SetDuressPIN(ctx, duressPIN, DuressDecoy); err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)
	for range 3 { // a used vault: reopened, written, Badger files renumbered
		v = mustOpen(t, dir, pin, testOpts(nil))
		fillSample(t, v)
		mustLock(t, v)
	}
	time.Sleep(3 * timestampSlack) // everything of the old vault is older than start

	start := time.Now()
	d := mustOpen(t, dir, duressPIN, testOpts(nil))
	fresh := createVault(t, filepath.Join(base, "fresh"), testOpts(nil))
	decoyTree, freshTree := traceTree(t, dir), traceTree(t, fresh.Dir())
	mustLock(t, d)
	mustLock(t, fresh)

	var got, want []string
	for _, f := range decoyTree {
		got = append(got, f.shape())
		for what, tm := range map[string]time.Time{"atime": f.atime, "mtime": f.mtime, "ctime": f.ctime} {
			if tm.Before(start.Add(-timestampSlack)) {
				t.Errorf("%s: %s %v is older than the duress unlock (%v)", f.name, what, tm, start)
			}
		}
	}
	for _, f := range freshTree {
		want = append(want, f.shape())
	}
	if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
		t.Errorf("the decoy's profile differs from a fresh one:\n--- decoy\n%s\n--- fresh\n%s", g, w)
	}
}

// TestEraseLeavesNothing: the panic key (Wipe), `veil wipe` (WipeProfile)
// and a duress unlock in reset mode leave nothing of the vault: no file,
// not even the lock file, and no profile directory.
func TestEraseLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		erase func(t *testing.T, dir string)
	}{
		{"Wipe", func(t *testing.T, dir string) {
			v := mustOpen(t, dir, pin, testOpts(nil))
			if err := v.Wipe(); err != nil {
				t.Fatal(err)
			}
		}},
		{"WipeProfile", func(t *testing.T, dir string) {
			if err := WipeProfile(ctx, dir, testOpts(nil)); err != nil {
				t.Fatal(err)
			}
		}},
		{"reset", func(t *testing.T, dir string) {
			_, err := Open(ctx, dir, duressPIN, testOpts(nil))
			wantErr(t, err, ErrErased)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "vault")
			v := createVault(t, dir, testOpts(nil))
			fillSample(t, v)
			if err := v.SetDuressPIN(ctx, duressPIN, DuressReset); err != nil {
				t.Fatal(err)
			}
			mustLock(t, v)
			tc.erase(t, dir)
			if exists(dir) {
				ents, _ := os.ReadDir(dir)
				t.Errorf("the profile directory survived the erase, holding %v", ents)
			}
			_, err := Open(ctx, dir, pin, testOpts(nil))
			wantErr(t, err, ErrNoProfile)
			if exists(dir) {
				t.Error("Open of an erased profile made the directory again")
			}
		})
	}
}
