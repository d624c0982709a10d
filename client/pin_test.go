package client

import (
	"context"
	"errors"
	"testing"

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
