package client

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"veil/client/internal/format"
	"veil/relay/conn"
	"veil/vault"
)

// renameGroup commits, as the admin e, a settings change that gives the
// group a new name. veil's own commands keep the name; a roster may still
// change it (spec/groups.md §7.5), and every member applies what it says.
func renameGroup(t *testing.T, e *Engine, ref, name string) {
	t.Helper()
	ctx := context.Background()
	err := e.withGroup(ctx, ref, func(g *groupState, _ *groupRecord, c *conn.Conn, _ *vault.Chat) ([]Event, error) {
		s := g.queuedSettings()
		s.Name = name
		op, err := format.SettingsOperand(s)
		if err != nil {
			return nil, err
		}
		g.propose(groupIntent{Change: format.ChangeSettings, Operand: op})
		return g.commitNext(ctx, c)
	})
	if err == nil {
		err = e.groupSettle(ctx, ref)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func chatName(t *testing.T, e *Engine, chat string) string {
	t.Helper()
	info, err := e.Chat(context.Background(), chat)
	if err != nil {
		t.Fatal(err)
	}
	return info.Name
}

// TestGroupLocalNameSurvives (spec/client.md §4.7, spec/groups.md §7.5): a
// name the user gave a group chat (rename, join --name) is the user's: no
// message, settings change or roster replaces it. The group's own name is
// shown where the user gave none, an admin's new name included, and the
// rename is told to every member as a group_settings event of the chat.
func TestGroupLocalNameSurvives(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := startGroupRelay(t).String()
	ana, ben, gid, bid, benEv := twoMembers(t, addr)
	cat, catEv := groupEngine(t, addr)
	key, err := ana.GroupInvite(ctx, gid, 0)
	if err != nil {
		t.Fatal(err)
	}
	cid, err := cat.Join(ctx, key, JoinOptions{As: "cat", Name: "book club"})
	if err != nil {
		t.Fatal(err)
	}
	groupSync(t, ana, cat, ben)
	if got := chatName(t, cat, cid); got != "book club" {
		t.Fatalf("the joiner's chat is called %q after the welcome, want the name it chose", got)
	}
	if got := chatName(t, ben, bid); got != "river" {
		t.Fatalf("ben's chat is called %q, want the group's name", got)
	}

	// An admin renames the group: shown where the member has no name of
	// its own, and told to both as an event of their chat.
	pendingEvents(benEv)
	pendingEvents(catEv)
	renameGroup(t, ana, gid, "lake")
	groupSync(t, ben, cat)
	if got := chatName(t, ben, bid); got != "lake" {
		t.Fatalf("ben's chat is called %q after the admin's rename, want lake", got)
	}
	if got := chatName(t, cat, cid); got != "book club" {
		t.Fatalf("cat's chat is called %q after the admin's rename, want her own name", got)
	}
	if got := chatName(t, ana, gid); got != "lake" {
		t.Fatalf("the admin's chat is called %q after her rename", got)
	}
	for _, c := range []struct {
		evs  []Event
		chat string
	}{{pendingEvents(benEv), bid}, {pendingEvents(catEv), cid}} {
		if !slices.ContainsFunc(c.evs, func(ev Event) bool {
			return ev.Type == EventGroupSettings && ev.Chat == c.chat && strings.Contains(ev.Text, `renamed to "lake"`)
		}) {
			t.Fatalf("no group_settings event on chat %s tells the rename: %+v", c.chat, c.evs)
		}
	}

	// Ben's own name survives a message and a settings change.
	if err := ben.Rename(ctx, bid, "family"); err != nil {
		t.Fatal(err)
	}
	if _, err := ana.Send(ctx, gid, "hello", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ben)
	if got := chatName(t, ben, bid); got != "family" {
		t.Fatalf("ben's chat is called %q after a message, want his own name", got)
	}
	hour := time.Hour
	if err := ana.GroupSet(ctx, gid, GroupSettings{Timer: &hour}); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ben, cat)
	for _, c := range []struct {
		e          *Engine
		chat, want string
	}{{ben, bid, "family"}, {cat, cid, "book club"}} {
		info, err := c.e.Chat(ctx, c.chat)
		if err != nil || info.Name != c.want || info.MessageTTL != hour {
			t.Fatalf("after a settings change: %+v, %v; want the name %q and the new timer", info, err, c.want)
		}
	}
	if _, err := ben.Send(ctx, "family", "by my name", SendOptions{}); err != nil {
		t.Fatalf("sending to the chat by its local name: %v", err)
	}

	// Removing his name shows the group's again, at once and afterwards.
	if err := ben.Rename(ctx, bid, ""); err != nil {
		t.Fatal(err)
	}
	if got := chatName(t, ben, bid); got != "lake" {
		t.Fatalf("ben's chat is called %q once he removed his name, want the group's", got)
	}
	if _, err := ana.Send(ctx, gid, "again", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ben)
	if got := chatName(t, ben, bid); got != "lake" {
		t.Fatalf("ben's chat is called %q, want the group's", got)
	}
}

// TestApplySettingsOlderChatRecord: a group chat record from before
// GroupName had its name set to the roster's at every store, so a name
// that differs from the roster's is the user's and is kept from then on;
// one that is the roster's (or none) follows the group's name.
func TestApplySettingsOlderChatRecord(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, roster, later string // the stored name; the roster's; the chat's name after an admin renames the group
		local               bool
	}{
		{"river", "river", "lake", false},
		{"", "river", "lake", false},
		{"family", "river", "family", true},
		{SanitizeLine("riv\x1ber"), "riv\x1ber", "lake", false}, // a joiner's copy of the invite's name
	} {
		ch := vault.Chat{ID: "g", Kind: vault.ChatGroup, Name: c.name}
		if _, ok := applySettings(&ch, format.Settings{Name: c.roster}); ok {
			t.Errorf("%q: the first store after the upgrade reports a change", c.name)
		}
		if ch.NameLocal != c.local || ch.GroupName != c.roster {
			t.Errorf("%q: after the first store %+v, want NameLocal %v", c.name, ch, c.local)
		}
		ev, ok := applySettings(&ch, format.Settings{Name: "lake"})
		if !ok || ch.Name != c.later || ev.Chat != "g" || !strings.Contains(ev.Text, `renamed to "lake"`) {
			t.Errorf("%q: after the admin's rename %+v, event %+v (%v); want the name %q", c.name, ch, ev, ok, c.later)
		}
	}
}
