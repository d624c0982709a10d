package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
	"veil/relay/conn"
	"veil/relay/wire"
)

// Roster changes (spec/groups.md §3.4, §6.3, §7): a member's wish to
// change the roster is an intent, queued in the group's state; one intent
// at a time becomes a commit, which stays pending until its parts are read
// back from the log. The log's order decides: the first valid commit for
// the next epoch that completes in the log is the one every member applies.
// A pending commit that loses is dropped and its intent queued again, on
// top of the winner's epoch, where it may no longer apply (a member
// already gone), so a change is made exactly once.

// groupIntent is a roster change we want to commit.
type groupIntent struct {
	Change  byte   `json:"change"`
	Target  []byte `json:"target,omitempty"`  // remove, leave, promote: the member's signing key
	Operand []byte `json:"operand,omitempty"` // add: the joiner's roster entry; settings: the settings
	Invite  []byte `json:"invite,omitempty"`  // add: the invite's exchange log, where the welcome goes
}

// pendingCommit is a commit of ours sent but not yet read back.
type pendingCommit struct {
	Hash   []byte      `json:"hash"`   // the commit's hash
	Parts  [][]byte    `json:"parts"`  // SHA-256 of each part's sealed entry
	Seen   []bool      `json:"seen"`   // which parts were read back
	Next   *logRecord  `json:"next"`   // the epoch it makes (secret)
	Secret []byte      `json:"secret"` // that epoch's secret, for a welcome (secret)
	Intent groupIntent `json:"intent"`
	Sign   []byte      `json:"sign,omitempty"` // update: our new signing seed (secret)
	Seal   []byte      `json:"seal,omitempty"` // update: our new X25519 key (secret)
	Kem    []byte      `json:"kem,omitempty"`  // update: our new ML-KEM-768 seed (secret)
}

// memberKeys are a member's three per-group keys.
type memberKeys struct {
	sign crypto.SignPrivate
	seal crypto.DHPrivate
	kem  crypto.KEM768Private
}

func newMemberKeys(rcfg ratchet.Config) (*memberKeys, error) {
	s, d, q, err := newGroupKeys(rcfg)
	if err != nil {
		return nil, err
	}
	return &memberKeys{sign: s, seal: d, kem: q}, nil
}

func parseMemberKeys(sign, seal, kem []byte) (*memberKeys, error) {
	s, err := crypto.ParseSignPrivate(sign)
	if err != nil {
		return nil, err
	}
	d, err := crypto.ParseDHPrivate(seal)
	if err != nil {
		return nil, err
	}
	q, err := crypto.ParseKEM768Private(kem)
	if err != nil {
		return nil, err
	}
	return &memberKeys{sign: s, seal: d, kem: q}, nil
}

// welcomeJob is a welcome to send once our add commit has won.
type welcomeJob struct {
	invite  []byte // the invite's exchange log ID
	joiner  format.Member
	welcome *format.GroupWelcome
}

// errMoot is an intent that no longer applies to the current roster.
var errMoot = errors.New("client: the change no longer applies")

func (g *groupState) nowUnix() int64 {
	if g.rcfg.Now == nil {
		return time.Now().Unix()
	}
	return g.rcfg.Now().Unix()
}

// propose queues an intent unless the same one is queued or pending.
func (g *groupState) propose(in groupIntent) {
	same := func(o *groupIntent) bool {
		return o.Change == in.Change && bytes.Equal(o.Target, in.Target) && bytes.Equal(o.Operand, in.Operand)
	}
	if g.pending != nil && same(&g.pending.Intent) {
		return
	}
	for i := range g.intents {
		if same(&g.intents[i]) {
			return
		}
	}
	g.intents = append(g.intents, in)
}

