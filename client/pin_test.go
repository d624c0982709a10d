package client

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"veil/crypto"
	"veil/vault"
)

func reopen(t *testing.T, e *Engine, pin string) (*Engine, error) {
	t.Helper()
	cfg := e.cfg
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return Open(context.Background(), cfg, []byte(pin))
}

// TestChangePINChecksCurrent: a wrong current PIN (the duress PIN
// included) changes nothing and erases nothing; the right one changes it.
func TestChangePINChecksCurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := testEngine(t, nil)
	if err := e.SetDuressPIN(ctx, []byte("test pin"), []byte("duress pin"), DuressDecoy); err != nil {
		t.Fatal(err)
	}
	for _, cur := range []string{"wrong pin", "duress pin"} {
		if err := e.ChangePIN(ctx, []byte(cur), []byte("new pin")); !errors.Is(err, ErrWrongPIN) {
			t.Fatalf("current %q: %v, want ErrWrongPIN", cur, err)
		}
	}
	if ok, err := e.Initialized(ctx); !ok || err != nil {
		t.Fatalf("the profile is gone after a wrong current PIN (%v)", err)
	}
	if err := e.ChangePIN(ctx, []byte("test pin"), []byte("duress pin")); !errors.Is(err, vault.ErrBadPIN) {
		t.Fatalf("new PIN equal to the duress PIN: %v", err)
	}
	if err := e.ChangePIN(ctx, []byte("test pin"), []byte("new pin")); err != nil {
		t.Fatal(err)
	}
	if _, err := reopen(t, e, "test pin"); !errors.Is(err, vault.ErrWrongPIN) {
		t.Fatalf("the old PIN: %v", err)
	}
	e2, err := Open(ctx, e.cfg, []byte("new pin"))
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if ok, err := e2.Initialized(ctx); !ok || err != nil {
		t.Fatalf("the new PIN opens an empty profile (%v)", err)
	}
}

// TestDuressPINThroughEngine: set with the current PIN, refused when equal
// to the PIN, opens a decoy or says reset, and is gone once removed.
func TestDuressPINThroughEngine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := testEngine(t, nil)
	if err := e.SetDuressPIN(ctx, []byte("nope"), []byte("duress pin"), DuressDecoy); !errors.Is(err, ErrWrongPIN) {
		t.Fatalf("wrong current PIN: %v", err)
	}
	if err := e.SetDuressPIN(ctx, []byte("test pin"), []byte("test pin"), DuressDecoy); !errors.Is(err, vault.ErrBadPIN) {
		t.Fatalf("duress equal to the PIN: %v", err)
	}
	if err := e.SetDuressPIN(ctx, []byte("test pin"), []byte("duress pin"), DuressReset); err != nil {
		t.Fatal(err)
	}
	if err := e.RemoveDuressPIN(ctx, []byte("duress pin")); !errors.Is(err, ErrWrongPIN) {
		t.Fatalf("remove with the duress PIN as current: %v", err)
	}
	if err := e.RemoveDuressPIN(ctx, []byte("test pin")); err != nil {
		t.Fatal(err)
	}
	if _, err := reopen(t, e, "duress pin"); !errors.Is(err, vault.ErrWrongPIN) {
		t.Fatalf("the removed duress PIN: %v", err)
	}
	e2, err := Open(ctx, e.cfg, []byte("test pin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e2.SetDuressPIN(ctx, []byte("test pin"), []byte("duress pin"), DuressReset); err != nil {
		t.Fatal(err)
	}
	if _, err := reopen(t, e2, "duress pin"); !errors.Is(err, vault.ErrErased) {
		t.Fatalf("duress PIN in reset mode: %v", err)
	}
}

// TestPINChangeWithWrongCurrentChangesNothing: every call that changes a
// PIN refuses a wrong current PIN (the duress PIN included) with
// ErrWrongPIN and leaves the key file byte for byte as it was.
func TestPINChangeWithWrongCurrentChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := testEngine(t, nil)
	if err := e.SetDuressPIN(ctx, []byte("test pin"), []byte("duress pin"), DuressDecoy); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(e.cfg.Dir, "vault.key")
	before, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func(cur []byte) error{
		"ChangePIN":       func(cur []byte) error { return e.ChangePIN(ctx, cur, []byte("new pin")) },
		"SetDuressPIN":    func(cur []byte) error { return e.SetDuressPIN(ctx, cur, []byte("other duress"), DuressReset) },
		"RemoveDuressPIN": func(cur []byte) error { return e.RemoveDuressPIN(ctx, cur) },
	}
	for name, call := range calls {
		for _, cur := range []string{"wrong pin", "duress pin", ""} {
			if err := call([]byte(cur)); !errors.Is(err, ErrWrongPIN) {
				t.Errorf("%s with current %q: %v, want ErrWrongPIN", name, cur, err)
			}
			after, err := os.ReadFile(keyFile)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Fatalf("%s with current %q changed the key file", name, cur)
			}
		}
	}
}

