package vault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

var ctx = context.Background()

func sampleRecords(now time.Time) (Profile, Contact, Chat, []Message, OutboxItem, Group) {
	p := Profile{Name: "ana", Created: now, Settings: map[string]string{"theme": "dark"}}
	c := Contact{ID: "c1", Nickname: "bo", OurIdentity: []byte("our-identity-secret-0123456789ab"),
		TheirIdentity: []byte("their-identity-public"), Ratchet: []byte("ratchet-state-bytes"),
		Relays:  []RelayCap{{Address: "veil://relay.example:443/#fp", RecvID: []byte{1, 2}, RecvKey: []byte{3}, SendID: []byte{4}, SendCred: []byte{5}}},
		Created: now}
	ch := Chat{ID: "chat1", Kind: ChatDirect, Name: "bo", NameLocal: true, ContactID: "c1", MessageTTL: time.Hour, Created: now, LastActive: now}
	msgs := []Message{
		{ID: "m001", ChatID: "chat1", Direction: Outgoing, Body: []byte("hello there"), Sent: now, Status: StatusSent},
		{ID: "m002", ChatID: "chat1", Direction: Incoming, Sender: "c1", Body: []byte("General Kenobi"), Sent: now, Received: now.Add(time.Second), Read: now.Add(2 * time.Second), Status: StatusRead, Edited: now.Add(3 * time.Second)},
		{ID: "m003", ChatID: "chat1", Direction: Incoming, Sender: "c1", Body: nil, Sent: now, Status: StatusDelivered, Deleted: true},
	}
	o := OutboxItem{ID: "o1", ChatID: "chat1", MessageID: "m001", Payload: []byte("ciphertext"), Created: now, Attempts: 2, NextTry: now.Add(time.Minute)}
	g := Group{ID: "g1", State: []byte("group-state")}
	return p, c, ch, msgs, o, g
}

func TestRecordsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	p, c, ch, msgs, o, g := sampleRecords(now)
	err := v.Update(ctx, func(tx *Tx) error {
		if _, err := tx.Profile(); !errors.Is(err, ErrNotFound) {
			t.Errorf("fresh profile: %v, want ErrNotFound", err)
		}
		for _, f := range []func() error{
			func() error { return tx.PutProfile(&p) },
			func() error { return tx.PutContact(&c) },
			func() error { return tx.PutChat(&ch) },
			func() error { return tx.PutOutbox(&o) },
			func() error { return tx.PutGroup(&g) },
		} {
			if err := f(); err != nil {
				return err
			}
		}
		for i := range msgs {
			if err := tx.PutMessage(&msgs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)
	v = mustOpen(t, dir, pin, testOpts(nil))
	defer v.Lock()
	err = v.View(ctx, func(tx *Tx) error {
		gp, err := tx.Profile()
		check(t, "profile", gp, p, err)
		gc, err := tx.Contact("c1")
		check(t, "contact", gc, c, err)
		gcs, err := tx.Contacts()
		check(t, "contacts", gcs, []Contact{c}, err)
		gch, err := tx.Chat("chat1")
		check(t, "chat", gch, ch, err)
		gchs, err := tx.Chats()
		check(t, "chats", gchs, []Chat{ch}, err)
		gm, err := tx.Message("chat1", "m002")
		check(t, "message", gm, msgs[1], err)
		all, err := tx.Messages("chat1", 0)
		check(t, "messages", all, msgs, err)
		last, err := tx.Messages("chat1", 2)
		check(t, "last messages", last, msgs[1:], err)
		gos, err := tx.Outbox()
		check(t, "outbox", gos, []OutboxItem{o}, err)
		gg, err := tx.Group("g1")
		check(t, "group", gg, g, err)
		ggs, err := tx.Groups()
		check(t, "groups", ggs, []Group{g}, err)
		if _, err := tx.Message("chat1", "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing message: %v", err)
		}
		if err := tx.PutGroup(&g); err == nil {
			t.Error("write in a View succeeded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestChatRecordBeforeNameFields: a chat record written before NameLocal
// and GroupName existed still decodes, with both at their zero value, and
// one with them round-trips.
func TestChatRecordBeforeNameFields(t *testing.T) {
	old := append([]byte{recordVersion}, `{"ID":"g1","Kind":2,"Name":"river","ContactID":"","GroupID":"g1","MessageTTL":0,`+
		`"Deadline":"0001-01-01T00:00:00Z","Unread":0,"Created":"2026-03-04T05:06:07Z","LastActive":"2026-03-04T05:06:07Z"}`...)
	var c Chat
	if err := decodeRecord(old, &c); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	want := Chat{ID: "g1", Kind: ChatGroup, Name: "river", GroupID: "g1", Created: now, LastActive: now}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("an older record decodes as %+v, want %+v", c, want)
	}
	want.Name, want.NameLocal, want.GroupName = "family", true, "river"
	b, err := encodeRecord(&want)
	if err != nil {
		t.Fatal(err)
	}
	var back Chat
	if err := decodeRecord(b, &back); err != nil || !reflect.DeepEqual(back, want) {
		t.Fatalf("round trip: %+v, %v; want %+v", back, err, want)
	}
}

func check(t *testing.T, what string, got, want any, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// TestUpdateIsAtomic: ratchet state, message and outbox change commit
// together or not at all.
func TestUpdateIsAtomic(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	defer v.Lock()
	now := time.Now().UTC()
	_, c, ch, msgs, o, _ := sampleRecords(now)
	if err := v.Update(ctx, func(tx *Tx) error { return tx.PutChat(&ch) }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := v.Update(ctx, func(tx *Tx) error {
		if err := tx.PutContact(&c); err != nil {
			return err
		}
		if err := tx.PutMessage(&msgs[0]); err != nil {
			return err
		}
		if err := tx.PutOutbox(&o); err != nil {
			return err
		}
		return boom
	})
	wantErr(t, err, boom)
	v.View(ctx, func(tx *Tx) error {
		_, e1 := tx.Contact("c1")
		_, e2 := tx.Message("chat1", "m001")
		ob, e3 := tx.Outbox()
		if !errors.Is(e1, ErrNotFound) || !errors.Is(e2, ErrNotFound) || e3 != nil || len(ob) != 0 {
			t.Errorf("failed transaction left records: %v %v %v %d", e1, e2, e3, len(ob))
		}
		return nil
	})
	hits, err := v.Search(ctx, "hello", "", 0)
	if err != nil || len(hits) != 0 {
		t.Errorf("failed transaction reached the index: %v %v", hits, err)
	}
}

func TestLockedVaultRefuses(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	mustLock(t, v)
	mustLock(t, v) // idempotent
	wantErr(t, v.View(ctx, func(*Tx) error { return nil }), ErrLocked)
	wantErr(t, v.Update(ctx, func(*Tx) error { return nil }), ErrLocked)
	_, err := v.Search(ctx, "x", "", 0)
	wantErr(t, err, ErrLocked)
	wantErr(t, v.SetDuressPIN(ctx, duressPIN, DuressDecoy), ErrLocked)
	wantErr(t, v.DeleteChat(ctx, "c"), ErrLocked)
	wantErr(t, v.Wipe(), ErrLocked)
	if !v.dataKey.IsZero() {
		t.Error("data key not zeroed by Lock")
	}
	if len(v.keys.keys) != 0 || !v.keys.key.IsZero() {
		t.Error("chat keys not zeroed by Lock")
	}
	mustLock(t, mustOpen(t, dir, pin, testOpts(nil)))
}

func TestCreateRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	mustLock(t, createVault(t, dir, testOpts(nil)))
	_, err := Create(ctx, dir, pin, testOpts(nil))
	wantErr(t, err, ErrExists)
	mustLock(t, mustOpen(t, dir, pin, testOpts(nil)))
}

func TestPINRules(t *testing.T) {
	for _, p := range []string{"", "123", "ab", "\xff\xfe\xfd\xfc"} {
		if err := CheckPIN([]byte(p)); !errors.Is(err, ErrBadPIN) {
			t.Errorf("CheckPIN(%q) = %v, want ErrBadPIN", p, err)
		}
	}
	for _, p := range []string{"1234", "correct horse battery staple", "ñáéí"} {
		if err := CheckPIN([]byte(p)); err != nil {
			t.Errorf("CheckPIN(%q) = %v", p, err)
		}
	}
	_, err := Create(ctx, t.TempDir(), []byte("12"), testOpts(nil))
	wantErr(t, err, ErrBadPIN)
}

func TestChangePIN(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	if err := v.SetDuressPIN(ctx, duressPIN, DuressDecoy); err != nil {
		t.Fatal(err)
	}
	wantErr(t, v.ChangePIN(ctx, duressPIN), ErrBadPIN)
	if err := v.ChangePIN(ctx, []byte("new passphrase")); err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)
	_, err := Open(ctx, dir, pin, testOpts(nil))
	wantErr(t, err, ErrWrongPIN)
	mustLock(t, mustOpen(t, dir, []byte("new passphrase"), testOpts(nil)))
}

func TestNoProfile(t *testing.T) {
	_, err := Open(ctx, t.TempDir(), pin, testOpts(nil))
	wantErr(t, err, ErrNoProfile)
	_, err = Open(ctx, filepath.Join(t.TempDir(), "missing"), pin, testOpts(nil))
	wantErr(t, err, ErrNoProfile)
}

func TestGCRunsAndStops(t *testing.T) {
	o := testOpts(nil)
	o.GCInterval = time.Millisecond
	v := createVault(t, t.TempDir(), o)
	_, _, ch, _, _, _ := sampleRecords(time.Now())
	if err := v.Update(ctx, func(tx *Tx) error { return tx.PutChat(&ch) }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for v.gcRuns.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := v.gcRuns.Load(); n < 3 {
		t.Fatalf("the GC loop ran %d times in 10 s", n)
	}
	mustLock(t, v) // must return: the loop stops on Lock
	n := v.gcRuns.Load()
	time.Sleep(10 * time.Millisecond)
	if v.gcRuns.Load() != n {
		t.Fatal("the GC loop runs after Lock")
	}
	if _, err := os.Stat(filepath.Join(v.dir, dataDirName)); err != nil {
		t.Fatal(err)
	}
}
