package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"veil/client/internal/format"
	"veil/relay"
	"veil/relay/relaytest"
	"veil/relay/wire"
	"veil/vault"
)

// sentinelPassword is a relay password no text but an invite key may hold.
const sentinelPassword = "pw-SENTINEL-3f9a"

// lockedBuffer is a bytes.Buffer the relay's logger may write from its
// goroutines while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// passwordRelay runs a real relay requiring pw, logging at debug level
// into the returned buffer; it returns the relay's canonical address.
func passwordRelay(t *testing.T, pw string) (string, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	r := relaytest.Start(t, func(c *relay.Config) {
		c.Password = []byte(pw)
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	return r.Address.String(), logs
}

// credentialed returns addr with pw, as spec/relay.md §3.5 writes it.
func credentialed(t *testing.T, addr, pw string) string {
	t.Helper()
	a, err := wire.ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	return wire.Credentialed{Address: a, Password: wire.Password(pw)}.Secret()
}

func storedPassword(t *testing.T, e *Engine, addr string) (stored, offer wire.Password) {
	t.Helper()
	p, err := e.passwordsFor(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return p.stored, p.offer
}

// runEngine runs e's Run until the test ends.
func runEngine(t *testing.T, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(ctx) }() // owned by the test: cancel ends it
	t.Cleanup(func() { cancel(); <-done })
}

// waitEvent waits for an event ok accepts, collecting every event seen
// into seen.
func waitEvent(t *testing.T, ch chan Event, seen *[]Event, what string, ok func(Event) bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-ch:
			*seen = append(*seen, ev)
			if ok(ev) {
				return
			}
		case <-deadline:
			t.Fatalf("no %s; events: %+v", what, *seen)
		}
	}
}

func isMessage(text string) func(Event) bool {
	return func(ev Event) bool { return ev.Type == EventMessage && ev.Text == text }
}

// chat1to1 makes a 1:1 chat between ana (whose default relay is anaRelay,
// credentialed or not) and ben through the relay, runs both engines and
// exchanges one message each way. It returns both engines, the invite
// key, and every event seen.
func chat1to1(t *testing.T, anaRelay string) (ana, ben *Engine, key string, seen []Event) {
	t.Helper()
	ctx := context.Background()
	var anaEv, benEv chan Event
	ana, anaEv = groupEngine(t, anaRelay)
	ben, benEv = groupEngine(t, "")
	key, anaChat, err := ana.Invite(ctx, InviteOptions{As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	benChat, err := ben.Join(ctx, key, JoinOptions{As: "ben"})
	if err != nil {
		t.Fatal(err)
	}
	runEngine(t, ana)
	runEngine(t, ben)
	waitEvent(t, anaEv, &seen, "contact_joined", func(ev Event) bool { return ev.Type == EventContactJoined })
	if _, err := ana.Send(ctx, anaChat, "hello ben", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, benEv, &seen, "ana's message", isMessage("hello ben"))
	if _, err := ben.Send(ctx, benChat, "hello ana", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, anaEv, &seen, "ben's message", isMessage("hello ana"))
	return ana, ben, key, seen
}

// TestPasswordRelay1to1: an inviter with the relay's password makes a key
// that carries it; the joiner, who had none, creates its mailbox on that
// relay with it and keeps it; messages flow both ways.
func TestPasswordRelay1to1(t *testing.T) {
	t.Parallel()
	addr, _ := passwordRelay(t, "sesame")
	_, ben, key, _ := chat1to1(t, credentialed(t, addr, "sesame"))
	if !strings.Contains(key, "~"+wire.Password("sesame").Encode()+".") {
		t.Fatal("the invite key does not carry the relay's password")
	}
	if stored, offer := storedPassword(t, ben, addr); string(stored) != "sesame" || offer != nil {
		t.Fatal("the joiner did not keep the key's password")
	}
	// The joiner can now invite on that relay itself.
	if _, _, err := ben.Invite(context.Background(), InviteOptions{Relay: addr}); err != nil {
		t.Fatal(err)
	}
}

// TestPasswordRelayGroup: a group on a password relay; every joiner keeps
// the password from its key, so a member promoted to admin can make the
// commit that creates the next epoch's log (LNEW).
func TestPasswordRelayGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr, _ := passwordRelay(t, "sesame")
	ana, _ := groupEngine(t, credentialed(t, addr, "sesame"))
	ben, benEv := groupEngine(t, "")
	cat, _ := groupEngine(t, "")
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	join := func(e *Engine, nick string) string {
		t.Helper()
		key, err := ana.GroupInvite(ctx, gid, 0)
		if err != nil {
			t.Fatal(err)
		}
		id, err := e.Join(ctx, key, JoinOptions{As: nick})
		if err != nil {
			t.Fatal(err)
		}
		groupSync(t, ana, e)
		return id
	}
	bid, cid := join(ben, "ben"), join(cat, "cat")
	groupSync(t, ana, ben, cat)
	for _, e := range []*Engine{ben, cat} {
		if stored, _ := storedPassword(t, e, addr); string(stored) != "sesame" {
			t.Fatal("a joiner did not keep the group key's password")
		}
	}
	if _, err := ana.Send(ctx, gid, "hello all", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ben, cat)
	if !slices1(messageTexts(t, ben, bid), "hello all") || !slices1(messageTexts(t, cat, cid), "hello all") {
		t.Fatal("the members did not get ana's message")
	}
	if err := ana.GroupPromote(ctx, gid, "ben"); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ana, ben, cat)
	_, before, err := ben.GroupMembers(ctx, bid)
	if err != nil {
		t.Fatal(err)
	}
	// ben, an admin now, removes cat: a new epoch, a new log made with
	// the password from ben's key.
	if err := ben.GroupRemove(ctx, bid, "cat"); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ben, ana, cat, ben)
	ms, after, err := ana.GroupMembers(ctx, gid)
	if err != nil || after <= before || len(ms) != 2 {
		t.Fatalf("after ben's removal: %+v, epoch %d (was %d), %v", ms, after, before, err)
	}
	pendingEvents(benEv)
	if _, err := ben.Send(ctx, bid, "cat is out", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ben, ana)
	if !slices1(messageTexts(t, ana, gid), "cat is out") {
		t.Fatal("ana did not get ben's message in the new epoch")
	}
}