// commitNext turns the first queued intent into a commit, if we are at the
// end of the log with nothing pending. It returns the events of intents
// that were dropped as moot.
func (g *groupState) commitNext(ctx context.Context, c *conn.Conn) ([]Event, error) {
	var evs []Event
	moved := false
	for len(g.intents) > 0 && g.pending == nil && g.drained() && !g.gone && !g.cutOff && g.cur.roster != nil {
		in := g.intents[0]
		if in.Change == format.ChangeUpdate && g.updateWaits() {
			// Our own update made this epoch: the next one waits for
			// another change (spec/groups.md §3.6), and the changes
			// queued behind it go first.
			j := slices.IndexFunc(g.intents, func(o groupIntent) bool { return o.Change != format.ChangeUpdate })
			if j < 0 {
				return evs, nil
			}
			g.intents = append(append([]groupIntent{g.intents[j]}, g.intents[:j]...), g.intents[j+1:]...)
			continue
		}
		err := g.commit(ctx, c, in)
		if errors.Is(err, errMoot) {
			g.intents = g.intents[1:]
			evs = append(evs, g.mootEvent(&in)...)
			continue
		}
		if err != nil {
			// A relay of the new epoch that cannot be reached (or refuses
			// the log) would hold every change behind this one; a queued
			// move that avoids it goes first, the others keep their order
			// (spec/groups.md §3.5): that is how a group leaves a dead
			// secondary.
			j := g.moveAround(err)
			if j <= 0 || moved {
				return evs, err
			}
			// Settings changes queued before the move are in its settings
			// already (queuedSettings): they go with it.
			moved = true
			mv := g.intents[j]
			rest := slices.DeleteFunc(slices.Clone(g.intents[:j]), func(in groupIntent) bool { return in.Change == format.ChangeSettings })
			g.intents = append(append([]groupIntent{mv}, rest...), g.intents[j+1:]...)
			continue
		}
		g.intents = g.intents[1:]
	}
	return evs, nil
}

// mootEvent tells the user that a removal or promotion it asked for was
// dropped as moot (spec/groups.md §3.4): the member is no longer in the
// group, or is an admin already. A leave, which every admin that read the
// LEAVE queues, and the other changes are dropped quietly.
func (g *groupState) mootEvent(in *groupIntent) []Event {
	var what string
	switch in.Change {
	case format.ChangeRemove:
		what = "the removal of %s was not made: that member is no longer in the group"
	case format.ChangePromote:
		what = "the promotion of %s was not made: that member is an admin already or no longer in the group"
	default:
		return nil
	}
	nick := "a member"
	if k, err := crypto.ParseSignPublic(in.Target); err == nil {
		for _, l := range []*groupLog{&g.cur, g.prev} {
			if l != nil && l.roster != nil {
				if i := l.roster.Index(k); i >= 0 {
					nick = l.name(i)
					break
				}
			}
		}
	}
	return []Event{{Type: EventWarning, From: nick, Err: fmt.Sprintf(what, nick)}}
}

// epochRelayError is a relay of a new epoch that could not be reached or
// would not make the epoch's log.
type epochRelayError struct {
	relay string // its address; "" for the group record's one relay
	err   error
}

func (e *epochRelayError) Error() string { return e.err.Error() }
func (e *epochRelayError) Unwrap() error { return e.err }

// moveAround returns the index of the first queued move whose relays
// avoid the relay err blames, or -1. A failure of the current primary is
// not moved around: commits travel on its log.
func (g *groupState) moveAround(err error) int {
	var re *epochRelayError
	if !errors.As(err, &re) || re.relay == "" || (g.relays != nil && re.relay == g.relays.primary) {
		return -1
	}
	for j, in := range g.intents {
		if in.Change != format.ChangeSettings {
			continue
		}
		_, next, err := format.MakeCommit(g.cur.roster, in.Change, in.Operand)
		if err != nil || len(next.Settings.Relays) == 0 || slices.Equal(next.Settings.Relays, g.cur.roster.Settings.Relays) {
			continue
		}
		if !slices.ContainsFunc(next.Settings.Relays, func(a string) bool { return format.RelayBase(a) == re.relay }) {
			return j
		}
	}
	return -1
}

// queuedSettings are the settings the group will have once the settings
// changes queued or pending are made: a settings change names every
// setting, so a new one is made on top of these, and each queued one
// holds those queued before it.
func (g *groupState) queuedSettings() format.Settings {
	s := g.cur.roster.Settings
	at := func(in *groupIntent) {
		if in.Change != format.ChangeSettings {
			return
		}
		if _, next, err := format.MakeCommit(g.cur.roster, in.Change, in.Operand); err == nil {
			s = next.Settings
		}
	}
	if g.pending != nil {
		at(&g.pending.Intent)
	}
	for i := range g.intents {
		at(&g.intents[i])
	}
	return s
}

