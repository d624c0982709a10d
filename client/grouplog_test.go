package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/relaytest"
	"veil/relay/wire"
)

// These tests run the group protocol of spec/groups.md against a real
// relay (the relay package's server with its memory store) on 127.0.0.1;
// each member has its own connection. Only the test links the server.

func startGroupRelay(t testing.TB, opts ...func(*relay.Config)) wire.Address {
	t.Helper()
	return relaytest.Start(t, opts...).Address
}

func dialGroupRelay(t testing.TB, a wire.Address) *conn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := conn.DialAddress(ctx, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// member is one test member: its state and its own connection.
type member struct {
	g *groupState
	c *conn.Conn
}

func (m *member) send(t testing.TB, text string) {
	t.Helper()
	if err := m.g.append(context.Background(), m.c, &format.GroupEnvelope{Type: format.GenvText, Text: text}); err != nil {
		t.Fatal(err)
	}
}

func (m *member) poll(t testing.TB) []Event {
	t.Helper()
	evs, err := m.g.poll(context.Background(), m.c)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// settle has m read its log and commit what it has queued until its
// commits are read back and applied.
func (m *member) settle(t testing.TB) []Event {
	t.Helper()
	evs, err := m.g.settle(context.Background(), m.c)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// change has admin m commit a remove, leave or promote of the member
// called nick and settles it.
func (m *member) change(t testing.TB, change byte, nick string) []Event {
	t.Helper()
	i, err := m.g.memberIndex(nick)
	if err != nil {
		t.Fatal(err)
	}
	k := m.g.cur.roster.Members[i].Sign
	m.g.propose(groupIntent{Change: change, Target: k[:]})
	evs := m.settle(t)
	if m.g.pending != nil || len(m.g.intents) != 0 {
		t.Fatalf("%s's change did not apply", m.g.self().Nick)
	}
	return evs
}

// jumpEpoch makes roster r the group's current epoch with a fresh secret
// and log, as a commit read by nobody else would (tests of the epoch's
// size only).
func (g *groupState) jumpEpoch(ctx context.Context, c *conn.Conn, r *format.Roster) error {
	secret, err := crypto.NewSymKey(nil)
	if err != nil {
		return err
	}
	l, err := g.newLog(ctx, c, r, &secret, g.sign)
	if err != nil {
		return err
	}
	rh, err := r.Hash()
	if err != nil {
		return err
	}
	l.conf = format.Confirm(g.cur.conf, rh, [32]byte{})
	g.cur, g.prev = *l, nil
	return nil
}

func texts(evs []Event) (out []string) {
	for _, e := range evs {
		if e.Type == EventMessage {
			out = append(out, e.From+": "+e.Text)
		}
	}
	return out
}

func hasEvent(evs []Event, typ EventType, from string) bool {
	for _, e := range evs {
		if e.Type == typ && e.From == from {
			return true
		}
	}
	return false
}

// invite has admin add a new member with nickname nick, as the 1:1 join
// would (spec/groups.md §9.3), and returns it.
func invite(t testing.TB, admin *member, a wire.Address, nick string) *member {
	t.Helper()
	s, d, q, err := newGroupKeys(ratchet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := admin.g.add(context.Background(), admin.c, format.Member{Sign: s.Public(), Seal: d.Public(), Kem: q.Public(), Nick: nick})
	if err != nil {
		t.Fatal(err)
	}
	g, err := joinGroup(ratchet.Config{}, s, d, q, w, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &member{g: g, c: dialGroupRelay(t, a)}
}

// logLen returns how many entries a log holds, read with its capability.
// One LREAD returns what fits in one item, so it reads until the end.
func logLen(t testing.TB, c *conn.Conn, l *groupLog) int {
	t.Helper()
	_, rc := l.epoch.Caps()
	n, after := 0, uint64(0)
	for range 10000 {
		es, err := c.ReadLog(context.Background(), l.id, (*[wire.CapSize]byte)(&rc), after, groupReadBatch)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			return n
		}
		n += len(es)
		after = es[len(es)-1].Seq
	}
	t.Fatal("the log does not end")
	return n
}

func TestGroupOverRelay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := startGroupRelay(t)
	ana := &member{c: dialGroupRelay(t, a)}
	var err error
	ana.g, err = createGroup(ctx, ana.c, ratchet.Config{}, "ana", format.Settings{Name: "river"}, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ben := invite(t, ana, a, "ben")
	ana.send(t, "before cat joins")
	epoch2 := ana.g.cur
	cat := invite(t, ana, a, "cat")

	// ben reads the message and the commit that added cat, and moves.
	evs := ben.poll(t)
	if got := texts(evs); len(got) != 1 || got[0] != "ana: before cat joins" {
		t.Fatalf("ben read %q", got)
	}
	if !hasEvent(evs, EventGroupJoined, "cat") || ben.g.cur.roster.Epoch != 3 {
		t.Fatalf("ben did not see cat join: %+v", evs)
	}
	// The late joiner reads nothing from before its join: its log starts
	// empty, and its state refuses the earlier epoch's entries.
	if got := texts(cat.poll(t)); len(got) != 0 {
		t.Fatalf("cat read %q from before its join", got)
	}
	_, rc := epoch2.epoch.Caps()
	old, err := cat.c.ReadLog(ctx, epoch2.id, (*[wire.CapSize]byte)(&rc), 0, 10)
	if err != nil || len(old) == 0 {
		t.Fatalf("reading epoch 2's log with its capability: %d entries, %v", len(old), err)
	}
	for _, en := range old {
		if _, _, err := cat.g.cur.epoch.Decrypt(en.Body); !errors.Is(err, ratchet.ErrAuth) {
			t.Fatalf("cat's state on an epoch-2 entry: %v", err)
		}
	}
	ana.poll(t)

	// One message from each reaches the two others, with one upload each.
	before := logLen(t, ana.c, &ana.g.cur)
	for _, m := range []*member{ana, ben, cat} {
		m.send(t, "hello from "+m.g.self().Nick)
	}
	if n := logLen(t, ana.c, &ana.g.cur) - before; n != 3 {
		t.Fatalf("three sends appended %d entries", n)
	}
	for _, m := range []*member{ana, ben, cat} {
		pevs := m.poll(t)
		got := texts(pevs)
		if len(got) != 2 {
			t.Fatalf("%s read %q (epoch %d)", m.g.self().Nick, got, m.g.cur.roster.Epoch)
		}
	}

	// A message of ana's, re-signed by ben (who holds every chain key, so
	// could have written any content), is refused; ana's real copy then
	// reads normally.
	pt, _ := (&format.GroupEnvelope{Type: format.GenvText, Text: "meet at the bridge"}).Marshal()
	real, err := ana.g.cur.epoch.Encrypt(pt)
	if err != nil {
		t.Fatal(err)
	}
	forged := append([]byte(nil), real...)
	gctx := ben.g.cur.epoch.Context()
	signed := append(append([]byte("veil/group/v2/message-signature"), gctx[:]...), forged[:len(forged)-crypto.SignatureSize]...)
	copy(forged[len(forged)-crypto.SignatureSize:], ben.g.sign.Sign(signed))
	w, _ := ben.g.cur.epoch.Caps()
	for _, body := range [][]byte{forged, real} {
		if _, err := ben.c.Append(ctx, ben.g.cur.id, (*[wire.CapSize]byte)(&w), body); err != nil {
			t.Fatal(err)
		}
	}
	evs = cat.poll(t)
	if got := texts(evs); len(got) != 1 || got[0] != "ana: meet at the bridge" || !hasEventType(evs, EventWarning) {
		t.Fatalf("cat after a forged and a real message: %+v", evs)
	}
	ben.poll(t)
	ana.poll(t)

	// ana removes cat: ana and ben continue in a new epoch; cat's client
	// sees its removal and cannot read anything after.
	catState := cat.g.cur
	ana.change(t, format.ChangeRemove, "cat")
	ana.send(t, "cat is gone")
	if evs := ben.poll(t); !hasEvent(evs, EventGroupRemoved, "cat") || len(texts(evs)) != 1 {
		t.Fatalf("ben after the removal: %+v", evs)
	}
	evs = cat.poll(t)
	if !hasEvent(evs, EventGroupRemoved, "") || !cat.g.removed || cat.g.removedBy != "ana" || len(texts(evs)) != 0 {
		t.Fatalf("cat after its removal: %+v", evs)
	}
	if cat.g.cur.id == ana.g.cur.id {
		t.Fatal("the removed member learned the new log")
	}
	_, nrc := ana.g.cur.epoch.Caps()
	newEntries, err := ana.c.ReadLog(ctx, ana.g.cur.id, (*[wire.CapSize]byte)(&nrc), 0, 10)
	if err != nil || len(newEntries) == 0 {
		t.Fatal(err)
	}
	for _, en := range newEntries {
		if _, _, err := catState.epoch.Decrypt(en.Body); !errors.Is(err, ratchet.ErrAuth) {
			t.Fatalf("the removed member's state on a new entry: %v", err)
		}
	}
	// Its old read capability opens nothing of the new log.
	_, crc := catState.epoch.Caps()
	if _, err := cat.c.ReadLog(ctx, ana.g.cur.id, (*[wire.CapSize]byte)(&crc), 0, 10); err == nil {
		t.Fatal("the old read capability reads the new log")
	}

	// ana promotes ben, who then adds dan as an admin; ben leaves (ana
	// remains an admin) and ana commits the leave when it reads it.
	ana.change(t, format.ChangePromote, "ben")
	if evs := ben.poll(t); !hasEvent(evs, EventGroupPromote, "ben") || !ben.g.isAdmin() {
		t.Fatalf("ben after the promotion: %+v", evs)
	}
	dan := invite(t, ben, a, "dan") // an admin other than the creator adds
	ana.poll(t)
	if err := ben.g.append(ctx, ben.c, &format.GroupEnvelope{Type: format.GenvLeave}); err != nil {
		t.Fatal(err)
	}
	ben.g.gone = true
	if evs := ana.settle(t); !hasEvent(evs, EventGroupLeft, "ben") {
		t.Fatalf("ana did not see ben leave: %+v", evs)
	}
	if ana.g.cur.roster.Index(ben.g.sign.Public()) >= 0 || len(ana.g.cur.roster.Members) != 2 {
		t.Fatal("ben is still in the roster after leaving")
	}
	if evs := dan.poll(t); !hasEvent(evs, EventGroupLeft, "ben") {
		t.Fatalf("dan did not see ben leave: %+v", evs)
	}

	// ana burns the group: dan's client erases it.
	if err := ana.g.append(ctx, ana.c, &format.GroupEnvelope{Type: format.GenvBurn}); err != nil {
		t.Fatal(err)
	}
	if evs := dan.poll(t); !hasEvent(evs, EventGroupBurned, "ana") || !dan.g.gone {
		t.Fatalf("dan after the burn: %+v", evs)
	}
}

func hasEventType(evs []Event, typ EventType) bool {
	for _, e := range evs {
		if e.Type == typ {
			return true
		}
	}
	return false
}