func slices1(texts []string, want string) bool {
	for _, s := range texts {
		if s == want {
			return true
		}
	}
	return false
}

// TestPasswordRelayWrongPassword: a stored password the relay refuses is
// reported as such, naming the relay's host:port, never the password.
func TestPasswordRelayWrongPassword(t *testing.T) {
	t.Parallel()
	addr, _ := passwordRelay(t, "sesame")
	ana, _ := groupEngine(t, credentialed(t, addr, sentinelPassword))
	_, _, err := ana.Invite(context.Background(), InviteOptions{})
	var pe *PasswordError
	if !errors.As(err, &pe) || !pe.Stored || !isCode(err, wire.CodePassword) {
		t.Fatalf("Invite: %v", err)
	}
	host := shortRelay(addr)
	p := Explain(err)
	if p.Kind != KindRelayRefused || p.Message != "relay "+host+" refused the password stored for it" {
		t.Fatalf("Explain: %+v", p)
	}
	checkNoPassword(t, "the error", err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), p.Message)
}

// TestPasswordRelayMissingPassword: without a stored password the error
// says how to add one.
func TestPasswordRelayMissingPassword(t *testing.T) {
	t.Parallel()
	addr, _ := passwordRelay(t, "sesame")
	ana, _ := groupEngine(t, addr)
	_, _, err := ana.Invite(context.Background(), InviteOptions{})
	var pe *PasswordError
	if !errors.As(err, &pe) || pe.Stored {
		t.Fatalf("Invite: %v", err)
	}
	want := "relay " + shortRelay(addr) + " needs a password: veil relay add ADDRESS --password-file FILE (ask its operator)"
	if p := Explain(err); p.Kind != KindRelayRefused || p.Message != want {
		t.Fatalf("Explain: %+v", p)
	}
	if _, err := ana.GroupCreate(context.Background(), GroupOptions{Name: "river"}); !errors.As(err, &pe) || pe.Stored {
		t.Fatalf("GroupCreate: %v", err)
	}
	// Adding the password makes both work.
	if err := ana.AddRelayPassword(context.Background(), addr, []byte("sesame")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ana.Invite(context.Background(), InviteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ana.GroupCreate(context.Background(), GroupOptions{Name: "river"}); err != nil {
		t.Fatal(err)
	}
}

// rekeyed returns key with its relay's password replaced by pw and a
// valid checksum, as a hostile inviter would write it.
func rekeyed(t *testing.T, key, pw string) string {
	t.Helper()
	k, err := format.ParseInviteKey(key)
	if err != nil {
		t.Fatal(err)
	}
	k.Relay.Password = wire.Password(pw)
	return k.String()
}

// TestPasswordRelayHostileInviterCannotReplaceWorkingPassword: an inviter
// who puts another password in its key cannot make the joiner forget the
// one that works: it is kept only as an offer, tried after PASSWORD.
func TestPasswordRelayHostileInviterCannotReplaceWorkingPassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr, _ := passwordRelay(t, "sesame")
	ana, _ := groupEngine(t, credentialed(t, addr, "sesame"))
	ben, _ := groupEngine(t, credentialed(t, addr, "sesame"))
	for _, group := range []bool{false, true} {
		var key string
		var err error
		if group {
			gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river"})
			if err != nil {
				t.Fatal(err)
			}
			key, err = ana.GroupInvite(ctx, gid, 0)
			if err != nil {
				t.Fatal(err)
			}
		} else if key, _, err = ana.Invite(ctx, InviteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := ben.Join(ctx, rekeyed(t, key, "hostile"), JoinOptions{As: "ben"}); err != nil {
			t.Fatalf("join (group %v): %v", group, err)
		}
		if stored, offer := storedPassword(t, ben, addr); string(stored) != "sesame" || string(offer) != "hostile" {
			t.Fatalf("group %v: the key's password replaced the working one", group)
		}
	}
	// ben still creates mailboxes and logs there with the working one.
	if _, _, err := ben.Invite(ctx, InviteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ben.GroupCreate(ctx, GroupOptions{Name: "own"}); err != nil {
		t.Fatal(err)
	}
	if stored, _ := storedPassword(t, ben, addr); string(stored) != "sesame" {
		t.Fatal("the working password was lost")
	}
}

// TestPasswordRelayKeyReplacesRefusedPassword: a stored password the relay
// refuses gives way to a key's password once a NEW succeeded with it (the
// operator changed the password, the inviter has the new one).
func TestPasswordRelayKeyReplacesRefusedPassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr, _ := passwordRelay(t, "sesame")
	ana, _ := groupEngine(t, credentialed(t, addr, "sesame"))
	ben, _ := groupEngine(t, credentialed(t, addr, "old password"))
	key, _, err := ana.Invite(ctx, InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ben.Join(ctx, key, JoinOptions{As: "ben"}); err != nil {
		t.Fatal(err)
	}
	if stored, offer := storedPassword(t, ben, addr); string(stored) != "sesame" || offer != nil {
		t.Fatal("the key's working password did not replace the refused one")
	}
}

// checkNoPassword fails if any text holds the sentinel password in clear
// or in base64url.
func checkNoPassword(t *testing.T, what string, texts ...string) {
	t.Helper()
	enc := wire.Password(sentinelPassword).Encode()
	for _, s := range texts {
		if strings.Contains(s, sentinelPassword) || strings.Contains(s, enc) {
			t.Errorf("%s holds the relay password: %q", what, s)
		}
	}
}

// TestPasswordNeverLeaks: with a sentinel password, nothing but the invite
// keys themselves holds it: not an event, an error, a listing, the
// relay's debug log, nor any fmt form of the key types.
func TestPasswordNeverLeaks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr, logs := passwordRelay(t, sentinelPassword)
	cred := credentialed(t, addr, sentinelPassword)
	ana, ben, key, seen := chat1to1(t, cred)
	if !strings.Contains(key, wire.Password(sentinelPassword).Encode()) {
		t.Fatal("the invite key does not carry the password: the scan below would prove nothing")
	}
	var texts []string
	addJSON := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(b))
	}
	for _, ev := range seen {
		addJSON(ev)
		texts = append(texts, fmt.Sprintf("%v %+v %#v", ev, ev, ev))
	}

	// A group on the same relay: create, invite, join, a message.
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
	if err := ana.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ben.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ana.Send(ctx, gid, "group hello", SendOptions{}); err != nil {
		t.Fatal(err)
	}

	// The failure paths: a wrong password, none at all, a key used twice.
	wrong, _ := groupEngine(t, credentialed(t, addr, "not it"))
	none, _ := groupEngine(t, addr)
	var errs []error
	_, _, err = wrong.Invite(ctx, InviteOptions{})
	errs = append(errs, err)
	_, _, err = none.Invite(ctx, InviteOptions{})
	errs = append(errs, err)
	_, err = none.GroupCreate(ctx, GroupOptions{Name: "x"})
	errs = append(errs, err)
	_, err = wrong.Join(ctx, key, JoinOptions{})
	errs = append(errs, err)
	_, err = wrong.Join(ctx, gkey, JoinOptions{})
	errs = append(errs, err)
	errs = append(errs, wrong.AddRelay(ctx, cred+"x"), wrong.AddRelayPassword(ctx, addr, nil))
	for _, err := range errs {
		if err == nil {
			t.Error("a failure path succeeded")
			continue
		}
		p := Explain(err)
		texts = append(texts, err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err), p.Message)
	}

	// What the API and the CLI list.
	for _, e := range []*Engine{ana, ben} {
		cs, err := e.Chats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		addJSON(cs)
		def, all, err := e.Relays(ctx)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, def, strings.Join(all, " "))
		with, err := e.RelaysWithPassword(ctx)
		if err != nil || !with[addr] {
			t.Fatalf("RelaysWithPassword: %v, %v", with, err)
		}
		addJSON(with)
		invs, err := e.Invites(ctx)
		if err != nil {
			t.Fatal(err)
		}
		addJSON(invs)
	}

	// The key types in every fmt form.
	k, err := format.ParseInviteKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Relay.Password.Equal(wire.Password(sentinelPassword)) {
		t.Fatal("the key lost the password")
	}
	p, err := ana.passwordsFor(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{k, *k, k.Relay, &k.Relay, k.Relay.Password, p, *p} {
		texts = append(texts, fmt.Sprintf("%v|%+v|%#v|%s", v, v, v, v))
	}
	texts = append(texts, logs.String())
	checkNoPassword(t, "a text", texts...)
}