// operand resolves an intent against the current roster.
func (g *groupState) operand(in *groupIntent) ([]byte, error) {
	r := g.cur.roster
	switch in.Change {
	case format.ChangeRemove, format.ChangeLeave, format.ChangePromote:
		k, err := crypto.ParseSignPublic(in.Target)
		if err != nil {
			return nil, errMoot
		}
		i := r.Index(k)
		if i < 0 || (in.Change == format.ChangePromote && r.Members[i].Role == format.RoleAdmin) {
			return nil, errMoot
		}
		if in.Change != format.ChangeLeave && !g.isAdmin() {
			return nil, errNotAdmin
		}
		return format.IndexOperand(i), nil
	case format.ChangeAdd:
		m, err := format.ParseMember(in.Operand)
		if err != nil || r.Index(m.Sign) >= 0 {
			return nil, errMoot
		}
		if !g.isAdmin() {
			return nil, errNotAdmin
		}
		return in.Operand, nil
	case format.ChangeSettings:
		if !g.isAdmin() {
			return nil, errNotAdmin
		}
		if _, next, err := format.MakeCommit(r, in.Change, in.Operand); err == nil && settingsEqual(next.Settings, r.Settings) {
			return nil, errMoot // already in force
		}
		return in.Operand, nil
	case format.ChangeUpdate:
		if r.Index(g.sign.Public()) < 0 {
			return nil, errMoot
		}
		return nil, nil // built with the new keys in commit
	}
	return nil, errMoot
}

// errNotAdmin is a roster change asked of a member who is not an admin.
var errNotAdmin error = &userError{kind: errNotAllowed, msg: "only an admin can change the group"}

// commit makes the intent's change (spec/groups.md §6.3, §7): a new epoch
// secret sealed to the new roster, a new log, and the signed commit sent
// in parts through the current epoch's log. The commit stays pending until
// its parts are read back (ownEntry).
func (g *groupState) commit(ctx context.Context, c *conn.Conn, in groupIntent) error {
	if g.gone {
		return errors.New("client: we are no longer in this group")
	}
	if in.Change == format.ChangeLeave && !g.isAdmin() {
		return errMoot // only an admin commits a leave
	}
	op, err := g.operand(&in)
	if err != nil {
		return err
	}
	old := g.cur
	self := g.sign
	var nk *memberKeys
	if in.Change == format.ChangeUpdate {
		// Our own update: three fresh keys in our roster entry, the
		// commit signed with the old signing key (spec/groups.md §6.3).
		if nk, err = newMemberKeys(g.rcfg); err != nil {
			return err
		}
		m := *g.self()
		m.Sign, m.Seal, m.Kem = nk.sign.Public(), nk.seal.Public(), nk.kem.Public()
		if op, err = format.UpdateOperand(old.roster.Index(g.sign.Public()), &m); err != nil {
			return err
		}
		self = nk.sign
	}
	cm, next, err := format.MakeCommit(old.roster, in.Change, op)
	if err != nil {
		return err
	}
	if next.Index(self.Public()) < 0 {
		return errors.New("client: an admin leaves with group leave, not by committing")
	}
	secret, err := crypto.NewSymKey(g.rcfg.Rand)
	if err != nil {
		return err
	}
	defer secret.Wipe()
	seals := make([]ratchet.SealRecipient, len(next.Members))
	for i, m := range next.Members {
		seals[i] = ratchet.SealRecipient{DH: m.Seal, KEM: m.Kem}
	}
	if cm.Sealed, err = ratchet.SealEpochSecret(&secret, ratchet.EpochContext(next.GroupID, next.Epoch), seals, g.rcfg.Rand); err != nil {
		return err
	}
	cm.CommitSecret(&secret, next)
	nl, err := g.newLog(ctx, c, next, &secret, self)
	if err != nil {
		return err
	}
	if len(next.Settings.Relays) > 0 {
		ids := make([]crypto.ID, 0, nl.nlogs())
		for k := range nl.nlogs() {
			ids = append(ids, nl.logID(k))
		}
		cm.LogID, err = format.SealLogIDs(nl.epoch, ids)
	} else {
		cm.LogID, err = nl.epoch.SealLogID(nl.id)
	}
	if err != nil {
		return err
	}
	cm.Sign(g.sign, old.epoch.Context())
	whole := cm.Marshal()
	h := format.CommitHash(whole)
	nl.conf = format.Confirm(old.conf, cm.NewHash, h)
	parts, err := format.SplitCommit(whole)
	if err != nil {
		return err
	}
	p := &pendingCommit{Hash: h[:], Next: nl.record(), Secret: bytes.Clone(secret[:]), Intent: in, Seen: make([]bool, len(parts))}
	if nk != nil {
		p.Sign, p.Seal, p.Kem = nk.sign.Seed(), nk.seal.Bytes(), nk.kem.Seed()
	}
	bodies := make([][]byte, 0, len(parts))
	for _, part := range parts {
		part.Conf = format.ConfTag(old.conf)
		pt, err := part.Marshal()
		if err != nil {
			return err
		}
		m, err := old.epoch.Encrypt(pt)
		if err != nil {
			return err
		}
		bodies = append(bodies, m)
		hb := crypto.Hash(m)
		p.Parts = append(p.Parts, hb[:])
	}
	g.pending = p
	for _, m := range bodies {
		g.queue(&old, m)
	}
	if !g.deferUploads {
		return g.flushOut(ctx, c)
	}
	return nil
}

