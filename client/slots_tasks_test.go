package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay/wire"
	"veil/vault"
)

// TestSetupDelHeldWhileRecording: the DEL standing for a mailbox being
// made is not run by a flush (even a forced one) while the step that
// records the mailbox may still be under way, so the mailbox the chat
// then records keeps working; once stale, it runs.
func TestSetupDelHeldWhileRecording(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, _ := slotPair(t, clk, a, b)
	ana.stop()
	m, err := ana.e.newSecuredMailbox(ctx, a.Address.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ana.e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := ana.e.pool.get(ctx, a.Address.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, m.sid, &m.cap, make([]byte, wire.MinBucket)); err != nil {
		t.Fatalf("the mailbox being made was deleted by a flush: %v", err)
	}
	if n := tasksLeft(t, ana.e); n != 1 {
		t.Fatalf("%d tasks, want the held DEL", n)
	}
	clk.Add(setupStale - time.Second)
	if _, err := ana.e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := tasksLeft(t, ana.e); n != 1 {
		t.Fatalf("%d tasks before the DEL is stale, want 1", n)
	}
	clk.Add(2 * time.Second)
	if _, err := ana.e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := tasksLeft(t, ana.e); n != 0 {
		t.Fatalf("%d tasks after the DEL went stale, want none", n)
	}
	if err := c.Subscribe(ctx, m.rid, m.key); err == nil {
		t.Fatal("the stale DEL left its mailbox")
	}
}

// TestTaskResultsMergeByIdentity: a task removed from the list while a
// run was under way does not make the run drop (or overwrite) another.
func TestTaskResultsMergeByIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, _ := slotPair(t, clk, a, b)
	ana.stop()
	off := slotRelay(t, clk)
	off.Stop()
	key, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	gone := task{Kind: "del", Relay: a.Address.String(), ID: make([]byte, crypto.IDSize), Key: key.Seed()}
	gone.ID[0] = 1
	kept := task{Kind: "del", Relay: b.Address.String(), ID: make([]byte, crypto.IDSize), Key: key.Seed()}
	kept.ID[0] = 2
	failing := task{Kind: "del", Relay: off.Address.String(), ID: make([]byte, crypto.IDSize), Key: key.Seed()}
	failing.ID[0] = 3
	// The run read [gone, kept, failing]; meanwhile gone was dropped and
	// another task added in front.
	added := task{Kind: "del", Relay: b.Address.String(), ID: make([]byte, crypto.IDSize), Key: key.Seed(), NextTry: clk.Now().Add(time.Hour)}
	added.ID[0] = 4
	if err := ana.e.v.Update(ctx, func(tx *vault.Tx) error { return putTasks(tx, []task{added, kept, failing}) }); err != nil {
		t.Fatal(err)
	}
	down := map[string]error{b.Address.String(): errors.New("down")}
	if _, err := ana.e.runTasks(ctx, []task{gone, kept, failing}, false, down); err == nil {
		t.Fatal("no error from a task on an unreachable relay")
	}
	var ts []task
	if err := ana.e.v.View(ctx, func(tx *vault.Tx) (err error) { ts, err = getTasks(tx); return }); err != nil {
		t.Fatal(err)
	}
	if len(ts) != 3 || ts[0].ID[0] != 4 || ts[1].ID[0] != 2 || ts[2].ID[0] != 3 {
		t.Fatalf("tasks after the run: %+v, want added, kept, failing", ts)
	}
	if ts[0].Tries != 0 || ts[1].Tries != 0 || ts[2].Tries != 1 {
		t.Fatalf("tries %d %d %d, want 0 0 1", ts[0].Tries, ts[1].Tries, ts[2].Tries)
	}
}
