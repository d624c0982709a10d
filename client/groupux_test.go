package client

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/relay/store/memory"
	"veil/relay/wire"
	"veil/vault"
)

// flakyRelay is a real relay on 127.0.0.1 that a test can stop and start
// again on the same port with the same store and identity: unreachable
// meanwhile, then back with everything it had.
type flakyRelay struct {
	t     *testing.T
	cfg   relay.Config
	port  int
	addr  wire.Address
	stopF func()
}

func startFlakyRelay(t *testing.T) *flakyRelay {
	t.Helper()
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New(memory.Config{})
	t.Cleanup(func() { st.Close() })
	r := &flakyRelay{t: t, cfg: relay.Config{Store: st, Identity: id}}
	r.start("127.0.0.1:0")
	t.Cleanup(r.stop)
	return r
}

func (r *flakyRelay) start(hostport string) {
	r.t.Helper()
	srv, err := relay.New(r.cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", hostport)
	if err != nil {
		r.t.Fatal(err)
	}
	r.port = ln.Addr().(*net.TCPAddr).Port
	r.addr = srv.Address("127.0.0.1", uint16(r.port), false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, nil) }() // owned by r: stop ends it
	r.stopF = func() { cancel(); <-done }
}

func (r *flakyRelay) stop() {
	if r.stopF != nil {
		r.stopF()
		r.stopF = nil
	}
}

func (r *flakyRelay) restart() {
	r.t.Helper()
	r.start(net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)))
}

// twoMembers makes a group "river" with ana as admin and ben let in.
func twoMembers(t *testing.T, addr string) (ana, ben *Engine, gid, bid string, benEv chan Event) {
	t.Helper()
	ctx := context.Background()
	ana, _ = groupEngine(t, addr)
	ben, benEv = groupEngine(t, addr)
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ana.GroupInvite(ctx, gid, 0)
	if err != nil {
		t.Fatal(err)
	}
	if bid, err = ben.Join(ctx, key, JoinOptions{As: "ben"}); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ana, ben)
	return ana, ben, gid, bid, benEv
}

func messageStatus(t *testing.T, e *Engine, chat, id string) string {
	t.Helper()
	ms, err := e.Messages(context.Background(), chat, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.ID == id {
			return m.Status
		}
	}
	t.Fatalf("message %s not found in %+v", id, ms)
	return ""
}

// TestGroupSendQueuedWhileRelayDown (spec/client.md §7.3, spec/groups.md
// §6.2): a group message sent while the group's relay is unreachable is
// stored and queued, pending; it goes out when the relay is back.
func TestGroupSendQueuedWhileRelayDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startFlakyRelay(t)
	ana, ben, gid, bid, _ := twoMembers(t, r.addr.String())

	r.stop()
	id, err := ana.Send(ctx, gid, "sent in the dark", SendOptions{})
	if err != nil {
		t.Fatalf("send with the relay down: %v", err)
	}
	if st := messageStatus(t, ana, gid, id); st != "queued" {
		t.Fatalf("status while the relay is down: %q", st)
	}
	if n, _ := ana.QueuedCount(ctx); n != 1 {
		t.Fatalf("queued: %d, want 1", n)
	}
	if n, err := ana.Flush(ctx); n != 1 || err == nil {
		t.Fatalf("Flush with the relay down: %d left, %v", n, err)
	}

	r.restart()
	var left int
	for range 3 { // the first try may find the dead connection
		if left, err = ana.Flush(ctx); left == 0 {
			break
		}
	}
	if left != 0 {
		t.Fatalf("after the relay came back: %d left, %v", left, err)
	}
	if st := messageStatus(t, ana, gid, id); st != "sent" {
		t.Fatalf("status after the relay came back: %q", st)
	}
	var got []string
	for range 3 {
		if ben.GroupSync(ctx) == nil {
			break
		}
	}
	got = messageTexts(t, ben, bid)
	if !slices.Equal(got, []string{"sent in the dark"}) {
		t.Fatalf("ben read %q", got)
	}
}

