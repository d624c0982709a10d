package client

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/relay/relaytest"
	"veil/relay/store/memory"
	"veil/vault"
)

// These tests check every timer of spec/client.md §8 and spec/groups.md §8
// without waiting: the engines, their vaults, the relay and its store share
// one clock that the test moves, and the test applies the timers itself
// (Sweep, GroupSync) where Run would on its tickers.

// fakeClock is a clock that only the test moves. The relay's goroutines
// read it too.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// newFakeClock starts on a whole second, so deadlines that are truncated
// to the second (chat and group deadlines) fall exactly where expected.
func newFakeClock() *fakeClock { return &fakeClock{now: time.Now().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// clockRelay runs a real relay on 127.0.0.1 whose server and memory store
// both read clk, and returns its address.
func clockRelay(t *testing.T, clk *fakeClock) string {
	t.Helper()
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := relaytest.Serve(t, relay.Config{Store: memory.New(memory.Config{Now: clk.Now}), Identity: id, Now: clk.Now})
	return r.Address.String()
}

// clockEngine is a real engine whose default relay is addr and whose
// engine and vault read clk.
func clockEngine(t *testing.T, addr string, clk *fakeClock) (*Engine, chan Event) {
	t.Helper()
	evs := make(chan Event, 256)
	cfg := Config{Dir: t.TempDir(), Events: evs, Now: clk.Now,
		Vault: vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1, MemTableSize: testMemTableSize, Now: clk.Now}}
	e, err := Create(context.Background(), cfg, []byte("test pin"), CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.Setup(context.Background(), addr); err != nil {
		t.Fatal(err)
	}
	return e, evs
}

// deliver moves the ciphertexts queued in from's outbox for fromChat to
// to's chat toChat, as the relay would, and returns how many it moved.
func deliver(t *testing.T, from *Engine, fromChat string, to *Engine, toChat string) int {
	t.Helper()
	ctx := context.Background()
	var items []vault.OutboxItem
	if err := from.v.View(ctx, func(tx *vault.Tx) error {
		var err error
		items, err = tx.Outbox()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range items {
		if items[i].ChatID != fromChat {
			continue
		}
		if !to.receive(ctx, toChat, items[i].Payload) {
			t.Fatal("receive refused to ack")
		}
		if err := from.sent(ctx, &items[i]); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// connectClocked makes a 1:1 chat through the relay (Invite, Join) and
// hands the first messages over directly; it returns each side's chat ID.
func connectClocked(t *testing.T, ana, ben *Engine, opt InviteOptions) (anaChat, benChat string) {
	t.Helper()
	ctx := context.Background()
	key, anaChat, err := ana.Invite(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	if benChat, err = ben.Join(ctx, key, JoinOptions{As: "ben"}); err != nil {
		t.Fatal(err)
	}
	if deliver(t, ben, benChat, ana, anaChat) == 0 {
		t.Fatal("ben queued no HELLO")
	}
	deliver(t, ana, anaChat, ben, benChat)
	if c, err := ana.Chat(ctx, anaChat); err != nil || c.Pending {
		t.Fatalf("ana's chat after the HELLO: %+v, %v", c, err)
	}
	return anaChat, benChat
}

func sweep(t *testing.T, es ...*Engine) {
	t.Helper()
	for _, e := range es {
		if err := e.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func groupSync(t *testing.T, es ...*Engine) {
	t.Helper()
	for _, e := range es {
		if err := e.GroupSync(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func chatIDs(t *testing.T, e *Engine) []string {
	t.Helper()
	cs, err := e.Chats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

// messageTexts returns the texts of a chat's messages, sorted: messages
// sent at the same instant of the fake clock have no defined order.
func messageTexts(t *testing.T, e *Engine, chat string) []string {
	t.Helper()
	var out []string
	for text := range messagesByText(t, e, chat) {
		out = append(out, text)
	}
	slices.Sort(out)
	return out
}

func messagesByText(t *testing.T, e *Engine, chat string) map[string]MessageInfo {
	t.Helper()
	ms, err := e.Messages(context.Background(), chat, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]MessageInfo{}
	for _, m := range ms {
		out[m.Text] = m
	}
	return out
}

func hasChatEvent(evs []Event, typ EventType, chat string) bool {
	return slices.ContainsFunc(evs, func(e Event) bool { return e.Type == typ && e.Chat == chat })
}

// TestTimerInviteExpiry: an invite nobody used before its deadline dies
// on the relay (a join fails) and at the inviter (the pending chat is
// erased); one used before its deadline lives on.
func TestTimerInviteExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	addr := clockRelay(t, clk)
	ana, anaEv := clockEngine(t, addr, clk)
	ben, _ := clockEngine(t, addr, clk)

	usedKey, usedChat, err := ana.Invite(ctx, InviteOptions{Expires: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	unusedKey, unusedChat, err := ana.Invite(ctx, InviteOptions{Expires: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := ana.Chat(ctx, unusedChat); !c.Pending || !c.InviteUntil.Equal(clk.Now().Add(time.Minute)) {
		t.Fatalf("pending invite: %+v", c)
	}

	// A second before the deadline both are alive, on the relay and here.
	clk.Add(time.Minute - time.Second)
	sweep(t, ana)
	if ids := chatIDs(t, ana); !slices.Contains(ids, usedChat) || !slices.Contains(ids, unusedChat) {
		t.Fatalf("ana's chats a second before the deadline: %v", ids)
	}
	benChat, err := ben.Join(ctx, usedKey, JoinOptions{As: "ben"})
	if err != nil {
		t.Fatalf("join a second before the deadline: %v", err)
	}
	deliver(t, ben, benChat, ana, usedChat)

	// At the deadline the relay refuses the unused one: nothing on Ana's
	// side has told it to (her Sweep only queues deleting her mailbox).
	clk.Add(time.Second)
	if _, err := ben.Join(ctx, unusedKey, JoinOptions{As: "ben"}); !errors.Is(err, ErrInviteUsed) {
		t.Fatalf("join at the deadline: %v, want ErrInviteUsed", err)
	}
	if ids := chatIDs(t, ben); !slices.Equal(ids, []string{benChat}) {
		t.Fatalf("ben's chats after the failed join: %v", ids)
	}
	pendingEvents(anaEv)
	sweep(t, ana)
	if ids := chatIDs(t, ana); !slices.Equal(ids, []string{usedChat}) {
		t.Fatalf("ana's chats after the deadline: %v, want only %s", ids, usedChat)
	}
	if evs := pendingEvents(anaEv); !hasChatEvent(evs, EventInviteExpired, unusedChat) || hasChatEvent(evs, EventInviteExpired, usedChat) {
		t.Fatalf("ana's events: %+v", evs)
	}
}

// TestTimerDisappearingMessages: the sender's copy is erased TTL after
// sending, the recipient's TTL after it was shown, neither before; a
// message without TTL stays.
func TestTimerDisappearingMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	addr := clockRelay(t, clk)
	ana, _ := clockEngine(t, addr, clk)
	ben, _ := clockEngine(t, addr, clk)
	anaChat, benChat := connectClocked(t, ana, ben, InviteOptions{})

	const ttl = 5 * time.Second
	sent := clk.Now()
	if _, err := ana.Send(ctx, anaChat, "vanishing", SendOptions{TTL: ttl}); err != nil {
		t.Fatal(err)
	}
	if _, err := ana.Send(ctx, anaChat, "lasting", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := deliver(t, ana, anaChat, ben, benChat); n != 2 {
		t.Fatalf("%d messages delivered, want 2", n)
	}
	ms := messagesByText(t, ana, anaChat)
	if len(ms) != 2 || !ms["vanishing"].Expires.Equal(sent.Add(ttl)) || !ms["lasting"].Expires.IsZero() {
		t.Fatalf("ana's copies: %+v", ms)
	}
	ms = messagesByText(t, ben, benChat)
	if len(ms) != 2 || !ms["vanishing"].Expires.IsZero() || !ms["vanishing"].Unread {
		t.Fatalf("ben's copies before display: %+v", ms)
	}
	want := func(e *Engine, chat string, texts ...string) {
		t.Helper()
		slices.Sort(texts)
		if got := messageTexts(t, e, chat); !slices.Equal(got, texts) {
			t.Fatalf("messages %q, want %q", got, texts)
		}
	}

	clk.Add(ttl - time.Second)
	sweep(t, ana, ben)
	want(ana, anaChat, "vanishing", "lasting")
	want(ben, benChat, "vanishing", "lasting")

	clk.Add(time.Second) // the sender's copy is TTL old
	sweep(t, ana, ben)
	want(ana, anaChat, "lasting")
	want(ben, benChat, "vanishing", "lasting")

	// Unshown, the recipient's copy waits however long it takes.
	clk.Add(time.Hour)
	sweep(t, ben)
	want(ben, benChat, "vanishing", "lasting")

	shown := clk.Now()
	if err := ben.MarkRead(ctx, benChat); err != nil {
		t.Fatal(err)
	}
	ms = messagesByText(t, ben, benChat)
	if !ms["vanishing"].Expires.Equal(shown.Add(ttl)) || !ms["lasting"].Expires.IsZero() {
		t.Fatalf("ben's copies after display: %+v", ms)
	}
	clk.Add(ttl - time.Second)
	sweep(t, ben)
	want(ben, benChat, "vanishing", "lasting")
	clk.Add(time.Second) // the recipient's copy was shown TTL ago
	sweep(t, ben)
	want(ben, benChat, "lasting")

	clk.Add(30 * 24 * time.Hour)
	sweep(t, ana, ben)
	want(ana, anaChat, "lasting")
	want(ben, benChat, "lasting")
}

// TestTimerChatDeadline: a chat with a deadline is erased on both sides
// when it passes and can no longer be written to; another chat between
// the same two lives on.
func TestTimerChatDeadline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	addr := clockRelay(t, clk)
	ana, anaEv := clockEngine(t, addr, clk)
	ben, benEv := clockEngine(t, addr, clk)
	const life = time.Minute
	deadline := clk.Now().Add(life)
	anaBrief, benBrief := connectClocked(t, ana, ben, InviteOptions{ChatExpires: life})
	anaOther, benOther := connectClocked(t, ana, ben, InviteOptions{})
	for _, c := range []struct {
		e    *Engine
		chat string
	}{{ana, anaBrief}, {ben, benBrief}} {
		if ci, err := c.e.Chat(ctx, c.chat); err != nil || !ci.Deadline.Equal(deadline) {
			t.Fatalf("chat %s: deadline %v, want %v (%v)", c.chat, ci.Deadline, deadline, err)
		}
	}

	// A second before the deadline the chat works.
	clk.Add(life - time.Second)
	sweep(t, ana, ben)
	if _, err := ben.Send(ctx, benBrief, "just in time", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	deliver(t, ben, benBrief, ana, anaBrief)
	if got := messageTexts(t, ana, anaBrief); !slices.Equal(got, []string{"just in time"}) {
		t.Fatalf("ana read %q", got)
	}

	clk.Add(time.Second)
	pendingEvents(anaEv)
	pendingEvents(benEv)
	sweep(t, ana, ben)
	for _, c := range []struct {
		e            *Engine
		evs          chan Event
		brief, other string
	}{{ana, anaEv, anaBrief, anaOther}, {ben, benEv, benBrief, benOther}} {
		if ids := chatIDs(t, c.e); !slices.Equal(ids, []string{c.other}) {
			t.Fatalf("chats after the deadline: %v, want only %s", ids, c.other)
		}
		if _, err := c.e.Messages(ctx, c.brief, 0); !errors.Is(err, ErrNoChat) {
			t.Fatalf("messages of the expired chat: %v", err)
		}
		if evs := pendingEvents(c.evs); !hasChatEvent(evs, EventChatExpired, c.brief) {
			t.Fatalf("events: %+v", evs)
		}
	}
	if _, err := ben.Send(ctx, benBrief, "too late", SendOptions{}); !errors.Is(err, ErrNoChat) {
		t.Fatalf("send to the expired chat: %v, want ErrNoChat", err)
	}
	if _, err := ben.Send(ctx, benOther, "the other chat lives on", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	deliver(t, ben, benOther, ana, anaOther)
	if got := messageTexts(t, ana, anaOther); !slices.Equal(got, []string{"the other chat lives on"}) {
		t.Fatalf("ana read %q in the other chat", got)
	}

	// An invite whose chat deadline has passed cannot be joined.
	key, _, err := ana.Invite(ctx, InviteOptions{ChatExpires: life})
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(life)
	if _, err := ben.Join(ctx, key, JoinOptions{}); err == nil || !strings.Contains(err.Error(), "already expired") {
		t.Fatalf("join past the chat deadline: %v", err)
	}
}

// TestTimerGroupDeadline: a group with a deadline is erased for the admin
// and a member when it passes; a group without one lives on.
func TestTimerGroupDeadline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	addr := clockRelay(t, clk)
	ana, anaEv := clockEngine(t, addr, clk)
	ben, benEv := clockEngine(t, addr, clk)
	const life = time.Minute
	deadline := clk.Now().Add(life)
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "brief", As: "ana", Expires: life})
	if err != nil {
		t.Fatal(err)
	}
	lasting, err := ana.GroupCreate(ctx, GroupOptions{Name: "lasting", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := ana.Chat(ctx, gid); !c.Deadline.Equal(deadline) {
		t.Fatalf("group deadline %v, want %v", c.Deadline, deadline)
	}
	key, err := ana.GroupInvite(ctx, gid, 0)
	if err != nil {
		t.Fatal(err)
	}
	bid, err := ben.Join(ctx, key, JoinOptions{As: "ben"})
	if err != nil {
		t.Fatal(err)
	}
	groupSync(t, ana, ben)
	if ms, _, err := ben.GroupMembers(ctx, bid); err != nil || len(ms) != 2 {
		t.Fatalf("ben's members: %+v, %v", ms, err)
	}

	clk.Add(life - time.Second)
	groupSync(t, ana, ben)
	if _, err := ana.Send(ctx, gid, "just in time", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ben)
	if got := messageTexts(t, ben, bid); !slices.Equal(got, []string{"just in time"}) {
		t.Fatalf("ben read %q", got)
	}

	clk.Add(time.Second)
	pendingEvents(anaEv)
	pendingEvents(benEv)
	groupSync(t, ana, ben)
	if ids := chatIDs(t, ana); !slices.Equal(ids, []string{lasting}) {
		t.Fatalf("ana's chats after the deadline: %v, want only %s", ids, lasting)
	}
	if ids := chatIDs(t, ben); len(ids) != 0 {
		t.Fatalf("ben's chats after the deadline: %v", ids)
	}
	for _, c := range []struct {
		e    *Engine
		evs  chan Event
		chat string
	}{{ana, anaEv, gid}, {ben, benEv, bid}} {
		if evs := pendingEvents(c.evs); !hasChatEvent(evs, EventChatExpired, c.chat) {
			t.Fatalf("events: %+v", evs)
		}
		_ = c.e.v.View(ctx, func(tx *vault.Tx) error {
			gs, _ := tx.Groups()
			var ids []string
			for _, g := range gs {
				ids = append(ids, g.ID)
			}
			want := 0
			if c.e == ana {
				want = 2 // "lasting": its state and its roster
			}
			if len(gs) != want {
				t.Fatalf("group records after the deadline: %q", ids)
			}
			return nil
		})
	}
	if _, err := ana.Send(ctx, gid, "too late", SendOptions{}); !errors.Is(err, ErrNoChat) {
		t.Fatalf("send to the expired group: %v, want ErrNoChat", err)
	}
}