// newLog derives roster r's epoch from secret, as the member whose signing
// key is self, and creates its log on c's relay; nothing of the group's
// state changes.
func (g *groupState) newLog(ctx context.Context, c *conn.Conn, r *format.Roster, secret *crypto.SymKey, self crypto.SignPrivate) (*groupLog, error) {
	ep, err := newEpoch(g.rcfg, secret, r, self)
	if err != nil {
		return nil, err
	}
	l := &groupLog{epoch: ep, roster: r}
	// One log on each of the epoch's relays (spec/groups.md §3.5): a
	// commit waits until every one of them answers. Every relay is
	// reached before any log is made, and the logs made are deleted when
	// a later one fails, so a failed commit leaves no log behind (a crash
	// between two logs leaves one, which expires with its TTL).
	n := max(1, len(r.Settings.Relays))
	conns := make([]*conn.Conn, n)
	for k := range n {
		cc, err := g.connFor(ctx, c, l.relay(k))
		if err != nil {
			return nil, &epochRelayError{relay: l.relay(k), err: err}
		}
		conns[k] = cc
	}
	ids := make([]crypto.ID, 0, n)
	for k, cc := range conns {
		if k < len(r.Settings.Relays) {
			g.pws.take(r.Settings.Relays[k])
		}
		id, err := createLog(ctx, cc, ep, g.ttl, g.pws.forRelay(g.relayAddr(l.relay(k))))
		if err != nil {
			g.relayDown(l.relay(k), cc, err)
			deleteLogs(ctx, conns[:k], ids, ep)
			return nil, &epochRelayError{relay: l.relay(k), err: err}
		}
		ids = append(ids, id)
	}
	l.setLogs(ids)
	return l, nil
}

// deleteLogs deletes the logs ids, made on conns, of an epoch no commit
// will name; one that cannot be deleted expires with its TTL.
func deleteLogs(ctx context.Context, conns []*conn.Conn, ids []crypto.ID, ep *ratchet.GroupEpoch) {
	w, _ := ep.Caps()
	for k, id := range ids {
		cctx, cancel := context.WithTimeout(ctx, commandTimeout)
		_ = conns[k].DeleteLog(cctx, id, (*[wire.CapSize]byte)(&w))
		cancel()
	}
}

// ownEntry handles one of our own entries read back from the current log:
// when it completes our pending commit (every part read, in log order,
// before any other valid commit for the epoch), the commit has won.
func (g *groupState) ownEntry(body []byte) []Event {
	p := g.pending
	h := crypto.Hash(body)
	for i, ph := range p.Parts {
		if bytes.Equal(ph, h[:]) {
			p.Seen[i] = true
		}
	}
	for _, s := range p.Seen {
		if !s {
			return nil
		}
	}
	return g.winPending()
}

// winPending moves to the epoch our pending commit makes.
func (g *groupState) winPending() []Event {
	p := g.pending
	g.pending = nil
	next, err := p.Next.load(g.rcfg)
	if err != nil {
		return []Event{{Type: EventWarning, Err: "client: corrupt pending group commit"}}
	}
	old := g.cur
	if p.Intent.Change == format.ChangeUpdate {
		nk, err := parseMemberKeys(p.Sign, p.Seal, p.Kem)
		if err != nil {
			return []Event{{Type: EventWarning, Err: "client: corrupt pending group commit"}}
		}
		next.by = memberName(old.roster, old.roster.Index(g.sign.Public()))
		next.updatedBy = nk.sign.Public()
		g.move(*next) // while g.sign is the old roster's key (its NEXT)
		g.sign, g.seal, g.kem = nk.sign, nk.seal, nk.kem
		g.updated, g.sent = g.nowUnix(), 0
	} else {
		next.by = memberName(old.roster, old.roster.Index(g.sign.Public()))
		g.move(*next)
	}
	ev := intentEvent(&p.Intent, old.roster, next.roster)
	if p.Intent.Change == format.ChangeAdd {
		rb, err := next.roster.Marshal()
		secret, serr := crypto.ParseSymKey(p.Secret)
		joiner, jerr := format.ParseMember(p.Intent.Operand)
		if err == nil && serr == nil && jerr == nil {
			g.welcomes = append(g.welcomes, welcomeJob{invite: p.Intent.Invite, joiner: joiner,
				welcome: &format.GroupWelcome{Roster: rb, Secret: secret, LogID: next.id, Conf: next.conf, Logs: next.logIDs()}})
		}
	}
	return append(ev, Event{Type: EventGroupEpoch, Text: fmt.Sprint(next.roster.Epoch)})
}

