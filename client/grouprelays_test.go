package client

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"strings"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/relaytest"
	"veil/relay/wire"
	"veil/vault"
)

// twoRelayGroup is a group of three engines on relays a (primary) and b.
type twoRelayGroup struct {
	a, b    *relaytest.Relay
	e       []*Engine
	ev      []chan Event
	ids     []string // each member's chat ID of the group
	texts   []string // every text sent, in order
	nextMsg int
}

func newTwoRelayGroup(t *testing.T) *twoRelayGroup { return newTwoRelayGroupAt(t, nil) }

// newTwoRelayGroupAt is newTwoRelayGroup with the engines on clock now
// (the real one when nil).
func newTwoRelayGroupAt(t *testing.T, now func() time.Time) *twoRelayGroup {
	t.Helper()
	return newTwoRelayGroupWith(t, now)
}

// newTwoRelayGroupWith is newTwoRelayGroupAt with options for relay a.
func newTwoRelayGroupWith(t *testing.T, now func() time.Time, aopts ...func(*relay.Config)) *twoRelayGroup {
	t.Helper()
	ctx := context.Background()
	w := &twoRelayGroup{a: relaytest.Start(t, aopts...), b: relaytest.Start(t)}
	for range 3 {
		ev := make(chan Event, 256)
		cfg := Config{Dir: t.TempDir(), Events: ev, Now: now,
			Vault: vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1, MemTableSize: testMemTableSize}}
		e, err := Create(ctx, cfg, []byte("test pin"), CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		if err := e.Setup(ctx, w.a.Address.String()); err != nil {
			t.Fatal(err)
		}
		w.e, w.ev = append(w.e, e), append(w.ev, ev)
	}
	gid, err := w.e[0].GroupCreate(ctx, GroupOptions{Name: "river", As: "ana",
		Relays: []string{w.a.Address.String(), w.b.Address.String()}})
	if err != nil {
		t.Fatal(err)
	}
	w.ids = append(w.ids, gid)
	for i, nick := range []string{"ben", "cat"} {
		key, err := w.e[0].GroupInvite(ctx, gid, 0)
		if err != nil {
			t.Fatal(err)
		}
		id, err := w.e[i+1].Join(ctx, key, JoinOptions{As: nick})
		if err != nil {
			t.Fatal(err)
		}
		w.ids = append(w.ids, id)
		w.syncAll(t)
		w.syncAll(t)
	}
	for i := range w.e {
		ms, _, err := w.e[i].GroupMembers(ctx, w.ids[i])
		if err != nil || len(ms) != 3 {
			t.Fatalf("member %d sees %d members: %v", i, len(ms), err)
		}
	}
	return w
}

// syncAll syncs every member once; with one relay down, a sync still
// succeeds.
func (w *twoRelayGroup) syncAll(t *testing.T) {
	t.Helper()
	for i, e := range w.e {
		if err := e.GroupSync(context.Background()); err != nil {
			t.Fatalf("member %d: sync: %v", i, err)
		}
	}
}

// talk has every member send n messages, then everyone syncs twice.
func (w *twoRelayGroup) talk(t *testing.T, n int) {
	t.Helper()
	for range n {
		for i, e := range w.e {
			text := fmt.Sprintf("message %d from %d", w.nextMsg, i)
			w.nextMsg++
			if _, err := e.Send(context.Background(), w.ids[i], text, SendOptions{}); err != nil {
				t.Fatalf("member %d: send: %v", i, err)
			}
			w.texts = append(w.texts, text)
		}
	}
	w.syncAll(t)
	w.syncAll(t)
}

// checkOnce checks that every member's vault holds every text sent
// exactly once, and its own as sent.
func (w *twoRelayGroup) checkOnce(t *testing.T) {
	t.Helper()
	for i, e := range w.e {
		ms, err := e.Messages(context.Background(), w.ids[i], 0)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, m := range ms {
			seen[m.Text]++
			if m.Outgoing && m.Status != statusName(vault.StatusSent) {
				t.Errorf("member %d: %q is %s", i, m.Text, m.Status)
			}
		}
		for _, text := range w.texts {
			if seen[text] != 1 {
				t.Errorf("member %d holds %q %d times", i, text, seen[text])
			}
		}
	}
}

