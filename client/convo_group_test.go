package client

import (
	"context"
	"testing"
	"time"
)

// TestGroupReplyReact: a member quotes another's message and reacts to
// it; each side shows its own copy of the quoted text, reactions name who
// gave them, and a timer change puts a line in the chat.
func TestGroupReplyReact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := startGroupRelay(t).String()
	ana, ben, gid, bid, _ := twoMembers(t, addr)
	anaID, err := ana.Send(ctx, gid, "who brings food?\nsecond line", SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	groupSync(t, ben)
	onBen := messagesByText(t, ben, bid)["who brings food?\nsecond line"]
	if onBen.Sent.IsZero() || onBen.SentUnsure || onBen.Sent.After(onBen.Time) {
		t.Fatalf("sent time: %+v", onBen)
	}
	if _, err := ben.Send(ctx, bid, "me", SendOptions{Reply: onBen.ID}); err != nil {
		t.Fatal(err)
	}
	if err := ben.React(ctx, bid, onBen.ID, "👍"); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ana)
	ms := messagesByText(t, ana, gid)
	if r := ms["me"].Reply; r == nil || r.ID != anaID || r.Text != "who brings food?" {
		t.Fatalf("ana's quote: %+v", r)
	}
	rs := ms["who brings food?\nsecond line"].Reactions
	if len(rs) != 1 || rs[0].Count != 1 || len(rs[0].From) != 1 || rs[0].From[0] != "ben" {
		t.Fatalf("ana's reactions: %+v", rs)
	}
	if err := ana.React(ctx, gid, anaID, "👍"); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ben)
	rs = messagesByText(t, ben, bid)["who brings food?\nsecond line"].Reactions
	if len(rs) != 1 || rs[0].Count != 2 || !rs[0].Mine || rs[0].From[0] != "ana" {
		t.Fatalf("ben's reactions: %+v", rs)
	}
	hour := time.Hour
	if err := ana.GroupSet(ctx, gid, GroupSettings{Timer: &hour}); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ben)
	if m, ok := messagesByText(t, ben, bid)["an admin set messages to disappear after 1h"]; !ok || m.Kind != "timer" {
		t.Fatalf("no timer line: %+v", m)
	}
}