// TestGroupRemovedKeepsHistory (spec/groups.md §7.4): a removed member
// keeps what it had, read-only, with a notice; sending says why not; burn
// erases it here.
func TestGroupRemovedKeepsHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := startGroupRelay(t).String()
	ana, ben, gid, bid, benEv := twoMembers(t, addr)
	if _, err := ana.Send(ctx, gid, "before", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ben)
	// ben is promoted, then removed before he reads either: his own
	// remove then says he was removed (he was an admin).
	if err := ana.GroupPromote(ctx, gid, "ben"); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ben)
	pendingEvents(benEv)
	if err := ana.GroupRemove(ctx, gid, "ben"); err != nil {
		t.Fatal(err)
	}
	err := ben.GroupRemove(ctx, bid, "ana")
	if !errors.Is(err, ErrGroupRemoved) || !strings.Contains(err.Error(), "you were removed from river by ana") {
		t.Fatalf("a removed admin's remove: %v", err)
	}
	if evs := pendingEvents(benEv); !slices.ContainsFunc(evs, func(e Event) bool {
		return e.Type == EventGroupRemoved && e.From == "" && strings.Contains(e.Text, "read-only")
	}) {
		t.Fatalf("ben's events: %+v", evs)
	}
	if err := ben.GroupPromote(ctx, bid, "ana"); !errors.Is(err, ErrGroupRemoved) {
		t.Fatalf("promote after removal: %v", err)
	}
	if got := messageTexts(t, ben, bid); !slices.Equal(got, []string{"before"}) {
		t.Fatalf("ben's history after removal: %q", got)
	}
	info, err := ben.Chat(ctx, bid)
	if err != nil || !info.Removed || !strings.Contains(info.Notice, "removed from river by ana") {
		t.Fatalf("ben's chat after removal: %+v, %v", info, err)
	}
	if _, err := ben.Send(ctx, bid, "still here?", SendOptions{}); !errors.Is(err, ErrGroupRemoved) {
		t.Fatalf("send after removal: %v", err)
	}
	if _, _, err := ben.GroupMembers(ctx, bid); !errors.Is(err, ErrGroupRemoved) {
		t.Fatalf("members after removal: %v", err)
	}
	if err := ben.GroupSync(ctx); err != nil {
		t.Fatalf("sync with a removed group: %v", err)
	}
	_ = ben.v.View(ctx, func(tx *vault.Tx) error {
		if gs, _ := tx.Groups(); len(gs) != 0 {
			t.Fatal("the removed member still holds the group's keys")
		}
		return nil
	})
	if err := ben.Burn(ctx, bid); err != nil {
		t.Fatal(err)
	}
	if cs, _ := ben.Chats(ctx); len(cs) != 0 {
		t.Fatalf("chats after burning the removed group: %+v", cs)
	}
}

