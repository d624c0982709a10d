package client

import (
	"context"
	"errors"
	"testing"

	"veil/vault"
)

// TestInvitesShowAndCancel: an open invite is listed with its deadline,
// its key can be shown again, and cancelling it takes the blob off the
// relay (the key dies for whoever holds it) and erases its keys.
func TestInvitesShowAndCancel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := startGroupRelay(t)
	ana, _ := groupEngine(t, a.String())
	ben, _ := groupEngine(t, a.String())
	key, chat, err := ana.Invite(ctx, InviteOptions{Name: "for ben", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	invs, err := ana.Invites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(invs) != 1 || invs[0].Chat != chat || invs[0].Name != "for ben" || !invs[0].HasKey || invs[0].Until.IsZero() {
		t.Fatalf("invites: %+v", invs)
	}
	got, err := ana.InviteKey(ctx, "for ben")
	if err != nil || got != key {
		t.Fatalf("InviteKey: %v (same key: %v)", err, got == key)
	}
	res, err := ana.CancelInvite(ctx, chat)
	if err != nil || res.BlobLeft || res.Taken {
		t.Fatalf("CancelInvite: %+v, %v", res, err)
	}
	if invs, _ := ana.Invites(ctx); len(invs) != 0 {
		t.Fatalf("after cancel: %+v", invs)
	}
	if _, err := ana.Chat(ctx, chat); !errors.Is(err, ErrNoChat) {
		t.Fatalf("the chat after cancel: %v", err)
	}
	if _, err := ben.Join(ctx, key, JoinOptions{As: "ben"}); !errors.Is(err, ErrInviteUsed) {
		t.Fatalf("joining a cancelled invite: %v, want ErrInviteUsed", err)
	}
	if _, err := ana.InviteKey(ctx, chat); !errors.Is(err, ErrNoChat) {
		t.Fatalf("InviteKey after cancel: %v", err)
	}
}

// TestInviteKeyForgottenOnJoin: once the peer joined, the key is gone
// from the vault and the chat is no invite any more.
func TestInviteKeyForgottenOnJoin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	err := ana.v.Update(ctx, func(tx *vault.Tx) error {
		m, err := getMeta(tx, chat)
		m.InviteKey = "a kept key"
		if err != nil {
			return err
		}
		return putMeta(tx, chat, &m)
	})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := ana.InviteKey(ctx, chat); err != nil || k != "a kept key" {
		t.Fatalf("InviteKey before the join: %v", err)
	}
	pump(t, ben, ana, chat)
	if _, err := ana.InviteKey(ctx, chat); !errors.Is(err, ErrNotPending) {
		t.Fatalf("InviteKey after the join: %v, want ErrNotPending", err)
	}
	if _, err := ana.CancelInvite(ctx, chat); !errors.Is(err, ErrNotPending) {
		t.Fatalf("CancelInvite after the join: %v, want ErrNotPending", err)
	}
	var m chatMeta
	_ = ana.v.View(ctx, func(tx *vault.Tx) error { m, err = getMeta(tx, chat); return err })
	if m.InviteKey != "" || m.Pending {
		t.Fatal("the invite key outlived the join")
	}
}

// TestCancelUsedInviteSaysTaken: cancelling an invite whose key someone
// already used (the blob is gone before its deadline) says so.
func TestCancelUsedInviteSaysTaken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := startGroupRelay(t)
	ana, _ := groupEngine(t, a.String())
	ben, _ := groupEngine(t, a.String())
	key, chat, err := ana.Invite(ctx, InviteOptions{Name: "for ben", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ben.Join(ctx, key, JoinOptions{As: "ben"}); err != nil {
		t.Fatal(err)
	}
	// Ana has not read Ben's HELLO yet: the invite is still open here.
	res, err := ana.CancelInvite(ctx, chat)
	if err != nil || !res.Taken || res.BlobLeft {
		t.Fatalf("CancelInvite of a used key: %+v, %v", res, err)
	}
}
