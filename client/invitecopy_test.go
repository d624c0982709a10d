package client

import (
	"context"
	"errors"
	"slices"
	"testing"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
	"veil/vault"
)

// An invite copier: someone who saw the invite key on its way and holds
// everything the key derives, with its own connection to the relay.
type copier struct {
	c *conn.Conn
	k *format.InviteKey
	d format.InviteIDs
}

func newCopier(t *testing.T, a wire.Address, key string) *copier {
	t.Helper()
	k, err := format.ParseInviteKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if !k.HasAlarm {
		t.Fatal("a new invite key names no alarm log")
	}
	return &copier{c: dialGroupRelay(t, a), k: k, d: format.DeriveInvite(k)}
}

// takeAndReput takes the blob and tries to put it back for the real
// joiner; the relay refuses.
func (cp *copier) takeAndReput(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	body, err := cp.c.Take(ctx, cp.d.BlobID)
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.c.Put(ctx, cp.d.BlobID, defaultInviteLife, nil, body); !isCode(err, wire.CodeExists) {
		t.Fatalf("re-PUT of a taken blob: %v, want EXISTS", err)
	}
}

// The copier's moves against the leak alarm, tried before the real joiner
// finds the blob gone. None keeps the alarm from the inviter.
var alarmMoves = map[string]func(t *testing.T, cp *copier){
	"leaves the alarm alone": func(*testing.T, *copier) {},
	"deletes the alarm log": func(t *testing.T, cp *copier) {
		if err := cp.c.DeleteLog(context.Background(), cp.k.AlarmLog, &cp.d.AlarmWrite); err != nil {
			t.Fatal(err)
		}
	},
	"reserves the older alarm blob ID": func(t *testing.T, cp *copier) {
		ctx := context.Background()
		if err := cp.c.Put(ctx, cp.d.AlarmID, maxInviteLife, nil, make([]byte, crypto.Buckets()[0])); err != nil {
			t.Fatal(err)
		}
		if _, err := cp.c.Take(ctx, cp.d.AlarmID); err != nil {
			t.Fatal(err)
		}
	},
}

func leaked(evs []Event, chat string) bool {
	return slices.ContainsFunc(evs, func(e Event) bool { return e.Type == EventInviteLeaked && e.Chat == chat })
}

// TestInviteCopyAndReput (1:1): a copier takes the blob and cannot put it
// back; the real joiner is told the key was used; the inviter's alarm
// fires whatever the copier did to the alarm.
func TestInviteCopyAndReput(t *testing.T) {
	t.Parallel()
	for name, move := range alarmMoves {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a := startGroupRelay(t)
			ana, anaEv := groupEngine(t, a.String())
			ben, _ := groupEngine(t, a.String())
			key, chat, err := ana.Invite(ctx, InviteOptions{As: "ana"})
			if err != nil {
				t.Fatal(err)
			}
			cp := newCopier(t, a, key)
			cp.takeAndReput(t)
			move(t, cp)
			if _, err := ben.Join(ctx, key, JoinOptions{As: "ben"}); !errors.Is(err, ErrInviteUsed) {
				t.Fatalf("the real joiner: %v, want ErrInviteUsed", err)
			}
			ana.checkAlarms(ctx)
			if evs := pendingEvents(anaEv); !leaked(evs, chat) {
				t.Fatalf("the inviter's events: %+v", evs)
			}
		})
	}
}

// TestGroupInviteCopyAndReput: the same for a group invite; the admin sees
// the alarm at its next sync.
func TestGroupInviteCopyAndReput(t *testing.T) {
	t.Parallel()
	for name, move := range alarmMoves {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a := startGroupRelay(t)
			ana, anaEv := groupEngine(t, a.String())
			ben, _ := groupEngine(t, a.String())
			gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
			if err != nil {
				t.Fatal(err)
			}
			key, err := ana.GroupInvite(ctx, gid, 0)
			if err != nil {
				t.Fatal(err)
			}
			cp := newCopier(t, a, key)
			cp.takeAndReput(t)
			move(t, cp)
			if _, err := ben.Join(ctx, key, JoinOptions{As: "ben"}); !errors.Is(err, ErrInviteUsed) {
				t.Fatalf("the real joiner: %v, want ErrInviteUsed", err)
			}
			if err := ana.GroupSync(ctx); err != nil {
				t.Fatal(err)
			}
			if evs := pendingEvents(anaEv); !leaked(evs, gid) {
				t.Fatalf("the admin's events: %+v", evs)
			}
			// The alarm is told once.
			if err := ana.GroupSync(ctx); err != nil {
				t.Fatal(err)
			}
			if evs := pendingEvents(anaEv); leaked(evs, gid) {
				t.Fatalf("the alarm came twice: %+v", evs)
			}
		})
	}
}

