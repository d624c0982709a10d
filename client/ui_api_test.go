package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRenameAndDeadline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, _, chat := pair(t, nil, nil)
	if err := ana.Rename(ctx, chat, "desk\x1b[31m one\n"); err != nil {
		t.Fatal(err)
	}
	c, err := ana.Chat(ctx, "desk one")
	if err != nil {
		t.Fatalf("by new name: %v", err)
	}
	if c.ID != chat || c.Name != "desk one" {
		t.Fatalf("got %+v", c)
	}
	if err := ana.Rename(ctx, chat, strings.Repeat("x", maxChatName+1)); err == nil {
		t.Fatal("an over-long name was accepted")
	}
	if err := ana.Rename(ctx, "nope", "x"); !errors.Is(err, ErrNoChat) {
		t.Fatalf("unknown chat: %v", err)
	}
	if g, err := ana.GroupIDs(ctx); err != nil || len(g) != 0 {
		t.Fatalf("GroupIDs of a 1:1 profile: %v, %v", g, err)
	}
	at := time.Now().Add(time.Hour)
	if err := ana.SetDeadline(ctx, chat, at); err != nil {
		t.Fatal(err)
	}
	if c, _ = ana.Chat(ctx, chat); !c.Deadline.Equal(at.Truncate(time.Second)) {
		t.Fatalf("deadline %v, want %v", c.Deadline, at)
	}
	if err := ana.SetDeadline(ctx, chat, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := ana.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ana.Chat(ctx, chat); !errors.Is(err, ErrNoChat) {
		t.Fatalf("chat past its deadline survived the sweep: %v", err)
	}
}
