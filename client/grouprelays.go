package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/relay/conn"
	"veil/vault"
)

// Groups on two relays (spec/groups.md §3.5): a version-3 roster names
// the group's relays, the primary first, and each epoch has one log per
// relay. Chat entries go to every log and readers keep the first copy
// (the second dies in the sender chain as a duplicate); commits travel
// and are ordered on the primary's log only, so a group whose primary is
// down keeps talking through the other relay while its roster changes
// wait.

// Group relay event types.
const (
	// EventGroupRelayDown: one of the group's relays is unreachable (Text
	// is its host:port, Err says what still works).
	EventGroupRelayDown EventType = "group_relay_down"
	// EventGroupRelayUp: a relay reported down answers again.
	EventGroupRelayUp EventType = "group_relay_up"
)

// errPrimaryDown is a roster change or invite asked while the group's
// primary relay is unreachable.
var errPrimaryDown = errors.New("client: the group's primary relay is unreachable: messages go through its other relay, roster changes and invites wait until it is back")

// sideLog is one epoch's log on a relay after the primary.
type sideLog struct {
	id     crypto.ID
	cursor uint64
}

// sideLogRec is a sideLog as the group record holds it.
type sideLogRec struct {
	ID     []byte `json:"id"`
	Cursor uint64 `json:"cursor"`
}

// nlogs is how many logs epoch l has: one per relay.
func (l *groupLog) nlogs() int { return 1 + len(l.side) }

// logID is the ID of l's log on relay k.
func (l *groupLog) logID(k int) crypto.ID {
	if k == 0 {
		return l.id
	}
	return l.side[k-1].id
}

// cursorAt is the cursor of l's log on relay k.
func (l *groupLog) cursorAt(k int) *uint64 {
	if k == 0 {
		return &l.cursor
	}
	return &l.side[k-1].cursor
}

// relay is the address of the relay of l's log k; "" for a group whose
// roster names no relay (its one relay is the group record's).
func (l *groupLog) relay(k int) string {
	if l.roster == nil || k >= len(l.roster.Settings.Relays) {
		return ""
	}
	return format.RelayBase(l.roster.Settings.Relays[k])
}

// hasLog reports whether id is one of l's logs.
func (l *groupLog) hasLog(id []byte) bool {
	for k := range l.nlogs() {
		if lid := l.logID(k); bytes.Equal(id, lid[:]) {
			return true
		}
	}
	return false
}

// setLogs sets l's log IDs, the primary's first.
func (l *groupLog) setLogs(ids []crypto.ID) {
	l.id, l.side = ids[0], nil
	for _, id := range ids[1:] {
		l.side = append(l.side, sideLog{id: id})
	}
}

func (l *groupLog) sideRecords() []sideLogRec {
	var out []sideLogRec
	for _, s := range l.side {
		out = append(out, sideLogRec{ID: bytes.Clone(s.id[:]), Cursor: s.cursor})
	}
	return out
}

func loadSideLogs(recs []sideLogRec) ([]sideLog, error) {
	var out []sideLog
	for _, r := range recs {
		id, err := crypto.ParseID(r.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, sideLog{id: id, cursor: r.Cursor})
	}
	return out, nil
}

// multiRelay reports whether the group's current epoch lives on more
// than one relay.
func (g *groupState) multiRelay() bool { return g.cur.roster != nil && len(g.cur.side) > 0 }

// primaryOf is the relay whose log orders the group's commits: the
// current roster's first relay, else the one the group record names.
func primaryOf(g *groupState, rec *groupRecord) string {
	if g.cur.roster != nil && len(g.cur.roster.Settings.Relays) > 0 {
		return format.RelayBase(g.cur.roster.Settings.Relays[0])
	}
	return rec.Relay
}

// relayConns reaches the group's relays during one operation: c is the
// current primary's connection (nil while it is unreachable), dial
// reaches any other; a relay that failed once is not tried again.
type relayConns struct {
	primary string
	c       *conn.Conn
	dial    func(ctx context.Context, addr string) (*conn.Conn, error)
	down    map[string]error
	// failed is told of a connection that failed, to drop it.
	failed func(addr string, c *conn.Conn)
}

