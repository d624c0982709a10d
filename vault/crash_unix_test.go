//go:build unix

package vault

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// crashEnv tells a re-executed test binary to run one erase and kill
// itself at one step of it: "op step dir".
const crashEnv = "VEIL_VAULT_TEST_CRASH"

// crashOps are the erases, each run on a vault with data and a duress PIN.
var crashOps = map[string]struct {
	mode DuressMode
	run  func(dir string, o *Options) error
}{
	"decoy": {DuressDecoy, func(dir string, o *Options) error {
		v, err := Open(ctx, dir, duressPIN, o)
		if err == nil {
			err = v.Lock()
		}
		return err
	}},
	"reset": {DuressReset, func(dir string, o *Options) error {
		if _, err := Open(ctx, dir, duressPIN, o); !errors.Is(err, ErrErased) {
			return fmt.Errorf("duress unlock in reset mode: %v", err)
		}
		return nil
	}},
	"wipeprofile": {DuressDecoy, func(dir string, o *Options) error {
		return WipeProfile(ctx, dir, o)
	}},
	"wipe": {DuressDecoy, func(dir string, o *Options) error {
		v, err := Open(ctx, dir, pin, o)
		if err == nil {
			err = v.Wipe()
		}
		return err
	}},
}

// TestEraseCrashChild is the re-executed side of TestEraseCrash.
func TestEraseCrashChild(t *testing.T) {
	spec := os.Getenv(crashEnv)
	if spec == "" {
		t.Skip("run by TestEraseCrash")
	}
	f := strings.SplitN(spec, " ", 3)
	k, _ := strconv.Atoi(f[1])
	o := testOpts(nil)
	n := 0
	o.eraseStep = func() {
		if n++; n == k {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal arrives
		}
	}
	if err := crashOps[f[0]].run(f[2], o); err != nil {
		t.Fatal(err)
	}
}

// crashVault makes the vault an erase is tried on.
func crashVault(t *testing.T, mode DuressMode) string {
	dir := filepath.Join(t.TempDir(), "vault")
	v := createVault(t, dir, testOpts(nil))
	fillSample(t, v)
	if err := v.SetDuressPIN(ctx, duressPIN, mode); err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)
	return dir
}

// TestEraseCrash kills a process at every step of every kind of erase
// (each change it makes to the disk) and checks that the data is
// unreadable at that point and that the next start, whichever it is,
// finishes the erase: nothing of the vault remains, or (Create) a new
// vault exactly as in an empty directory.
func TestEraseCrash(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("child")
	}
	// Each erase, and each kill, runs in a directory of its own.
	t.Parallel()
	starts := []string{"Open", "Create", "WipeProfile"}
	for _, name := range []string{"decoy", "reset", "wipeprofile", "wipe"} {
		op := crashOps[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// The decoy's erase has every step of the reset's and of
			// WipeProfile's, then renews the profile; Wipe's erases the
			// keys twice. -short keeps those two.
			if testing.Short() && (name == "reset" || name == "wipeprofile") {
				t.Skip("steps covered by decoy and wipe; run without -short")
			}
			steps := 0
			o := testOpts(nil)
			o.eraseStep = func() { steps++ }
			if err := op.run(crashVault(t, op.mode), o); err != nil {
				t.Fatal(err)
			}
			if steps < 5 {
				t.Fatalf("only %d erase steps", steps)
			}
			for k := 1; k <= steps; k++ {
				dir := crashVault(t, op.mode)
				cmd := exec.Command(os.Args[0], "-test.run=^TestEraseCrashChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %s", crashEnv, name, k, dir))
				out, err := cmd.CombinedOutput()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					t.Fatalf("step %d/%d: child was not killed at the step: %v\n%s", k, steps, err, out)
				}
				checkUnreadable(t, dir, k)
				start := starts[k%len(starts)]
				checkNextStart(t, dir, start, fmt.Sprintf("step %d/%d, then %s", k, steps, start))
			}
		})
	}
}

// checkUnreadable: no key file that a PIN opens is left, and no copy,
// except the key file just renamed to the erase marker (steps 1-2), before
// its overwrite (the next start overwrites it: checkNextStart).
func checkUnreadable(t *testing.T, dir string, k int) {
	t.Helper()
	for _, name := range []string{keyFileName, keyFileName + tmpSuffix, eraseFileName} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		if _, err := parseKeyFile(b); err == nil && !(name == eraseFileName && k <= 2) {
			t.Fatalf("step %d: %s is still a key file", k, name)
		}
	}
}

// checkNextStart runs start on the profile a crash left and checks that
// it ends as after a completed erase.
func checkNextStart(t *testing.T, dir, start, what string) {
	t.Helper()
	switch start {
	case "Open":
		for _, p := range [][]byte{pin, duressPIN} {
			if _, err := Open(ctx, dir, p, testOpts(nil)); !errors.Is(err, ErrNoProfile) {
				t.Fatalf("%s: Open gave %v, want ErrNoProfile", what, err)
			}
		}
	case "WipeProfile":
		if err := WipeProfile(ctx, dir, testOpts(nil)); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case "Create":
		v, err := Create(ctx, dir, pin, testOpts(nil))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		fresh := createVault(t, filepath.Join(t.TempDir(), "vault"), testOpts(nil))
		got, want := listTree(t, dir), listTree(t, fresh.Dir())
		mustLock(t, v)
		mustLock(t, fresh)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: the new vault holds %v, a fresh one %v", what, got, want)
		}
		return
	}
	if ents, err := os.ReadDir(dir); err == nil {
		t.Fatalf("%s: the profile directory remains, holding %v", what, ents)
	}
}

// listTree names every file and directory under dir with its type.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel+" "+d.Type().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