// losePending drops our pending commit after another one won, and queues
// its intent again first.
func (g *groupState) losePending() {
	if g.pending == nil {
		return
	}
	in := g.pending.Intent
	g.pending = nil
	g.intents = append([]groupIntent{in}, g.intents...)
}

// retarget points the queued intents that name a member by its old
// signing key at its new one, after an update of that member's keys was
// applied (spec/groups.md §3.4): a removal or promote made on the roster
// before the update still applies to the member, whose update cannot make
// it moot. A pending commit of ours that lost is queued again first
// (losePending), so it is among them.
func (g *groupState) retarget(old, next crypto.SignPublic) {
	for i := range g.intents {
		if bytes.Equal(g.intents[i].Target, old[:]) {
			g.intents[i].Target = bytes.Clone(next[:])
		}
	}
}

// intentEvent describes a change of ours that won.
func intentEvent(in *groupIntent, old, next *format.Roster) []Event {
	cm := &format.Commit{Change: in.Change}
	switch in.Change {
	case format.ChangeRemove, format.ChangeLeave, format.ChangePromote:
		k, err := crypto.ParseSignPublic(in.Target)
		if err != nil {
			return nil
		}
		cm.Operand = format.IndexOperand(old.Index(k))
	}
	return commitEvent(cm, old, next)
}

// settle reads the log, commits queued intents and reads again until no
// commit of ours is pending, within a few rounds: a command that changes
// the roster returns with its commit applied when nothing competes.
func (g *groupState) settle(ctx context.Context, c *conn.Conn) ([]Event, error) {
	var evs []Event
	for range settleRounds {
		pe, err := g.poll(ctx, c)
		evs = append(evs, pe...)
		if err != nil || g.gone {
			return evs, err
		}
		ce, err := g.commitNext(ctx, c)
		evs = append(evs, ce...)
		if err != nil {
			return evs, err
		}
		if g.pending == nil && g.noIntents() && g.drained() {
			return evs, nil
		}
		if g.deferUploads && len(g.out) > 0 {
			return evs, nil // stored and uploaded by the engine first
		}
	}
	return evs, nil
}

// settleRounds bounds settle's rounds (tuning).
const settleRounds = 8

// add commits a new member and returns its welcome, as the invite
// service's add intent does (for tests and benchmarks of a bare state).
func (g *groupState) add(ctx context.Context, c *conn.Conn, m format.Member) (*format.GroupWelcome, error) {
	m.Role = format.RoleMember // whatever the join request said, spec/groups.md §9.2
	op, err := m.AppendTo(nil)
	if err != nil {
		return nil, err
	}
	g.propose(groupIntent{Change: format.ChangeAdd, Operand: op})
	if _, err := g.settle(ctx, c); err != nil {
		return nil, err
	}
	for i, w := range g.welcomes {
		if r, err := format.ParseRoster(w.welcome.Roster); err == nil && r.Index(m.Sign) >= 0 {
			g.welcomes = append(g.welcomes[:i], g.welcomes[i+1:]...)
			return w.welcome, nil
		}
	}
	return nil, errors.New("client: the add commit did not apply")
}

// Update policy (spec/groups.md §6.6): a member replaces its keys at
// least this often, and after this many messages of its own.
const (
	updateEvery    = 7 * 24 * time.Hour
	updateMessages = 1000
)

// updateWaits reports whether our own update made the current epoch: no
// member's update may follow its own directly (spec/groups.md §3.6), so
// the next one waits, queued, for another change.
func (g *groupState) updateWaits() bool {
	return g.cur.updatedBy == g.sign.Public()
}

// noIntents reports whether no change is queued that can be committed
// now: an update that waits (updateWaits) does not count.
func (g *groupState) noIntents() bool {
	return !slices.ContainsFunc(g.intents, func(in groupIntent) bool {
		return in.Change != format.ChangeUpdate || !g.updateWaits()
	})
}

// dueUpdate queues an update of our keys when the policy says so.
func (g *groupState) dueUpdate() {
	if g.cur.roster == nil || g.gone || g.cutOff || g.updateWaits() {
		return
	}
	if g.nowUnix()-g.updated >= int64(updateEvery/time.Second) || g.sent >= updateMessages {
		g.propose(groupIntent{Change: format.ChangeUpdate})
	}
}