// TestGroupInviteCopierWithoutBlob: a copier who holds the key but never
// takes the blob, even told the exchange log's ID, cannot get itself
// admitted by appending its own join request first (it has no token), and
// reads nothing of the welcome; once the joiner is in, the exchange log is
// gone.
func TestGroupInviteCopierWithoutBlob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := startGroupRelay(t)
	ana, anaEv := groupEngine(t, a.String())
	ben, _ := groupEngine(t, a.String())
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ana.GroupInvite(ctx, gid, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The copier is even told the exchange log's ID, which is only in
	// the blob.
	var logID crypto.ID
	if err := ana.v.View(ctx, func(tx *vault.Tx) error {
		grp, err := tx.Group(gid)
		if err != nil {
			return err
		}
		_, rec, err := ana.loadGroup(tx, gid, &grp)
		if err != nil {
			return err
		}
		logID = crypto.ID(rec.Invites[0].LogID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cp := newCopier(t, a, key)
	gk := format.DeriveGroupInvite(cp.k.Secret[:], cp.k.Relay.Fingerprint[:], logID, nil)
	sign, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	seal, err := crypto.GenerateDH(nil)
	if err != nil {
		t.Fatal(err)
	}
	kem, err := crypto.GenerateKEM768(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []format.JoinToken{{}, {1}} {
		req, err := (&format.JoinRequest{Token: tok, Member: format.Member{Sign: sign.Public(), Seal: seal.Public(), Kem: kem.Public(), Role: format.RoleAdmin, Nick: "mallory"}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		body, err := format.SealBlob(&gk.Key, logID, req, format.LabelGroupRequestAD, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cp.c.Append(ctx, logID, &gk.Write, body); err != nil {
			t.Fatal(err)
		}
	}
	bid, err := ben.Join(ctx, key, JoinOptions{As: "ben"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ana.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	ms, _, err := ana.GroupMembers(ctx, gid)
	if err != nil || len(ms) != 2 || ms[1].Nick != "ben" {
		t.Fatalf("the group after the join: %+v, %v", ms, err)
	}
	if evs := pendingEvents(anaEv); leaked(evs, gid) || slices.ContainsFunc(evs, func(e Event) bool { return e.From == "mallory" }) {
		t.Fatalf("the admin's events: %+v", evs)
	}

	// Everything on the exchange log, read with what the key derives.
	var es []wire.Entry
	for after := uint64(0); ; {
		page, err := cp.c.ReadLog(ctx, logID, &gk.Read, after, groupReadBatch)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		es, after = append(es, page...), page[len(page)-1].Seq
	}
	// Its own two requests open under K; nothing the admin or the joiner
	// wrote does, since those are keyed by the blob's exchange secret too.
	opened := 0
	for _, en := range es {
		for _, label := range []string{format.LabelGroupRequestAD, format.LabelWelcomeKeyAD, format.LabelGroupWelcomeAD} {
			if _, err := format.OpenBlob(&gk.Key, logID, en.Body, label); err == nil {
				opened++
			}
		}
	}
	if opened != 2 || len(es) < 5 {
		t.Fatalf("%d entries on the exchange log, %d open under the key's K (want its own 2 requests)", len(es), opened)
	}

	// Ben enters, and the sync after deletes the exchange log.
	for range 2 {
		if err := ben.GroupSync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if ms, _, err := ben.GroupMembers(ctx, bid); err != nil || len(ms) != 2 {
		t.Fatalf("ben sees %+v: %v", ms, err)
	}
	if _, err := cp.c.ReadLog(ctx, logID, &gk.Read, 0, 1); !isCode(err, wire.CodeAuth) {
		t.Fatalf("the exchange log after the join: %v, want it gone (AUTH)", err)
	}
}

// TestJoinMailboxSecuredByAnother (1:1): when the inviter's reply mailbox
// answers our SKEY with ALREADY_SECURED and our first message with AUTH,
// someone else holds the key: the joiner is told in words and the
// inviter's alarm fires.
func TestJoinMailboxSecuredByAnother(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := startGroupRelay(t)
	ana, anaEv := groupEngine(t, a.String())
	ben, benEv := groupEngine(t, a.String())
	key, chat, err := ana.Invite(ctx, InviteOptions{As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	bid, err := ben.Join(ctx, key, JoinOptions{As: "ben"})
	if err != nil {
		t.Fatal(err)
	}
	// Someone with a copy of the blob (a relay that handed it out twice)
	// secures ana's mailbox before ben's first message goes.
	var sid crypto.ID
	if err := ben.v.View(ctx, func(tx *vault.Tx) error {
		ct, err := tx.Contact(bid)
		if err != nil {
			return err
		}
		sid = crypto.ID(sendCap(&ct).SendID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cp := newCopier(t, a, key)
	var theirs [wire.CapSize]byte
	theirs[0] = 1
	if err := cp.c.SecureSender(ctx, sid, &theirs); err != nil {
		t.Fatal(err)
	}
	_, _ = ben.Flush(ctx)
	evs := pendingEvents(benEv)
	i := slices.IndexFunc(evs, func(e Event) bool { return e.Type == EventInviteLeaked && e.Chat == bid })
	if i < 0 {
		t.Fatalf("ben's events: %+v", evs)
	}
	if evs[i].Err != joinRefusedText {
		t.Fatalf("ben is told %q", evs[i].Err)
	}
	if cs, err := ben.Chats(ctx); err != nil || len(cs) != 1 || !cs[0].Leaked {
		t.Fatalf("ben's chats: %+v, %v", cs, err)
	}
	ana.checkAlarms(ctx)
	if evs := pendingEvents(anaEv); !leaked(evs, chat) {
		t.Fatalf("ana's events: %+v", evs)
	}
}

// TestInviteNoFalseAlarm: a key used once, by its one joiner, raises no
// alarm, for 1:1 and for groups.
func TestInviteNoFalseAlarm(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := startGroupRelay(t)
	ana, anaEv := groupEngine(t, a.String())
	ben, _ := groupEngine(t, a.String())
	key, _, err := ana.Invite(ctx, InviteOptions{As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ben.Join(ctx, key, JoinOptions{As: "ben"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ben.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	gkey, err := ana.GroupInvite(ctx, gid, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ben.Join(ctx, gkey, JoinOptions{As: "ben"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		ana.checkAlarms(ctx)
		if err := ana.GroupSync(ctx); err != nil {
			t.Fatal(err)
		}
		if err := ben.GroupSync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if evs := pendingEvents(anaEv); slices.ContainsFunc(evs, func(e Event) bool { return e.Type == EventInviteLeaked }) {
		t.Fatalf("an alarm without a copier: %+v", evs)
	}
}