// checkBothRead checks that every member read the current epoch's log on
// each relay.
func (w *twoRelayGroup) checkBothRead(t *testing.T) {
	t.Helper()
	for i, e := range w.e {
		err := e.withGroup(context.Background(), w.ids[i], func(g *groupState, _ *groupRecord, _ *conn.Conn, _ *vault.Chat) ([]Event, error) {
			if len(g.cur.side) != 1 || g.cur.cursor == 0 || g.cur.side[0].cursor == 0 {
				t.Errorf("member %d: cursors %d and %+v", i, g.cur.cursor, g.cur.side)
			}
			return nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestGroupTwoRelays: a group of three on two relays talks; the
// secondary stops mid-conversation and comes back, then the primary: the
// group keeps talking through the other relay each time, roster changes
// wait for the primary, and in the end every member holds every message
// exactly once, and no duplicate was ever reported.
func TestGroupTwoRelays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newTwoRelayGroup(t)
	w.talk(t, 2)
	w.checkOnce(t)
	w.checkBothRead(t)
	// The secondary is in use: it cannot be removed from the profile.
	if err := w.e[1].AddRelay(ctx, w.b.Address.String()); err != nil {
		t.Fatal(err)
	}
	if err := w.e[1].RemoveRelay(ctx, w.b.Address.String()); err == nil || !strings.Contains(err.Error(), "group") {
		t.Fatalf("removing the group's secondary relay: %v", err)
	}
	for i := range w.e {
		if n := countEvents(w.ev[i], EventGroupRelayDown); n != 0 {
			t.Fatalf("member %d: a relay reported down while both answer", i)
		}
	}

	w.b.Stop()
	w.talk(t, 2)
	w.checkOnce(t)
	w.b.Restart()
	w.talk(t, 1)
	w.checkOnce(t)

	w.a.Stop()
	w.talk(t, 2)
	w.checkOnce(t)
	if err := w.e[0].GroupRemove(ctx, w.ids[0], "cat"); !errors.Is(err, errPrimaryDown) {
		t.Fatalf("a remove with the primary down: %v", err)
	}
	for i := range w.e {
		if evs := pendingEvents(w.ev[i]); !hasEventType(evs, EventGroupRelayDown) {
			t.Fatalf("member %d: no %s event: %+v", i, EventGroupRelayDown, evs)
		}
	}
	w.a.Restart()
	w.talk(t, 1)
	w.checkOnce(t)
	for i := range w.e {
		for _, ev := range pendingEvents(w.ev[i]) {
			if ev.Type == EventWarning {
				t.Errorf("member %d: warning %q", i, ev.Err)
			}
		}
	}

	// With both relays back, roster changes go ahead.
	if err := w.e[0].GroupRemove(ctx, w.ids[0], "cat"); err != nil {
		t.Fatal(err)
	}
	w.syncAll(t)
	ms, _, err := w.e[1].GroupMembers(ctx, w.ids[1])
	if err != nil || len(ms) != 2 {
		t.Fatalf("ben sees %d members: %v", len(ms), err)
	}
}

// TestGroupMoveRelay: an admin moves the group off a relay with a
// settings commit naming the new set; every member follows without an
// invite, and the group keeps talking once the old relay is gone.
func TestGroupMoveRelay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newTwoRelayGroup(t)
	w.talk(t, 1)
	c := relaytest.Start(t)
	err := w.e[0].GroupSet(ctx, w.ids[0], GroupSettings{Relays: []string{w.a.Address.String(), c.Address.String()}})
	if err != nil {
		t.Fatal(err)
	}
	w.syncAll(t)
	w.syncAll(t)
	// b is left; with a down too, only the new relay carries messages.
	w.b.Stop()
	w.talk(t, 1)
	w.a.Stop()
	w.talk(t, 2)
	w.checkOnce(t)
	w.a.Restart()
	w.syncAll(t)
	for i := range w.e {
		err := w.e[i].withGroup(ctx, w.ids[i], func(g *groupState, _ *groupRecord, _ *conn.Conn, _ *vault.Chat) ([]Event, error) {
			if g.cur.relay(1) != c.Address.String() || len(g.cur.side) != 1 {
				t.Errorf("member %d: relays %q", i, g.cur.roster.Settings.Relays)
			}
			return nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range pendingEvents(w.ev[i]) {
			if ev.Type == EventWarning {
				t.Errorf("member %d: %s %q", i, ev.Type, ev.Err)
			}
		}
	}
	err = w.e[0].GroupSet(ctx, w.ids[0], GroupSettings{Relays: []string{c.Address.String(), c.Address.String()}})
	if err == nil {
		t.Fatal("a group named one relay twice")
	}
}

// TestGroupHostileRelaySet: an admin's commit whose sealed logs do not
// match the relays its roster names is refused by every other member,
// who stays in its epoch on the relays it had.
func TestGroupHostileRelaySet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newTwoRelayGroup(t)
	c := relaytest.Start(t)
	var epoch uint64
	err := w.e[0].withGroup(ctx, w.ids[0], func(g *groupState, _ *groupRecord, _ *conn.Conn, _ *vault.Chat) ([]Event, error) {
		epoch = g.cur.roster.Epoch
		s := g.cur.roster.Settings
		s.Relays = []string{w.a.Address.String(), c.Address.String()}
		op, err := format.SettingsOperand(s)
		if err != nil {
			return nil, err
		}
		cm, next, err := format.MakeCommit(g.cur.roster, format.ChangeSettings, op)
		if err != nil {
			return nil, err
		}
		secret, _ := crypto.NewSymKey(nil)
		seals := make([]ratchet.SealRecipient, len(next.Members))
		for i, m := range next.Members {
			seals[i] = ratchet.SealRecipient{DH: m.Seal, KEM: m.Kem}
		}
		if cm.Sealed, err = ratchet.SealEpochSecret(&secret, ratchet.EpochContext(next.GroupID, next.Epoch), seals, nil); err != nil {
			return nil, err
		}
		cm.CommitSecret(&secret, next)
		ep, err := newEpoch(g.rcfg, &secret, next, g.sign)
		if err != nil {
			return nil, err
		}
		// One log for a roster of two relays.
		if cm.LogID, err = format.SealLogIDs(ep, []crypto.ID{{1}}); err != nil {
			return nil, err
		}
		cm.Sign(g.sign, g.cur.epoch.Context())
		parts, err := format.SplitCommit(cm.Marshal())
		if err != nil {
			return nil, err
		}
		for _, part := range parts {
			part.Conf = format.ConfTag(g.cur.conf)
			pt, err := part.Marshal()
			if err != nil {
				return nil, err
			}
			m, err := g.cur.epoch.Encrypt(pt)
			if err != nil {
				return nil, err
			}
			g.queue(&g.cur, m)
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3; i++ {
		pendingEvents(w.ev[i])
		if err := w.e[i].GroupSync(ctx); err != nil {
			t.Fatal(err)
		}
		refused := false
		for _, ev := range pendingEvents(w.ev[i]) {
			refused = refused || (ev.Type == EventWarning && strings.Contains(ev.Err, "logs do not match the group's relays"))
		}
		if !refused {
			t.Errorf("member %d: the commit was not refused", i)
		}
		err := w.e[i].withGroup(ctx, w.ids[i], func(g *groupState, _ *groupRecord, _ *conn.Conn, _ *vault.Chat) ([]Event, error) {
			if g.cur.roster.Epoch != epoch || g.cur.relay(1) != w.b.Address.String() {
				t.Errorf("member %d: epoch %d on %q", i, g.cur.roster.Epoch, g.cur.roster.Settings.Relays)
			}
			return nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	w.talk(t, 1)
	w.checkOnce(t)
}

// countEvents counts the events of type typ waiting on ch.
func countEvents(ch chan Event, typ EventType) int {
	n := 0
	for _, ev := range pendingEvents(ch) {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// TestGroupRelayDownReportedOnce (fake clock): a relay that stays down
// through many syncs is reported once per member, and once more when it
// answers again; a group moved off two relays that are both down reads
// its new relays at once and gives the old epoch up after drainGrace.
func TestGroupRelayDownReportedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	w := newTwoRelayGroupAt(t, clk.now)
	for i := range w.ev {
		pendingEvents(w.ev[i])
	}
	w.b.Stop()
	for range 3 {
		w.talk(t, 1)
		clk.advance(time.Minute)
	}
	for i := range w.ev {
		if n := countEvents(w.ev[i], EventGroupRelayDown); n != 1 {
			t.Errorf("member %d: %d down events", i, n)
		}
	}
	w.b.Restart()
	w.talk(t, 1)
	w.syncAll(t)
	for i := range w.ev {
		if n := countEvents(w.ev[i], EventGroupRelayUp); n != 1 {
			t.Errorf("member %d: %d up events", i, n)
		}
	}
	w.checkOnce(t)

	// Moved to two new relays, the old ones both down.
	c, d := relaytest.Start(t), relaytest.Start(t)
	if err := w.e[0].GroupSet(ctx, w.ids[0], GroupSettings{Relays: []string{c.Address.String(), d.Address.String()}}); err != nil {
		t.Fatal(err)
	}
	w.syncAll(t)
	w.a.Stop()
	w.b.Stop()
	w.talk(t, 1)
	w.checkOnce(t)
	prev := func(i int) bool {
		var held bool
		err := w.e[i].withGroup(ctx, w.ids[i], func(g *groupState, _ *groupRecord, _ *conn.Conn, _ *vault.Chat) ([]Event, error) {
			held = g.prev != nil
			return nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return held
	}
	clk.advance(drainGrace + time.Second)
	w.syncAll(t)
	for i := range w.e {
		if prev(i) {
			t.Errorf("member %d still drains the old epoch after drainGrace", i)
		}
	}
	// Roster changes go ahead on the new relays.
	if err := w.e[0].GroupRemove(ctx, w.ids[0], "cat"); err != nil {
		t.Fatal(err)
	}
}

// TestGroupInviteAcrossMove: an invite made before the group moved to
// other relays still lets its joiner in (its logs stay on the relay it
// was made on), and the joiner enters the group on its new relays.
func TestGroupInviteAcrossMove(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newTwoRelayGroup(t)
	key, err := w.e[0].GroupInvite(ctx, w.ids[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	c, d := relaytest.Start(t), relaytest.Start(t)
	if err := w.e[0].GroupSet(ctx, w.ids[0], GroupSettings{Relays: []string{c.Address.String(), d.Address.String()}}); err != nil {
		t.Fatal(err)
	}
	w.syncAll(t)
	dan, danEv := groupEngine(t, w.a.Address.String())
	did, err := dan.Join(ctx, key, JoinOptions{As: "dan"})
	if err != nil {
		t.Fatal(err)
	}
	w.e, w.ids = append(w.e, dan), append(w.ids, did)
	w.ev = append(w.ev, make(chan Event, 256))
	w.syncAll(t)
	w.syncAll(t)
	ms, _, err := dan.GroupMembers(ctx, did)
	if err != nil || len(ms) != 4 {
		t.Fatalf("dan sees %d members: %v", len(ms), err)
	}
	if n := countEvents(danEv, EventGroupRelayDown); n != 0 {
		t.Fatal("dan reported a relay down while all answer")
	}
	w.talk(t, 1)
	w.checkBothRead(t)
	w.a.Stop()
	w.b.Stop()
	w.talk(t, 1)
	w.checkOnce(t)
}

// TestGroupUpgradeToTwoRelays: a group on one relay (version-2 records)
// moves onto two with a settings commit, its primary changing on the
// way; its members follow without an invite and keep talking through
// the new primary when the old relay goes.
func TestGroupUpgradeToTwoRelays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := &twoRelayGroup{a: relaytest.Start(t), b: relaytest.Start(t)}
	for range 2 {
		e, ev := groupEngine(t, w.a.Address.String())
		w.e, w.ev = append(w.e, e), append(w.ev, ev)
	}
	gid, err := w.e[0].GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := w.e[0].GroupInvite(ctx, gid, 0)
	if err != nil {
		t.Fatal(err)
	}
	bid, err := w.e[1].Join(ctx, key, JoinOptions{As: "ben"})
	if err != nil {
		t.Fatal(err)
	}
	w.ids = []string{gid, bid}
	w.syncAll(t)
	w.syncAll(t)
	w.talk(t, 1)
	if err := w.e[0].GroupSet(ctx, gid, GroupSettings{Relays: []string{w.b.Address.String(), w.a.Address.String()}}); err != nil {
		t.Fatal(err)
	}
	w.syncAll(t)
	w.talk(t, 1)
	w.checkBothRead(t)
	w.a.Stop()
	w.talk(t, 2)
	w.checkOnce(t)
	// A commit needs a log on every relay of its epoch (spec/groups.md
	// §3.5): it waits for the old relay, then goes through.
	if err := w.e[0].GroupRekey(ctx, gid); err == nil {
		t.Fatal("a commit with a relay of the group down")
	}
	w.a.Restart()
	if err := w.e[0].GroupRekey(ctx, gid); err != nil {
		t.Fatalf("a commit through the new primary: %v", err)
	}
	w.syncAll(t)
	w.talk(t, 1)
	w.checkOnce(t)
}

// TestGroupCommitWaitsForSecondary: with the secondary down, a member's
// leave is read and its commit waits without failing any sync; once the
// secondary is back, the commit goes through and the others talk on.
func TestGroupCommitWaitsForSecondary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newTwoRelayGroup(t)
	w.b.Stop()
	if err := w.e[2].GroupLeave(ctx, w.ids[2]); err != nil {
		t.Fatal(err)
	}
	w.e, w.ev, w.ids = w.e[:2], w.ev[:2], w.ids[:2]
	w.syncAll(t)
	w.syncAll(t)
	if ms, _, err := w.e[1].GroupMembers(ctx, w.ids[1]); err != nil || len(ms) != 3 {
		t.Fatalf("ben sees %d members with the secondary down: %v", len(ms), err)
	}
	w.talk(t, 1)
	w.b.Restart()
	w.syncAll(t)
	w.syncAll(t)
	if ms, _, err := w.e[1].GroupMembers(ctx, w.ids[1]); err != nil || len(ms) != 2 {
		t.Fatalf("ben sees %d members: %v", len(ms), err)
	}
	w.talk(t, 1)
	w.checkOnce(t)
}

// TestGroupMoveOffDeadSecondary: with the secondary down, a leave waits
// for it; the admin's move off it is queued behind the leave yet goes
// first, and the leave then commits in the moved epoch.
func TestGroupMoveOffDeadSecondary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newTwoRelayGroup(t)
	w.b.Stop()
	if err := w.e[2].GroupLeave(ctx, w.ids[2]); err != nil {
		t.Fatal(err)
	}
	w.e, w.ev, w.ids = w.e[:2], w.ev[:2], w.ids[:2]
	w.syncAll(t)
	if err := w.e[0].GroupSet(ctx, w.ids[0], GroupSettings{Relays: []string{w.a.Address.String()}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		w.syncAll(t)
	}
	for i, e := range w.e {
		if err := e.withGroup(ctx, w.ids[i], func(g *groupState, _ *groupRecord, _ *conn.Conn, _ *vault.Chat) ([]Event, error) {
			if n := len(g.cur.roster.Settings.Relays); n != 1 || g.multiRelay() {
				t.Errorf("member %d: still on %d relays", i, n)
			}
			return nil, nil
		}); err != nil {
			t.Fatal(err)
		}
		if ms, _, err := e.GroupMembers(ctx, w.ids[i]); err != nil || len(ms) != 2 {
			t.Errorf("member %d sees %d members: %v", i, len(ms), err)
		}
	}
	w.talk(t, 1)
	w.checkOnce(t)
}

// TestGroupNoOrphanLogs: commits that wait for a dead secondary make no
// log on the primary, or delete the one they made.
func TestGroupNoOrphanLogs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &relaytest.Recorder{}
	w := newTwoRelayGroupWith(t, nil, relaytest.WithObserver(rec))
	w.b.Stop()
	before := countItems(rec)
	if err := w.e[2].GroupLeave(ctx, w.ids[2]); err != nil {
		t.Fatal(err)
	}
	w.e, w.ev, w.ids = w.e[:2], w.ev[:2], w.ids[:2]
	for range 5 {
		w.syncAll(t)
	}
	after := countItems(rec)
	made, deleted := after[wire.TypeLNEW]-before[wire.TypeLNEW], after[wire.TypeLDEL]-before[wire.TypeLDEL]
	if made != deleted {
		t.Fatalf("the primary made %d logs and deleted %d", made, deleted)
	}
}

// countItems counts the commands a relay handled, by type.
func countItems(rec *relaytest.Recorder) map[wire.Type]int {
	n := map[wire.Type]int{}
	for _, it := range rec.Items() {
		n[it.Type]++
	}
	return n
}

// TestGroupMoveReported: a move is never silent: every member gets
// group_relays naming the new relays by host:port, and a line in the chat.
func TestGroupMoveReported(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newTwoRelayGroup(t)
	c := relaytest.Start(t)
	for _, ch := range w.ev {
		pendingEvents(ch)
	}
	if err := w.e[0].GroupSet(ctx, w.ids[0], GroupSettings{Relays: []string{w.a.Address.String(), c.Address.String()}}); err != nil {
		t.Fatal(err)
	}
	w.syncAll(t)
	w.syncAll(t)
	want := shortRelay(w.a.Address.String()) + ", " + shortRelay(c.Address.String())
	for i := range w.e {
		var got []Event
		for _, ev := range pendingEvents(w.ev[i]) {
			if ev.Type == EventGroupRelays {
				got = append(got, ev)
			}
		}
		by, who := "ana", "ana"
		if i == 0 {
			by, who = "", "you"
		}
		if len(got) != 1 || got[0].Text != want || got[0].By != by {
			t.Errorf("member %d: group_relays events %+v, want one with %q by %q", i, got, want, by)
		}
		ms, err := w.e[i].Messages(ctx, w.ids[i], 0)
		if err != nil {
			t.Fatal(err)
		}
		lines := 0
		for _, m := range ms {
			if m.Kind == "relays" {
				lines++
				if m.Text != who+" moved the group to relays "+want || m.Unread {
					t.Errorf("member %d: relays line %q (unread %v)", i, m.Text, m.Unread)
				}
			}
		}
		if lines != 1 {
			t.Errorf("member %d: %d relays lines", i, lines)
		}
	}
	w.talk(t, 1)
	w.checkOnce(t)
}

// TestGroupRefusesLocalMove: a member does not follow a move from public
// relays onto an address only its machine or network reaches, and does
// follow one between such addresses or between public ones.
func TestGroupRefusesLocalMove(t *testing.T) {
	t.Parallel()
	const fp = "#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	pub1, pub2 := "veil+ws://relay.example:7070"+fp, "veil+ws://8.8.8.8:443"+fp
	lan, loop, link := "veil+ws://192.168.1.20:7070"+fp, "veil+ws://127.0.0.1:7070"+fp, "veil+ws://[fe80::1]:7070"+fp
	for _, tc := range []struct {
		was, to []string
		refused bool
	}{
		{[]string{pub1}, []string{pub2}, false},
		{[]string{pub1, pub2}, []string{pub1}, false},
		{[]string{pub1}, []string{lan}, true},
		{[]string{pub1}, []string{pub2, loop}, true},
		{[]string{pub1, pub2}, []string{link}, true},
		{[]string{loop}, []string{lan}, false},
		{[]string{pub1, lan}, []string{loop}, false},
	} {
		got := refusedRelays(tc.was, tc.to)
		if (got != "") != tc.refused {
			t.Errorf("%q → %q: refused %q", tc.was, tc.to, got)
		}
		if got != "" && (strings.Contains(got, "#") || strings.Contains(got, "veil+ws")) {
			t.Errorf("refused relays named as %q, not host:port", got)
		}
	}
	// A group on one unnamed relay judges by the relay its record names.
	g := &groupState{relays: &relayConns{primary: pub1}}
	old, next := &format.Roster{}, &format.Roster{Settings: format.Settings{Relays: []string{lan}}}
	if got := g.refusesMove(old, next); got != "192.168.1.20:7070" {
		t.Errorf("move from an unnamed public relay onto the LAN: %q", got)
	}
	if got := g.refusesMove(next, next); got != "" {
		t.Errorf("no move refused as %q", got)
	}
	if n := removedNotice("river", "ana", "192.168.1.20:7070"); !strings.Contains(n, "ana moved river to 192.168.1.20:7070") || !strings.Contains(n, "did not follow") {
		t.Errorf("notice %q", n)
	}
}

// TestGroupRefusedLogDeleted: a move onto a relay that refuses the new
// epoch's log (a hostile secondary) deletes the log already made on the
// primary, at every attempt; a later move that avoids that relay goes
// ahead of it.
func TestGroupRefusedLogDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &relaytest.Recorder{}
	w := newTwoRelayGroupWith(t, nil, relaytest.WithObserver(rec))
	hostile := relaytest.Start(t, func(c *relay.Config) { c.Limits.MaxLogTTL = time.Hour })
	before := countItems(rec)
	err := w.e[0].GroupSet(ctx, w.ids[0], GroupSettings{Relays: []string{w.a.Address.String(), hostile.Address.String()}})
	if err == nil {
		t.Fatal("a move onto a relay that refuses the log went through")
	}
	for range 3 {
		w.syncAll(t)
	}
	after := countItems(rec)
	made, deleted := after[wire.TypeLNEW]-before[wire.TypeLNEW], after[wire.TypeLDEL]-before[wire.TypeLDEL]
	if made == 0 || made != deleted {
		t.Fatalf("the primary made %d logs and deleted %d", made, deleted)
	}
	if err := w.e[0].GroupSet(ctx, w.ids[0], GroupSettings{Relays: []string{w.a.Address.String()}}); err != nil {
		t.Fatal(err)
	}
	w.syncAll(t)
	w.syncAll(t)
	for i := range w.e {
		if ms, _, err := w.e[i].GroupMembers(ctx, w.ids[i]); err != nil || len(ms) != 3 {
			t.Errorf("member %d sees %d members: %v", i, len(ms), err)
		}
	}
	w.talk(t, 1)
	w.checkOnce(t)
}