// TestEngineHidesVault: the engine hands out no raw vault, whose PIN
// methods skip the current-PIN check.
func TestEngineHidesVault(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeFor[*Engine]()
	for i := range typ.NumMethod() {
		m := typ.Method(i)
		for j := range m.Type.NumOut() {
			if m.Type.Out(j) == reflect.TypeFor[*vault.Vault]() {
				t.Errorf("Engine.%s returns the raw vault", m.Name)
			}
		}
	}
}

// TestCreateWithDuressPIN: Create sets the duress PIN of its options, and
// refuses one equal to the PIN before writing anything.
func TestCreateWithDuressPIN(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := Config{Dir: filepath.Join(t.TempDir(), "v"),
		Vault: vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1, MemTableSize: testMemTableSize}}
	_, err := Create(ctx, cfg, []byte("test pin"), CreateOptions{DuressPIN: []byte("test pin")})
	if !errors.Is(err, vault.ErrBadPIN) {
		t.Fatalf("duress PIN equal to the PIN: %v, want ErrBadPIN", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, "vault.key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused Create left a key file (%v)", err)
	}
	e, err := Create(ctx, cfg, []byte("test pin"), CreateOptions{DuressPIN: []byte("duress pin"), DuressMode: DuressReset})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reopen(t, e, "duress pin"); !errors.Is(err, vault.ErrErased) {
		t.Fatalf("duress PIN in reset mode: %v, want ErrErased", err)
	}

	// Decoy mode: the real PIN opens the profile, the duress PIN then
	// erases it and opens the decoy, which the real PIN no longer opens.
	e, err = Create(ctx, cfg, []byte("test pin"), CreateOptions{DuressPIN: []byte("duress pin")})
	if err != nil {
		t.Fatal(err)
	}
	if e, err = reopen(t, e, "test pin"); err != nil {
		t.Fatalf("the real PIN after Create: %v", err)
	}
	if e, err = reopen(t, e, "duress pin"); err != nil {
		t.Fatalf("the duress PIN in decoy mode: %v", err)
	}
	if _, err := reopen(t, e, "test pin"); !errors.Is(err, vault.ErrWrongPIN) {
		t.Fatalf("the real PIN after a duress unlock: %v, want ErrWrongPIN", err)
	}
}

// TestPolicyThroughEngine: reading needs no PIN, setting checks the
// current one (a wrong one changes nothing), and the policy then erases:
// the wrong-PIN limit makes Open return ErrErased and leave no profile.
func TestPolicyThroughEngine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := testEngine(t, nil)
	if p, err := e.Policy(ctx); err != nil || p != (Policy{}) {
		t.Fatalf("a new profile's policy: %+v, %v", p, err)
	}
	want := Policy{WipeAfter: 2, DeadMan: 72 * time.Hour}
	for _, cur := range []string{"wrong pin", ""} {
		if err := e.SetPolicy(ctx, []byte(cur), want); !errors.Is(err, ErrWrongPIN) {
			t.Fatalf("current %q: %v, want ErrWrongPIN", cur, err)
		}
	}
	if p, _ := e.Policy(ctx); p != (Policy{}) {
		t.Fatalf("a wrong current PIN changed the policy to %+v", p)
	}
	if err := e.SetPolicy(ctx, []byte("test pin"), Policy{WipeAfter: -1}); err == nil {
		t.Fatal("a negative wipe-after was accepted")
	}
	if err := e.SetPolicy(ctx, []byte("test pin"), want); err != nil {
		t.Fatal(err)
	}
	if p, err := e.Policy(ctx); err != nil || p != want {
		t.Fatalf("policy %+v (%v), want %+v", p, err, want)
	}
	cfg := e.cfg
	if _, err := reopen(t, e, "wrong pin"); !errors.Is(err, vault.ErrWrongPIN) {
		t.Fatalf("first wrong PIN: %v", err)
	}
	if _, err := Open(ctx, cfg, []byte("wrong pin")); !errors.Is(err, ErrErased) {
		t.Fatalf("second wrong PIN: %v, want ErrErased", err)
	}
	if _, err := Open(ctx, cfg, []byte("test pin")); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("after the erase: %v, want ErrNoProfile", err)
	}
}