// TestGroupJoinerWaits (spec/groups.md §9.3): a joiner sees one state
// until the admin lets it in, and can send as soon as it is in.
func TestGroupJoinerWaits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := startGroupRelay(t).String()
	ana, _ := groupEngine(t, addr)
	ben, _ := groupEngine(t, addr)
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ana.GroupInvite(ctx, gid, 0)
	if err != nil {
		t.Fatal(err)
	}
	bid, err := ben.Join(ctx, key, JoinOptions{As: "ben"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := ben.Chat(ctx, bid)
	if err != nil || !info.Waiting || info.Notice != "waiting for an admin to let you in" {
		t.Fatalf("the joiner's chat: %+v, %v", info, err)
	}
	if _, err := ben.Send(ctx, bid, "hello?", SendOptions{}); !errors.Is(err, ErrGroupWaiting) || err.Error() != "client: waiting for an admin to let you in" {
		t.Fatalf("send while waiting: %v", err)
	}
	if _, _, err := ben.GroupMembers(ctx, bid); !errors.Is(err, ErrGroupWaiting) {
		t.Fatalf("members while waiting: %v", err)
	}
	groupSync(t, ana, ben)
	if info, _ := ben.Chat(ctx, bid); info.Waiting || info.Notice != "" {
		t.Fatalf("the member's chat: %+v", info)
	}
	if _, err := ben.Send(ctx, bid, "in", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ana)
	if got := messageTexts(t, ana, gid); !slices.Equal(got, []string{"in"}) {
		t.Fatalf("ana read %q", got)
	}
}

// TestGroupSetAndMessageTimer (spec/groups.md §6.3, §7.5): an admin
// changes the timer and deadline for every member; a member's own shorter
// timer on one message is honoured by its readers.
func TestGroupSetAndMessageTimer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := startGroupRelay(t).String()
	ana, ben, gid, bid, benEv := twoMembers(t, addr)
	hour, day := time.Hour, 24*time.Hour
	if err := ben.GroupSet(ctx, bid, GroupSettings{Timer: &hour}); err == nil || !strings.Contains(err.Error(), "not an admin of river") {
		t.Fatalf("a member's group set: %v", err)
	}
	if err := ana.GroupSet(ctx, gid, GroupSettings{Timer: &hour, Expires: &day}); err != nil {
		t.Fatal(err)
	}
	pendingEvents(benEv)
	groupSync(t, ben)
	info, err := ben.Chat(ctx, bid)
	if err != nil || info.MessageTTL != hour || info.Deadline.IsZero() || time.Until(info.Deadline) > day+time.Minute {
		t.Fatalf("ben's chat after group set: %+v, %v", info, err)
	}
	if evs := pendingEvents(benEv); !hasEventType(evs, EventGroupSettings) {
		t.Fatalf("ben's events: %+v", evs)
	}

	if _, err := ben.Send(ctx, bid, "short", SendOptions{TTL: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := ben.Send(ctx, bid, "long", SendOptions{TTL: 2 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ana)
	ms := messagesByText(t, ana, gid)
	if exp := time.Until(ms["short"].Expires); exp <= 0 || exp > 10*time.Minute {
		t.Fatalf("the short message expires in %v", exp)
	}
	if exp := time.Until(ms["long"].Expires); exp <= 10*time.Minute || exp > hour {
		t.Fatalf("the long message expires in %v, want the group's hour", exp)
	}
	if exp := time.Until(messagesByText(t, ben, bid)["short"].Expires); exp <= 0 || exp > 10*time.Minute {
		t.Fatalf("the sender's copy expires in %v", exp)
	}

	zero := time.Duration(0)
	if err := ana.GroupSet(ctx, gid, GroupSettings{Timer: &zero, Expires: &zero}); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ben)
	if info, _ := ben.Chat(ctx, bid); info.MessageTTL != 0 || !info.Deadline.IsZero() {
		t.Fatalf("ben's chat after clearing: %+v", info)
	}
}

// TestGroupRemovedHistoryErasedAtDeadline (spec/groups.md §7.4, §8): a
// removed member's read-only history still goes at the group's deadline.
func TestGroupRemovedHistoryErasedAtDeadline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	addr := startGroupRelay(t).String()
	ana, _ := clockEngine(t, addr, clk)
	ben, _ := clockEngine(t, addr, clk)
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "brief", As: "ana", Expires: time.Hour})
	if err != nil {
		t.Fatal(err)
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
	if _, err := ana.Send(ctx, gid, "kept a while", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := ana.GroupRemove(ctx, gid, "ben"); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ben)
	if got := messageTexts(t, ben, bid); !slices.Equal(got, []string{"kept a while"}) {
		t.Fatalf("ben's history after removal: %q", got)
	}
	clk.Add(time.Hour - time.Second)
	if err := ben.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(chatIDs(t, ben), bid) {
		t.Fatal("the history went before the deadline")
	}
	clk.Add(time.Second)
	if err := ben.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(chatIDs(t, ben), bid) {
		t.Fatal("the history outlived the group's deadline")
	}
}
