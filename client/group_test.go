package client

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/vault"
)

// groupEngine is a real engine (a Badger vault in t.TempDir()) whose default
// relay is the real relay at addr; each of cfgs may change its Config.
func groupEngine(t testing.TB, addr string, cfgs ...func(*Config)) (*Engine, chan Event) {
	t.Helper()
	evs := make(chan Event, 256)
	cfg := Config{Dir: t.TempDir(), Events: evs,
		Vault: vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1, MemTableSize: testMemTableSize}}
	for _, f := range cfgs {
		f(&cfg)
	}
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

func pendingEvents(ch chan Event) (out []Event) {
	for {
		select {
		case ev := <-ch:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func TestGroupEngines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := startGroupRelay(t).String()
	ana, anaEv := groupEngine(t, addr)
	ben, benEv := groupEngine(t, addr)
	cat, _ := groupEngine(t, addr)

	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ana.SetTimer(ctx, gid, time.Hour); !errors.Is(err, ErrGroupTimer) {
		t.Fatalf("SetTimer on a group: %v, want ErrGroupTimer", err)
	}
	key, err := ana.GroupInvite(ctx, "river", 0)
	if err != nil {
		t.Fatal(err)
	}
	bid, err := ben.Join(ctx, key, JoinOptions{As: "ben"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ben.GroupMembers(ctx, bid); err == nil {
		t.Fatal("ben lists members before the admin let him in")
	}
	if _, err := cat.Join(ctx, key, JoinOptions{As: "cat"}); !errors.Is(err, ErrInviteUsed) {
		t.Fatalf("second use of a group key: %v", err)
	}
	if err := ana.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	if evs := pendingEvents(anaEv); !slices.ContainsFunc(evs, func(e Event) bool { return e.Type == EventGroupJoined && e.From == "ben" && e.Chat == gid }) {
		t.Fatalf("ana's events: %+v", evs)
	}
	if err := ben.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	ms, epoch, err := ben.GroupMembers(ctx, bid)
	if err != nil || epoch != 2 || len(ms) != 2 || ms[0].Nick != "ana" || !ms[0].Admin || ms[1].Nick != "ben" || !ms[1].You {
		t.Fatalf("ben's members %+v (epoch %d): %v", ms, epoch, err)
	}
	if _, err := ben.GroupInvite(ctx, bid, 0); err == nil {
		t.Fatal("a member who is not an admin created an invite")
	}
	if err := ana.GroupLeave(ctx, gid); err == nil {
		t.Fatal("the last admin left")
	}

	if _, err := ana.Send(ctx, "river", "hello ben", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ben.Send(ctx, bid, "hello ana", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	pendingEvents(benEv)
	for _, e := range []*Engine{ana, ben} {
		if err := e.GroupSync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ben.Messages(ctx, bid, 0)
	hasMsg := func(ms []MessageInfo, from, text string, out bool) bool {
		return slices.ContainsFunc(ms, func(m MessageInfo) bool { return m.From == from && m.Text == text && m.Outgoing == out })
	}
	if err != nil || len(got) != 2 || !hasMsg(got, "ana", "hello ben", false) || !hasMsg(got, "", "hello ana", true) {
		t.Fatalf("ben's messages %+v: %v", got, err)
	}
	if evs := pendingEvents(benEv); !slices.ContainsFunc(evs, func(e Event) bool { return e.Type == EventMessage && e.From == "ana" && e.Text == "hello ben" }) {
		t.Fatalf("ben's events: %+v", evs)
	}
	got, _ = ana.Messages(ctx, "river", 0)
	if len(got) != 2 || !hasMsg(got, "ben", "hello ana", false) || !hasMsg(got, "", "hello ben", true) {
		t.Fatalf("ana's messages %+v", got)
	}

	// The admin burns: both sides lose the chat, its messages and its keys.
	if err := ana.Burn(ctx, "river"); err != nil {
		t.Fatal(err)
	}
	if err := ben.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*Engine{ana, ben} {
		if cs, _ := e.Chats(ctx); len(cs) != 0 {
			t.Fatalf("chats left after the burn: %+v", cs)
		}
		_ = e.v.View(ctx, func(tx *vault.Tx) error {
			if gs, _ := tx.Groups(); len(gs) != 0 {
				t.Fatal("a group record survived the burn")
			}
			return nil
		})
	}
}

// TestGroupQueuedEntriesSurviveACrash: an entry sealed and stored but not
// uploaded (a crash between the two) is appended at the next sync; one
// uploaded whose removal from the queue was not stored is appended again,
// and its reader drops the copy as a duplicate.
func TestGroupQueuedEntriesSurviveACrash(t *testing.T) {
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
	for _, e := range []*Engine{ana, ben} {
		if err := e.GroupSync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// "Crash" after storing: seal an entry into ana's queue and store the
	// record without uploading, as withGroup does before its upload.
	queue := func(text string, upload bool) {
		t.Helper()
		err := ana.v.Update(ctx, func(tx *vault.Tx) error {
			grp, err := tx.Group(gid)
			if err != nil {
				return err
			}
			g, rec, err := ana.loadGroup(tx, gid, &grp)
			if err != nil {
				return err
			}
			g.deferUploads = true
			if err := g.append(ctx, nil, &format.GroupEnvelope{Type: format.GenvText, Text: text}); err != nil {
				return err
			}
			if upload {
				c, err := ana.pool.get(ctx, rec.Relay)
				if err != nil {
					return err
				}
				out := g.out
				if err := g.flushOut(ctx, c); err != nil {
					return err
				}
				g.out = out // the upload's removal from the queue is "lost"
			}
			return putGroup(tx, gid, g, rec)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	queue("stored, not uploaded", false)
	if n, err := ana.QueuedCount(ctx); n != 1 || err != nil {
		t.Fatalf("QueuedCount with one entry waiting: %d, %v", n, err)
	}
	if err := ana.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := ana.QueuedCount(ctx); n != 0 || err != nil {
		t.Fatalf("QueuedCount after the sync: %d, %v", n, err)
	}
	queue("uploaded, not dequeued", true)
	if err := ana.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ben.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	ms, err := ben.Messages(ctx, bid, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Text)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"stored, not uploaded", "uploaded, not dequeued"}) {
		t.Fatalf("ben read %q", got)
	}
}
