package client

import (
	"context"
	"strings"
	"testing"
	"time"
)

func searchIDs(t *testing.T, e *Engine, q, chat string) []string {
	t.Helper()
	hits, err := e.Search(context.Background(), q, chat, 0)
	if err != nil {
		t.Fatalf("search %q: %v", q, err)
	}
	var ids []string
	for _, h := range hits {
		ids = append(ids, h.Message)
	}
	return ids
}

func send(t *testing.T, e *Engine, chat, text string, ttl time.Duration) string {
	t.Helper()
	id, err := e.Send(context.Background(), chat, text, SendOptions{TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestSearchFindsAndShows: results carry chat, sender, time and a
// sanitised one-line snippet; newest first.
func TestSearchFindsAndShows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	pump(t, ben, ana, chat)
	older := send(t, ben, chat, "Meet at the OLD mill\x1b[2J at noon", 0)
	pump(t, ben, ana, chat)
	newer := send(t, ana, chat, "the old mill it is", 0)
	hits, err := ana.Search(ctx, "old MILL", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 2 || hits[0].Message != newer || hits[1].Chat != chat || hits[1].ChatName != "ben" {
		t.Fatalf("hits: %+v (older %s)", hits, older)
	}
	if !hits[0].Outgoing || hits[1].Outgoing || hits[1].From != "ben" || hits[1].Time.IsZero() {
		t.Fatalf("hits: %+v", hits)
	}
	if strings.ContainsRune(hits[1].Snippet, '\x1b') || !strings.Contains(hits[1].Snippet, "OLD mill") {
		t.Fatalf("snippet %q", hits[1].Snippet)
	}
	if ids := searchIDs(t, ana, "mill", "ben"); len(ids) != 2 {
		t.Fatalf("within the chat by name: %v", ids)
	}
	if _, err := ana.Search(ctx, "mill", "nobody", 0); err == nil {
		t.Fatal("searched a chat that does not exist")
	}
}

// TestSearchHostileQueries: regular-expression syntax, escape sequences
// and control characters are plain text; empty, invisible and oversized
// queries are refused.
func TestSearchHostileQueries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	pump(t, ben, ana, chat)
	plain := send(t, ana, chat, "price: 5$ (a.*b) [x]", 0)
	send(t, ana, chat, "aXXXb and more", 0)
	for q, want := range map[string]int{
		"a.*b": 1, "(a.*b)": 1, "[x]": 1, "5$": 1, "^price": 0, ".*": 1, "\\": 0,
		"\x1b[31m": 0, "a\x00b": 0, "\u202eb": 0, "%s%n": 0,
	} {
		ids := searchIDs(t, ana, q, "")
		if len(ids) != want || want == 1 && ids[0] != plain {
			t.Errorf("query %q: %v, want %d hit(s)", q, ids, want)
		}
	}
	for _, q := range []string{"", " ", "\u200b", strings.Repeat("a", MaxQuery+1), "\xff"} {
		if _, err := ana.Search(ctx, q, "", 0); err == nil {
			t.Errorf("query %q was accepted", q)
		}
	}
	for _, h := range mustSearch(t, ana, "more") {
		if strings.ContainsAny(h.Snippet, "\x1b\n\r\x00") {
			t.Errorf("snippet %q", h.Snippet)
		}
	}
}

func mustSearch(t *testing.T, e *Engine, q string) []SearchHit {
	t.Helper()
	hs, err := e.Search(context.Background(), q, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// TestSearchNeverFindsErased: with the index built first, so that only
// commits can keep it current, a message deleted for everyone (on both
// sides), a message past its timer (before and after the sweep) and every
// message of a burned chat are never found.
func TestSearchNeverFindsErased(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	pump(t, ben, ana, chat)
	send(t, ana, chat, "needle kept", 0)
	gone := send(t, ana, chat, "needle deleted", 0)
	theirs := send(t, ben, chat, "needle from ben, deleted", 0)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	if n := len(searchIDs(t, ana, "needle", "")); n != 3 {
		t.Fatalf("%d hits before, want 3", n)
	}
	if err := ana.Delete(ctx, chat, gone); err != nil {
		t.Fatal(err)
	}
	if err := ben.Delete(ctx, chat, theirs); err != nil {
		t.Fatal(err)
	}
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	for _, e := range []*Engine{ana, ben} {
		if ids := searchIDs(t, e, "deleted", ""); len(ids) != 0 {
			t.Fatalf("deleted messages found: %v", ids)
		}
	}
	// A disappearing message: found while it lives, never after its timer.
	send(t, ana, chat, "needle that disappears", time.Second)
	if n := len(searchIDs(t, ana, "disappears", "")); n != 1 {
		t.Fatalf("%d hits for a live timed message", n)
	}
	time.Sleep(1100 * time.Millisecond)
	if ids := searchIDs(t, ana, "disappears", ""); len(ids) != 0 {
		t.Fatalf("an expired, unswept message found: %v", ids)
	}
	if err := ana.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if hits, err := ana.v.Search(ctx, "disappears", "", 0); err != nil || len(hits) != 0 {
		t.Fatalf("vault index after the sweep: %v, %v", hits, err)
	}
	if ids := searchIDs(t, ana, "disappears", ""); len(ids) != 0 {
		t.Fatalf("a swept message found: %v", ids)
	}
	if n := len(searchIDs(t, ana, "needle kept", "")); n != 1 {
		t.Fatalf("the kept message: %d hits", n)
	}
	if err := ana.Burn(ctx, chat); err != nil {
		t.Fatal(err)
	}
	if ids := searchIDs(t, ana, "needle", ""); len(ids) != 0 {
		t.Fatalf("a burned chat's messages found: %v", ids)
	}
	// The vault's index itself holds nothing of the burned chat.
	if hits, err := ana.v.Search(ctx, "needle", "", 0); err != nil || len(hits) != 0 {
		t.Fatalf("vault index after burn: %v, %v", hits, err)
	}
}
