package client

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestTextLimits sends texts of exactly the limit and one byte more
// (spec/client.md §5.7): the joiner before the inviter's first message,
// both sides after it, an edit, and a group message.
func TestTextLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	refuse := func(err error, limit int) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("at most %d", limit)) {
			t.Fatalf("a text of %d bytes: %v, want a refusal naming the limit", limit+1, err)
		}
	}

	// Ben joined: until Ana's first message he sends initial messages.
	if _, err := ben.Send(ctx, chat, strings.Repeat("b", MaxInitialText), SendOptions{}); err != nil {
		t.Fatalf("a text of MaxInitialText bytes: %v", err)
	}
	_, err := ben.Send(ctx, chat, strings.Repeat("b", MaxInitialText+1), SendOptions{})
	refuse(err, MaxInitialText)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat) // the delivery receipts end Ben's initial phase

	for _, e := range []*Engine{ana, ben} {
		id, err := e.Send(ctx, chat, strings.Repeat("é", MaxText/2), SendOptions{})
		if err != nil {
			t.Fatalf("a text of MaxText bytes: %v", err)
		}
		_, err = e.Send(ctx, chat, strings.Repeat("x", MaxText+1), SendOptions{})
		refuse(err, MaxText)
		refuse(e.Edit(ctx, chat, id, strings.Repeat("x", MaxText+1)), MaxText)
		if err := e.Edit(ctx, chat, id, strings.Repeat("y", MaxText)); err != nil {
			t.Fatalf("an edit of MaxText bytes: %v", err)
		}
	}
	pump(t, ana, ben, chat)
	pump(t, ben, ana, chat)
	ms, err := ben.Messages(ctx, chat, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, m := range ms {
		if len(m.Text) == MaxText || len(m.Text) == MaxInitialText {
			got++
		}
	}
	if got != 3 {
		t.Fatalf("ben's chat holds %d full-length messages, want 3", got)
	}

	addr := startGroupRelay(t).String()
	cat, _ := groupEngine(t, addr)
	gid, err := cat.GroupCreate(ctx, GroupOptions{Name: "limits", As: "cat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Send(ctx, gid, strings.Repeat("g", MaxGroupText), SendOptions{}); err != nil {
		t.Fatalf("a group text of MaxGroupText bytes: %v", err)
	}
	_, err = cat.Send(ctx, gid, strings.Repeat("g", MaxGroupText+1), SendOptions{})
	refuse(err, MaxGroupText)
}

// TestTextLimitArithmetic pins the figures spec/client.md §5.7 states.
func TestTextLimitArithmetic(t *testing.T) {
	t.Parallel()
	if MaxText != 15880 || MaxInitialText != 14216 || MaxGroupText != 15804 {
		t.Fatalf("limits %d, %d, %d; spec/client.md §5.7 says 15880, 14216, 15804", MaxText, MaxInitialText, MaxGroupText)
	}
}