// connFor returns the connection to addr ("" is the primary, or the one
// relay of a group whose roster names none).
func (g *groupState) connFor(ctx context.Context, c *conn.Conn, addr string) (*conn.Conn, error) {
	rc := g.relays
	if addr != "" && (rc == nil || rc.dial == nil) {
		return nil, errors.New("client: no way to reach the group's other relay")
	}
	if addr == "" || addr == rc.primary {
		if c == nil {
			return nil, errPrimaryDown
		}
		return c, nil
	}
	if err := rc.down[addr]; err != nil {
		return nil, err
	}
	cc, err := rc.dial(ctx, addr)
	if err != nil {
		g.relayDown(addr, nil, err)
		return nil, err
	}
	return cc, nil
}

// relayDown records that addr failed during this operation.
func (g *groupState) relayDown(addr string, c *conn.Conn, err error) {
	rc := g.relays
	if rc == nil || addr == "" {
		return
	}
	if rc.down == nil {
		rc.down = make(map[string]error)
	}
	rc.down[addr] = err
	if c != nil && rc.failed != nil && isConnErr(err) {
		rc.failed(addr, c)
	}
}

// relayFailed reports whether a relay of a group on two relays failed
// during this operation.
func (g *groupState) relayFailed() bool {
	return g.multiRelay() && g.relays != nil && len(g.relays.down) > 0
}

// copiesFor queues sealed entry m for every log of epoch l: the primary
// first (spec/groups.md §6.2).
func (g *groupState) copiesFor(l *groupLog, m []byte, pt []byte) []pendingAppend {
	w, _ := l.epoch.Caps()
	out := make([]pendingAppend, 0, l.nlogs())
	for k := range l.nlogs() {
		id := l.logID(k)
		out = append(out, pendingAppend{Log: bytes.Clone(id[:]), Cap: bytes.Clone(w[:]), Body: m, Env: pt, Relay: l.relay(k)})
	}
	return out
}

// settingsEqual reports whether two settings are the same.
func settingsEqual(a, b format.Settings) bool {
	return a.Name == b.Name && a.Timer == b.Timer && a.Deadline == b.Deadline && slices.Equal(a.Relays, b.Relays)
}

// groupRelays checks the relays a group is asked to live on and returns
// their canonical addresses, the primary first.
func (e *Engine) groupRelays(ctx context.Context, addrs []string) ([]string, error) {
	if len(addrs) < 1 || len(addrs) > format.MaxGroupRelays {
		return nil, badInput("a group lives on 1 to %d relays", format.MaxGroupRelays)
	}
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		c, err := e.pickRelay(ctx, a)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	// The roster carries each relay's password, if it has one: a member
	// needs it to make logs there once an admin (spec/groups.md §3.5).
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		out = credentialedRelays(tx, out)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := format.CheckGroupRelays(out); err != nil {
		return nil, badInput("%s", err.Error())
	}
	return out, nil
}

// downEvents reports the relays that failed during this operation, and
// those that answer again, each once while the engine runs.
func (e *Engine) downEvents(g *groupState) []Event {
	if !g.multiRelay() || g.relays == nil {
		return nil
	}
	var evs []Event
	for k := range g.cur.nlogs() {
		addr := g.cur.relay(k)
		err := g.relays.down[addr]
		if addr == g.relays.primary && g.relays.c == nil {
			err = errPrimaryDown
		}
		if err == nil {
			if e.holds.relayUp(addr) {
				evs = append(evs, Event{Type: EventGroupRelayUp, Text: shortRelay(addr)})
			}
			continue
		}
		if !e.holds.relayDown(addr) {
			continue
		}
		what := "messages go through the primary relay"
		if k == 0 {
			what = "messages go through the other relay; roster changes and invites wait until it is back"
		}
		evs = append(evs, Event{Type: EventGroupRelayDown, Text: shortRelay(addr),
			Err: fmt.Sprintf("the group's relay %s is unreachable: %s", shortRelay(addr), what)})
	}
	return evs
}

