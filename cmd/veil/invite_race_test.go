package main

// Invite race (issue 9): one invite key, 100 concurrent joiners, across a
// SIGKILL restart of the real veil-relay process with its Badger store.
// Exactly one joiner gets the chat; the others are told the invite is
// used, and a later restart does not bring the invite back.

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"veil/client"
	"veil/crypto"
	"veil/vault"
)

func raceEngine(t *testing.T, relayAddr string) *client.Engine {
	t.Helper()
	ctx := context.Background()
	cfg := client.Config{Dir: t.TempDir(),
		Vault: vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1, MemTableSize: 1 << 20}}
	e, err := client.Create(ctx, cfg, []byte("race pin"), client.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.Setup(ctx, relayAddr); err != nil {
		t.Fatal(err)
	}
	return e
}

// joinUntilAnswered retries Join across the restart until the relay gives
// a definitive answer: a chat, or ErrInviteUsed. Bounded in time.
func joinUntilAnswered(ctx context.Context, e *client.Engine, key string) (string, error) {
	var err error
	for attempt := 0; attempt < 100; attempt++ {
		var chat string
		chat, err = e.Join(ctx, key, client.JoinOptions{As: "joiner"})
		if err == nil || errors.Is(err, client.ErrInviteUsed) || ctx.Err() != nil {
			return chat, err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return "", err
}

func TestInviteRaceJoinersAcrossRestart(t *testing.T) {
	// Not parallel: its relay restarts on the same port, which a test
	// running beside it could take while the relay is down.
	// 100 joiners in the long tier; -short races 25, the same race at a
	// quarter of the engines.
	joiners := 100
	if testing.Short() {
		joiners = 25
	}
	r := newTestRelay(t)
	ana := raceEngine(t, r.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	key, _, err := ana.Invite(ctx, client.InviteOptions{As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	engines := make([]*client.Engine, joiners)
	for i := range engines {
		engines[i] = raceEngine(t, r.addr)
	}
	// The relay dies and comes back: the invite is durable.
	r.stop()
	r.start()

	start := make(chan struct{})
	type result struct {
		chat string
		err  error
	}
	results := make([]result, joiners)
	var wg sync.WaitGroup
	for i, e := range engines {
		wg.Go(func() {
			<-start
			chat, err := joinUntilAnswered(ctx, e, key)
			results[i] = result{chat, err}
		})
	}
	close(start)
	wg.Wait()
	won, used := 0, 0
	for i, res := range results {
		switch {
		case res.err == nil && res.chat != "":
			won++
		case errors.Is(res.err, client.ErrInviteUsed):
			used++
		default:
			t.Errorf("joiner %d: chat %q, %v", i, res.chat, res.err)
		}
	}
	t.Logf("invite race: %d joiners after a SIGKILL restart: %d won, %d told the invite was used", joiners, won, used)
	if won != 1 || used != joiners-1 {
		t.Fatalf("%d winners and %d losers, want 1 and %d", won, used, joiners-1)
	}

	// Another SIGKILL restart: the taken invite stays taken.
	r.stop()
	r.start()
	late := raceEngine(t, r.addr)
	if _, err := joinUntilAnswered(ctx, late, key); !errors.Is(err, client.ErrInviteUsed) {
		t.Fatalf("join after the race and a restart: %v, want ErrInviteUsed", err)
	}
}