// TestPasswordRelayCredentialedOption: a credentialed relay given to
// Invite, GroupCreate or Join has its password stored, as relay add would;
// the chats and groups name the canonical address.
func TestPasswordRelayCredentialedOption(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr, _ := passwordRelay(t, "sesame")
	cred := credentialed(t, addr, "sesame")
	ana, _ := groupEngine(t, "")
	key, _, err := ana.Invite(ctx, InviteOptions{Relay: cred})
	if err != nil {
		t.Fatal(err)
	}
	if stored, _ := storedPassword(t, ana, addr); string(stored) != "sesame" {
		t.Fatal("Invite did not store the password")
	}
	cat, _ := groupEngine(t, "")
	if _, err := cat.GroupCreate(ctx, GroupOptions{Name: "river", Relay: cred}); err != nil {
		t.Fatal(err)
	}
	if stored, _ := storedPassword(t, cat, addr); string(stored) != "sesame" {
		t.Fatal("GroupCreate did not store the password")
	}
	// ben's own mailbox goes to the relay he names, with its password; the
	// key's password is kept for the key's relay too.
	ben, _ := groupEngine(t, "")
	if _, err := ben.Join(ctx, rekeyed(t, key, ""), JoinOptions{Relay: cred}); err != nil {
		t.Fatal(err)
	}
	var relays []string
	_ = ben.v.View(ctx, func(tx *vault.Tx) error {
		cs, err := tx.Contacts()
		for _, c := range cs {
			for _, rc := range c.Relays {
				relays = append(relays, rc.Address)
			}
		}
		return err
	})
	for _, r := range relays {
		if r != addr {
			t.Fatalf("a contact names the relay as %q, want the canonical %q", r, addr)
		}
	}
}