// groupDial reaches a group's relays for one operation; c is primary's
// connection, nil when it is unreachable.
func (e *Engine) groupDial(primary string, c *conn.Conn) *relayConns {
	return &relayConns{primary: primary, c: c,
		dial:   func(ctx context.Context, addr string) (*conn.Conn, error) { return e.pool.get(ctx, addr) },
		failed: func(addr string, c *conn.Conn) { e.pool.drop(addr, c) }}
}

// emitAll emits evs on the group's chat.
func (e *Engine) emitAll(ctx context.Context, chat *vault.Chat, evs []Event) {
	for _, ev := range evs {
		ev.Chat, ev.Name = chat.ID, SanitizeLine(chat.Name)
		e.emit(ctx, ev)
	}
}

// logIDs lists the IDs of l's logs for a welcome of version 3 (nil for a
// group whose roster names no relay).
func (l *groupLog) logIDs() []crypto.ID {
	if len(l.roster.Settings.Relays) == 0 {
		return nil
	}
	ids := make([]crypto.ID, 0, l.nlogs())
	for k := range l.nlogs() {
		ids = append(ids, l.logID(k))
	}
	return ids
}

// EventGroupRelays reports that an admin moved the group to other relays
// (spec/groups.md §3.5): Text names them, host:port only, the primary
// first; By is the admin, empty for our own move.
const EventGroupRelays EventType = "group_relays"

// sameRelays reports whether two relay lists name the same relays in the
// same order, passwords aside.
func sameRelays(a, b []string) bool {
	return slices.EqualFunc(a, b, func(x, y string) bool { return format.RelayBase(x) == format.RelayBase(y) })
}

// relaysText names relays by host:port, never with a password.
func relaysText(relays []string) string {
	out := make([]string, len(relays))
	for i, a := range relays {
		out[i] = SanitizeLine(shortRelay(format.RelayBase(a)))
	}
	return strings.Join(out, ", ")
}

// refusesMove returns the relays (as relaysText) of a move from old to
// next that we do not follow, or "": a move onto a relay whose address
// only this machine or this network reaches (loopback, private,
// link-local), when none of the group's relays was such (spec/groups.md
// §3.5). A group on one unnamed relay was on the group record's relay.
func (g *groupState) refusesMove(old, next *format.Roster) string {
	if sameRelays(old.Settings.Relays, next.Settings.Relays) {
		return ""
	}
	was := old.Settings.Relays
	if len(was) == 0 && g.relays != nil {
		was = []string{g.relays.primary}
	}
	return refusedRelays(was, next.Settings.Relays)
}

// refusedRelays is refusesMove on relay lists: "" when every relay of to
// is public or one of was was not.
func refusedRelays(was, to []string) string {
	local := func(a string) bool { return RelayReach(format.RelayBase(a)) != ReachAnyone }
	if slices.ContainsFunc(was, local) || !slices.ContainsFunc(to, local) {
		return ""
	}
	return relaysText(to)
}

// groupRelaysLine stores the line saying that an admin moved the group
// to other relays, as a timer change has its line (spec/groups.md §3.5);
// its sender is the admin, none for our own move.
func (e *Engine) groupRelaysLine(tx *vault.Tx, c *vault.Chat, ev *Event, now time.Time) error {
	id, err := e.newID()
	if err != nil {
		return err
	}
	m := vault.Message{ID: id, ChatID: c.ID, Direction: vault.Incoming, Sender: ev.By,
		Sent: now, Received: now, Read: now, Status: vault.StatusDelivered}
	setMeta(&m, &msgMeta{Relays: ev.Text})
	return tx.PutMessage(&m)
}

// relaysLineText says a relays line in words; who is "" for us.
func relaysLineText(who, relays string) string {
	if who == "" {
		who = "you"
	}
	return who + " moved the group to relays " + relays
}