// TestPasswordRelayGroupSecondary: a group's second relay has a password
// that only its creator was given. The roster carries it, so a joiner who
// is promoted can make the next epoch's log there; and a member's key-less
// view never shows it.
func TestPasswordRelayGroupSecondary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	plain := relaytest.Start(t).Address.String()
	secured, _ := passwordRelay(t, "sesame")
	ana, _ := groupEngine(t, plain)
	ben, _ := groupEngine(t, "")
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana",
		Relays: []string{plain, credentialed(t, secured, "sesame")}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ana.GroupInvite(ctx, gid, 0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(key, base64.RawURLEncoding.EncodeToString([]byte("sesame"))) {
		t.Fatal("the invite key for the plain primary carries the secondary's password")
	}
	bid, err := ben.Join(ctx, key, JoinOptions{As: "ben"})
	if err != nil {
		t.Fatal(err)
	}
	groupSync(t, ana, ben, ana, ben)
	if err := ana.GroupPromote(ctx, gid, "ben"); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ana, ben)
	if stored, _ := storedPassword(t, ben, secured); string(stored) != "sesame" {
		t.Fatal("a member did not keep the secondary relay's password from the roster")
	}
	_, before, err := ben.GroupMembers(ctx, bid)
	if err != nil {
		t.Fatal(err)
	}
	// ben's commit needs a log on both relays: LNEW on the secured one
	// with the password the roster gave.
	if err := ben.GroupRekey(ctx, bid); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ben, ana)
	_, after, err := ana.GroupMembers(ctx, gid)
	if err != nil || after <= before {
		t.Fatalf("ben's commit did not land: epoch %d (was %d), %v", after, before, err)
	}
	if _, err := ben.Send(ctx, bid, "new epoch", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	groupSync(t, ben, ana)
	if !slices1(messageTexts(t, ana, gid), "new epoch") {
		t.Fatal("ana did not get ben's message in the new epoch")
	}
}
