package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
	"veil/relay/conn"
	"veil/relay/wire"
)

// The group protocol over a relay's logs (spec/groups.md §6, §7): one
// member's live state of one group, and the operations that move it. This
// layer talks to one relay connection and keeps its state in memory; the
// engine persists it in the vault's group record and drives it from its
// command and receive paths.

// Group event types (spec/groups.md §7, §8).
const (
	EventGroupJoined  EventType = "group_joined"  // a member joined (From is the nickname)
	EventGroupLeft    EventType = "group_left"    // a member left
	EventGroupRemoved EventType = "group_removed" // a member was removed by By; From empty: we were
	EventGroupEpoch   EventType = "group_epoch"   // a new epoch started (Text is its number)
	EventGroupBurned  EventType = "group_burned"  // an admin burned the group; it is erased
	EventGroupPromote EventType = "group_promoted"
	EventGroupStalled EventType = "group_stalled" // a roster change has been incomplete too long (Err says what)
)

// Group tuning (not protocol).
const (
	defaultGroupLogTTL = 14 * 24 * time.Hour // spec/groups.md §6.1
	groupReadBatch     = 1000                // LREAD limit, spec/relay.md §7.2
	// groupPollReads bounds the LREADs of one poll: a relay that makes up
	// entries without end is read in bounded steps, each stored, rather
	// than for ever; the next sync goes on from the cursor.
	groupPollReads = 256
)

// groupLog is one epoch's log as a member follows it.
type groupLog struct {
	epoch  *ratchet.GroupEpoch
	roster *format.Roster
	id     crypto.ID
	cursor uint64                // the last seq processed
	side   []sideLog             // the epoch's logs on the group's other relays (§3.5)
	conf   [crypto.HashSize]byte // the epoch's confirmation value (§6.4)
	moved  int64                 // when we moved on to the next epoch (Unix seconds); 0 while current
	// by is the display name of the member whose commit made this epoch
	// ("" for the first epoch, or one we joined).
	by string
	// updatedBy is the new signing key of the member whose update commit
	// made this epoch, zero when another change made it (§3.6).
	updatedBy crypto.SignPublic
	// updaterNext: while this log is drained, the NEXT that the member
	// whose update made the following epoch wrote under its old key has
	// been read here; later entries under that key are not its (§7.2).
	// oldKeyWarned: that was said once.
	updaterNext, oldKeyWarned bool
	// rb and rh are the roster's record and hash, kept once computed;
	// names its members' display names (memberNames), likewise.
	rb    []byte
	rh    [crypto.HashSize]byte
	names []string
}

// name is member i's display name in l's roster: its sanitised nickname,
// with a key suffix where two members' nicknames look alike.
func (l *groupLog) name(i int) string {
	if l.names == nil {
		l.names = memberNames(l.roster)
	}
	return l.names[i]
}

// groupState is one member's state of one group.
type groupState struct {
	rcfg ratchet.Config
	sign crypto.SignPrivate   // our per-group signing key
	seal crypto.DHPrivate     // our per-group X25519 sealing key
	kem  crypto.KEM768Private // our per-group ML-KEM-768 sealing key
	ttl  time.Duration
	pws  groupPasswords // for LNEW on the group's relays; loaded with the group, never stored in it

	cur  groupLog
	prev *groupLog // the previous epoch's log, drained after a commit (§7.2)
	asm  format.CommitAssembler

	// Roster changes (§3.4): intents wait in order; one at a time is a
	// commit, pending until read back from the log. welcomes are the
	// welcomes our winning add commits owe (the engine sends them).
	intents  []groupIntent
	pending  *pendingCommit
	welcomes []welcomeJob
	// updated is when we last replaced our keys (Unix seconds); sent
	// counts our messages since (spec/groups.md §6.6).
	updated int64
	sent    int
	// prevIdle: this poll read prev to its end; it is kept for the rest
	// of its drainGrace, and roster changes may go ahead meanwhile.
	prevIdle bool
	// mine holds the hashes of our latest entries, to tell them from an
	// entry written with a copy of our keys; theftWarned once per run.
	mine        [][]byte
	theftWarned bool
	// forkWarned: senders already reported on another branch this epoch.
	forkWarned map[crypto.SignPublic]bool
	// followed: senders read in the current epoch's log with our
	// confirmation tag, this epoch (a zero NEXT from one is not shown).
	followed map[crypto.SignPublic]bool

	// out holds sealed entries not yet appended, oldest first. With
	// deferUploads set (the engine), appends only queue here, so the
	// state that produced them is stored before anything is uploaded and
	// a crash re-sends instead of losing (a re-sent entry is a duplicate
	// its readers drop).
	out          []pendingAppend
	deferUploads bool

	// holds is the engine's log read back-off; nil holds nothing.
	holds *readHolds
	// relays reaches the group's relays other than c's (nil: c only).
	relays *relayConns

	gone bool // burned or left: erase the group
	// ended is set with gone when the group itself ends (a burn, its
	// deadline), not when we only leave it: every member then deletes the
	// chunks of every file of the group it knows, not only its own.
	ended bool
	// removed is set when a commit left us out: the engine keeps the
	// history read-only and erases the keys (spec/groups.md §7.4);
	// removedBy is the nickname of the admin who signed it.
	removed   bool
	removedBy string
	// refusedMove, set with removed, names the relays of a move we did
	// not follow (spec/groups.md §3.5): host:port, comma-separated.
	refusedMove string
	// cutOff is set when we read a valid commit for the next epoch that
	// we could not follow (spec/groups.md §6.6): we stay in the current
	// epoch and never accept another commit for the next, which would put
	// us on a branch of our own. cutOffBy names the commit's signer.
	cutOff   bool
	cutOffBy string
	// noted: a NEXT entry was queued by this poll (flushed at its end
	// when uploads are not deferred).
	noted bool
}

// newGroupKeys draws a member's per-group keys.
func newGroupKeys(rcfg ratchet.Config) (crypto.SignPrivate, crypto.DHPrivate, crypto.KEM768Private, error) {
	s, err := crypto.GenerateSign(rcfg.Rand)
	if err != nil {
		return s, crypto.DHPrivate{}, crypto.KEM768Private{}, err
	}
	d, err := crypto.GenerateDH(rcfg.Rand)
	if err != nil {
		return s, d, crypto.KEM768Private{}, err
	}
	q, err := crypto.GenerateKEM768(rcfg.Rand)
	return s, d, q, err
}

// createGroup makes a group with us as its only member and admin, and its
// first log on c's relay (spec/groups.md §3, §3.5, §6.1).
func createGroup(ctx context.Context, c *conn.Conn, rcfg ratchet.Config, nick string, settings format.Settings, ttl time.Duration, pws groupPasswords, relays *relayConns) (*groupState, error) {
	if err := format.CheckGroupNick(nick); err != nil {
		return nil, err
	}
	sign, seal, kem, err := newGroupKeys(rcfg)
	if err != nil {
		return nil, err
	}
	g := &groupState{rcfg: rcfg, sign: sign, seal: seal, kem: kem, ttl: ttl, pws: pws, relays: relays}
	if g.ttl <= 0 {
		g.ttl = defaultGroupLogTTL
	}
	r := &format.Roster{Epoch: 1, Settings: settings,
		Members: []format.Member{{Sign: sign.Public(), Seal: seal.Public(), Kem: kem.Public(), Role: format.RoleAdmin, Nick: nick}}}
	if err := crypto.RandomBytes(rcfg.Rand, r.GroupID[:]); err != nil {
		return nil, err
	}
	if _, err := r.Marshal(); err != nil {
		return nil, err
	}
	secret, err := crypto.NewSymKey(rcfg.Rand)
	if err != nil {
		return nil, err
	}
	defer secret.Wipe()
	l, err := g.newLog(ctx, c, r, &secret, sign)
	if err != nil {
		return nil, err
	}
	rh, err := r.Hash()
	if err != nil {
		return nil, err
	}
	l.conf = format.FirstConfirm(rh)
	g.cur, g.updated = *l, g.nowUnix()
	return g, nil
}

// createLog creates epoch ep's log on c's relay (spec/groups.md §6.1),
// with the relay's password from pws (nil: none).
func createLog(ctx context.Context, c *conn.Conn, ep *ratchet.GroupEpoch, ttl time.Duration, pws *relayPasswords) (crypto.ID, error) {
	w, rc := ep.Caps()
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	var id crypto.ID
	err := pws.try(func(pw wire.Password) (err error) {
		id, err = c.NewLog(cctx, (*[wire.CapSize]byte)(&w), (*[wire.CapSize]byte)(&rc), ttl, pw)
		return err
	})
	if err != nil {
		return id, fmt.Errorf("client: creating the group log: %w", err)
	}
	return id, nil
}

// joinGroup enters a group from an admin's welcome.
func joinGroup(rcfg ratchet.Config, sign crypto.SignPrivate, seal crypto.DHPrivate, kem crypto.KEM768Private, w *format.GroupWelcome, ttl time.Duration) (*groupState, error) {
	r, err := format.ParseRoster(w.Roster)
	if err != nil {
		return nil, err
	}
	i := r.Index(sign.Public())
	if i < 0 || r.Members[i].Seal != seal.Public() || r.Members[i].Kem.Raw() != kem.Public().Raw() {
		return nil, errors.New("client: the group welcome does not list us")
	}
	g := &groupState{rcfg: rcfg, sign: sign, seal: seal, kem: kem, ttl: ttl}
	if g.ttl <= 0 {
		g.ttl = defaultGroupLogTTL
	}
	ep, err := newEpoch(rcfg, &w.Secret, r, sign)
	if err != nil {
		return nil, err
	}
	g.cur, g.updated = groupLog{epoch: ep, roster: r, id: w.LogID, conf: w.Conf}, g.nowUnix()
	if len(w.Logs) > 0 {
		if len(w.Logs) != len(r.Settings.Relays) {
			return nil, errors.New("client: the group welcome's logs do not match the group's relays")
		}
		g.cur.setLogs(w.Logs)
	} else if len(r.Settings.Relays) > 0 {
		return nil, errors.New("client: the group welcome's logs do not match the group's relays")
	}
	return g, nil
}

// self returns our roster entry in the current epoch.
func (g *groupState) self() *format.Member {
	i := g.cur.roster.Index(g.sign.Public())
	if i < 0 {
		return nil
	}
	return &g.cur.roster.Members[i]
}

func (g *groupState) isAdmin() bool {
	m := g.self()
	return m != nil && m.Role == format.RoleAdmin
}

// append encrypts env in the current epoch and appends it to the epoch's
// log: one upload whatever the group's size (spec/groups.md §6.2).
func (g *groupState) append(ctx context.Context, c *conn.Conn, env *format.GroupEnvelope) error {
	if g.gone {
		return errors.New("client: we are no longer in this group")
	}
	if g.cur.epoch == nil {
		return ErrGroupWaiting
	}
	env.Conf = format.ConfTag(g.cur.conf)
	chatEntry := env.Type == format.GenvText || env.Type == format.GenvReply || env.Type == format.GenvReact || env.Type == format.GenvFile
	if chatEntry {
		g.sent++
	}
	pt, err := env.Marshal()
	if err != nil {
		return err
	}
	m, err := g.cur.epoch.Encrypt(pt)
	if err != nil {
		return err
	}
	// Everything but a commit's parts goes to every log of the epoch
	// (spec/groups.md §6.2); a TEXT keeps its envelope for reseal.
	var keep []byte
	if chatEntry {
		keep = pt
	}
	g.remember(m)
	g.out = append(g.out, g.copiesFor(&g.cur, m, keep)...)
	if g.deferUploads {
		return nil
	}
	return g.flushOut(ctx, c)
}

// pendingAppend is one sealed entry waiting to be appended to a log.
type pendingAppend struct {
	Log  []byte `json:"log"`
	Cap  []byte `json:"cap"` // the log's write capability (secret)
	Body []byte `json:"body"`
	Msg  string `json:"msg,omitempty"` // the chat message it carries, if any
	// Env is a TEXT's envelope (secret): sealed again in the current
	// epoch if the group moved on before it went out.
	Env []byte `json:"env,omitempty"`
	// Relay is the relay of the log, for a group whose roster names its
	// relays; "" is the group's one relay.
	Relay string `json:"relay,omitempty"`
	// Spare: another copy of this entry is out; this one only completes
	// the other relay's log.
	Spare bool `json:"spare,omitempty"`
}

// reseal seals again, in the current epoch, every queued TEXT sealed in
// an earlier one (spec/groups.md §6.2): a message queued while the relay
// was away, or behind a commit we have since read, reaches the members of
// the epoch the group is in, and not a member removed meanwhile, who can
// still read the old log.
func (g *groupState) reseal() error {
	if g.cur.epoch == nil || g.gone || g.removed {
		return nil
	}
	out := make([]pendingAppend, 0, len(g.out))
	done := map[string]bool{} // entries whose copies were sealed again
	for _, p := range g.out {
		if g.cur.hasLog(p.Log) {
			out = append(out, p)
			continue
		}
		if p.Env == nil {
			if p.Spare && (g.prev == nil || !g.prev.hasLog(p.Log)) {
				// A copy for a log nobody reads any more, whose other
				// copy went out (spec/groups.md §3.5): dropped.
				continue
			}
			out = append(out, p)
			continue
		}
		if done[string(p.Body)] {
			continue // the same message's copy for another relay
		}
		done[string(p.Body)] = true
		env, err := format.ParseGroupEnvelope(p.Env)
		if err != nil {
			return err
		}
		env.Conf = format.ConfTag(g.cur.conf)
		pt, err := env.Marshal()
		if err != nil {
			return err
		}
		m, err := g.cur.epoch.Encrypt(pt)
		if err != nil {
			return err
		}
		g.remember(m)
		copies := g.copiesFor(&g.cur, m, pt)
		copies[0].Msg = p.Msg
		out = append(out, copies...)
	}
	g.out = out
	return nil
}

// ours reports whether body is an entry we wrote (spec/groups.md §12).
func (g *groupState) ours(body []byte) bool {
	h := crypto.Hash(body)
	for _, k := range g.mine {
		if bytes.Equal(k, h[:]) {
			return true
		}
	}
	return false
}

// maxMine bounds the hashes of our own entries kept to recognise them when
// read back: a member that wrote more since its last read tells nobody.
const maxMine = 4096

// queue queues the sealed entry m for l's primary log only (a commit's
// part) and remembers it as ours.
func (g *groupState) queue(l *groupLog, m []byte) {
	g.remember(m)
	w, _ := l.epoch.Caps()
	g.out = append(g.out, pendingAppend{Log: bytes.Clone(l.id[:]), Cap: bytes.Clone(w[:]), Body: m, Relay: l.relay(0)})
}

// remember keeps the hash of an entry we wrote.
func (g *groupState) remember(m []byte) {
	h := crypto.Hash(m)
	g.mine = append(g.mine, h[:])
	if len(g.mine) > maxMine {
		g.mine = g.mine[len(g.mine)-maxMine:]
	}
}

// flushOut appends the queued entries in order, dropping each once the
// relay has it. A group on one relay stops at the first failure; a group
// on two skips the entries of a relay that failed and goes on with the
// other's, so a relay down delays only its own copies. Once one copy of
// an entry is out, its other copies are only retried as they are: the
// message is sent, and never sealed again (reseal).
func (g *groupState) flushOut(ctx context.Context, c *conn.Conn) error {
	var keep []pendingAppend
	var errs []error
	for i := 0; i < len(g.out); i++ {
		p := g.out[i]
		id, err := crypto.ParseID(p.Log)
		if err != nil || len(p.Cap) != wire.CapSize {
			continue
		}
		cc, err := g.connFor(ctx, c, p.Relay)
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, commandTimeout)
			_, err = cc.Append(cctx, id, (*[wire.CapSize]byte)(p.Cap), p.Body)
			cancel()
			if err != nil {
				g.relayDown(p.Relay, cc, err)
			}
		}
		if err != nil {
			err = fmt.Errorf("client: appending to the group log: %w", err)
			if p.Relay == "" {
				g.out = append(keep, g.out[i:]...)
				return err
			}
			errs = append(errs, err)
			keep = append(keep, p)
			continue
		}
		if p.Spare {
			g.remember(p.Body) // read back later than our other entries
		}
		spare(keep, p.Body)
		spare(g.out[i+1:], p.Body)
	}
	g.out = keep
	for _, p := range keep {
		if !p.Spare {
			return errors.Join(errs...) // an entry that reached no relay
		}
	}
	return nil
}

// spare marks the queued copies of body as spares: another copy is out.
func spare(out []pendingAppend, body []byte) {
	for j := range out {
		if bytes.Equal(out[j].Body, body) {
			out[j].Msg, out[j].Env, out[j].Spare = "", nil, true
		}
	}
}

// memberIndex finds the member a user named, "nick" or "nick#suffix",
// in the current roster (spec/groups.md §14.2).
func (g *groupState) memberIndex(nick string) (int, error) {
	return resolveMember(g.cur.roster, nick)
}

// poll reads every log we follow from its cursor and applies what it
// finds (spec/groups.md §6.2, §7.2). It returns the events, in order. A
// reply the relay connection refuses (conn.ErrBadReply: entries that do
// not move past the cursor, and the like) ends the poll with an error,
// none of its entries applied, and holds that log's reads back (§6.2); a
// held log ends it with an error wrapping errLogHeld. One poll makes at
// most groupPollReads reads, and warns at most once per sender of
// entries it could not use (foldUnreadable).
func (g *groupState) poll(ctx context.Context, c *conn.Conn) ([]Event, error) {
	evs, err := g.readLogs(ctx, c)
	return foldUnreadable(evs), err
}

// readLogs is poll before its warnings are folded.
func (g *groupState) readLogs(ctx context.Context, c *conn.Conn) ([]Event, error) {
	var evs []Event
	g.prevIdle = false
	reads := 0
	for !g.gone && !g.removed {
		l := &g.cur
		draining := g.prev != nil && !g.prevIdle
		if draining {
			l = g.prev
		}
		epoch := g.cur.roster.Epoch
		moved, failed := false, 0
		var lastErr error
		// Every log of the epoch in turn, the primary first; a log on a
		// relay that fails is left for the next poll when the epoch has
		// another (spec/groups.md §3.5).
		for k := 0; k < l.nlogs() && !moved; k++ {
			for {
				if reads == groupPollReads {
					return evs, nil // the rest at the next sync
				}
				reads++
				entries, err := g.readLog(ctx, c, l, k)
				if err != nil {
					if l.nlogs() == 1 && g.cur.nlogs() == 1 {
						return evs, err // a group on one relay
					}
					failed, lastErr = failed+1, err
					break
				}
				if len(entries) == 0 {
					break
				}
				for _, en := range entries {
					// The cursor moves first: a commit in handle replaces
					// g.cur, and the old log (kept for draining) must
					// resume after it.
					*l.cursorAt(k) = en.Seq
					evs = append(evs, g.handle(l, en.Body, draining, k == 0)...)
					if g.gone || g.removed || g.cur.roster.Epoch != epoch {
						moved = true
						break // a commit moved us: drain the old log from here
					}
				}
				if moved {
					break
				}
			}
		}
		switch {
		case g.gone || g.removed:
		case moved:
			g.prevIdle = false
			continue
		case failed == l.nlogs() && !draining:
			return evs, lastErr
		case draining:
			// Read to its end (or, in a group on two relays, its relays
			// are down: the group moved off them). A member that has not
			// yet read the commit may still append to it, so it is read
			// again at every poll for drainGrace after we moved (§7.2).
			if g.nowUnix()-g.prev.moved >= int64(drainGrace/time.Second) {
				g.prev = nil
			} else {
				g.prevIdle = true
			}
			continue
		}
		break
	}
	evs = append(evs, g.stalledCommits()...)
	if g.noted && !g.deferUploads {
		// Our NEXT entries (§6.6); one that fails stays queued and goes
		// out with the next append.
		g.noted = false
		_ = g.flushOut(ctx, c)
	}
	return evs, nil
}

// readLog reads log k of epoch l from its cursor. A reply the connection
// refused holds that log's reads back (§6.2).
func (g *groupState) readLog(ctx context.Context, c *conn.Conn, l *groupLog, k int) ([]wire.Entry, error) {
	id := l.logID(k)
	if err := g.holds.check(id); err != nil {
		return nil, err
	}
	cc, err := g.connFor(ctx, c, l.relay(k))
	if err != nil {
		return nil, fmt.Errorf("client: reading the group log: %w", err)
	}
	_, rc := l.epoch.Caps()
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	entries, err := cc.ReadLog(cctx, id, (*[wire.CapSize]byte)(&rc), *l.cursorAt(k), groupReadBatch)
	cancel()
	if errors.Is(err, conn.ErrBadReply) {
		if d := g.holds.refused(id); d > 0 {
			return nil, fmt.Errorf("client: reading the group log: %w (not read again for %s)", err, FormatDuration(d))
		}
		return nil, fmt.Errorf("client: reading the group log: %w", err)
	}
	if err != nil {
		g.relayDown(l.relay(k), cc, err)
		return nil, fmt.Errorf("client: reading the group log: %w", err)
	}
	g.holds.ok(id)
	return entries, nil
}

// handle applies one log entry of log l. Entries of a log being drained
// count only from senders who are still members, or whose update made the
// current epoch (§7.2).
// Commits count only on the epoch's primary log (primary), which orders
// them (§3.5).
func (g *groupState) handle(l *groupLog, body []byte, draining, primary bool) []Event {
	pt, sender, err := l.epoch.Decrypt(body)
	switch {
	case errors.Is(err, ratchet.ErrOwnMessage):
		if !g.ours(body) {
			// An entry signed with our key that we never wrote: someone
			// holds a copy of our group keys (§12). Decrypt checked the
			// signature, so a member naming our key cannot raise this.
			if g.theftWarned {
				return nil
			}
			g.theftWarned = true
			return []Event{{Type: EventWarning, Err: "someone is writing to this group with your keys: a copy of your group state exists elsewhere; run veil group rekey and tell an admin out of band"}}
		}
		if !draining && primary && g.pending != nil {
			return g.ownEntry(body)
		}
		return nil
	case errors.Is(err, ratchet.ErrDuplicate):
		return nil
	case err != nil:
		return []Event{unreadable(nil, "", "dropped a group message that does not authenticate")}
	}
	si := l.roster.Index(sender)
	if si < 0 {
		return nil
	}
	now := sender // the sender's signing key in the current epoch
	if draining {
		k, ok := drainedMember(l.roster, g.cur.roster, si)
		if !ok {
			return nil
		}
		if k != sender && l.updaterNext {
			// The updater wrote its NEXT here when it moved and nothing
			// under its old key after it: this is someone else holding
			// those keys (§12).
			if l.oldKeyWarned {
				return nil
			}
			l.oldKeyWarned = true
			name := l.name(si)
			return []Event{{Type: EventWarning, From: name, Err: fmt.Sprintf("someone is writing with %s's old keys after %s replaced them: a copy of %s's earlier group state exists elsewhere; dropped its entries", name, name, name)}}
		}
		now = k
	}
	from := l.roster.Members[si]
	name := l.name(si) // nick, or nick#key where two look alike
	env, err := format.ParseGroupEnvelope(pt)
	if err != nil {
		return []Event{unreadable(&sender, name, "dropped a malformed group message")}
	}
	if draining && primary && now != sender && env.Type == format.GenvNext {
		l.updaterNext = true // the updater's last entry under its old key
	}
	var evs []Event
	if l == &g.cur && env.Conf == format.ConfTag(l.conf) && !g.followed[sender] {
		if g.followed == nil {
			g.followed = make(map[crypto.SignPublic]bool)
		}
		g.followed[sender] = true
	}
	if env.Conf != format.ConfTag(l.conf) && !g.forkWarned[sender] {
		// The sender derived this epoch through other commits than we
		// did (§6.4): say so once per sender and epoch.
		if g.forkWarned == nil {
			g.forkWarned = make(map[crypto.SignPublic]bool)
		}
		g.forkWarned[sender] = true
		evs = append(evs, Event{Type: EventWarning, From: name,
			Err: fmt.Sprintf("%s is on a different branch of this group: its view of the members differs from ours; compare veil group verify out of band", name)})
	}
	switch env.Type {
	case format.GenvText, format.GenvReply:
		ev := Event{Type: EventMessage, From: name, Text: Sanitize(env.Text), ttl: time.Duration(env.TTL) * time.Second, wire: env.ID}
		if env.Type == format.GenvReply {
			ev.reply = hex.EncodeToString(env.Target[:])
		}
		return append(evs, ev)
	case format.GenvFile:
		evs = append(evs, Event{Type: EventMessage, From: name, ttl: time.Duration(env.TTL) * time.Second, wire: env.ID,
			file: env.File, fileErr: env.FileErr, isFile: true})
		if env.FileErr != nil {
			evs = append(evs, Event{Type: EventWarning, From: name, Err: name + " sent a file veil refused: " + refusedReason(env.FileErr)})
		}
		return evs
	case format.GenvReact:
		return append(evs, Event{Type: EventReaction, From: name, Text: env.Reaction, wire: env.ID})
	case format.GenvLeave:
		// Shown when its commit is read (§7.3); an admin queues that commit,
		// also when it reads the LEAVE while draining the old log.
		if g.isAdmin() && g.cur.roster.Index(now) >= 0 {
			g.propose(groupIntent{Change: format.ChangeLeave, Target: now[:]})
		}
		return evs
	case format.GenvNext:
		if primary {
			return append(evs, g.nextEntry(l, sender, name, env.Next)...)
		}
		return evs
	case format.GenvBurn:
		if from.Role != format.RoleAdmin {
			return append(evs, unreadable(&sender, name, "ignored a burn from a member who is not an admin"))
		}
		g.gone, g.ended = true, true
		return append(evs, Event{Type: EventGroupBurned, From: name})
	case format.GenvCommit:
		if draining || !primary {
			return evs // the old epoch's commit was the one we already applied
		}
		if g.cutOff {
			return evs // we never take another commit for the epoch we could not follow
		}
		maxParts := format.MaxCommitParts
		if from.Role != format.RoleAdmin {
			maxParts = maxUpdateParts(l.roster) // a member commits only its own update
		}
		res, whole := g.asm.Add(sender, env, g.nowUnix(), maxParts)
		switch res {
		case format.PartComplete:
			return append(evs, g.applyCommit(whole, sender, name)...)
		case format.PartCorrupt:
			return append(evs, unreadable(&sender, name, "dropped a group commit whose parts do not match its hash"))
		}
	}
	return evs
}

// drainedMember returns the signing key, in the roster cur, of member i of
// the roster prev of the epoch before it, and whether that member is still
// in the group (spec/groups.md §7.2). A member whose update made cur is,
// under its new key: it sends under its old key until it reads its own
// commit back. An update is the one change that gives a member new keys
// and keeps the roster's length (a remove, leave or add changes it, a
// promote or settings change keeps every key), so the same nickname and
// role at the same index, under a key no longer in cur, are that update.
func drainedMember(prev, cur *format.Roster, i int) (crypto.SignPublic, bool) {
	k := prev.Members[i].Sign
	if cur.Index(k) >= 0 {
		return k, true
	}
	if cur.Epoch != prev.Epoch+1 || len(cur.Members) != len(prev.Members) {
		return crypto.SignPublic{}, false
	}
	m, o := &cur.Members[i], &prev.Members[i]
	if m.Nick != o.Nick || m.Role != o.Role || prev.Index(m.Sign) >= 0 {
		return crypto.SignPublic{}, false
	}
	return m.Sign, true
}

// applyCommit verifies a whole commit of another member read from the
// current log and, if it is the first valid one for the next epoch, moves
// to that epoch; a commit of ours still pending then lost, and its intent
// is queued again on top of the new epoch (spec/groups.md §3.4).
func (g *groupState) applyCommit(b []byte, sender crypto.SignPublic, name string) []Event {
	cm, err := format.ParseCommit(b)
	if err != nil {
		return []Event{unreadable(&sender, name, "dropped a malformed group commit")}
	}
	old := g.cur
	next, err := cm.Verify(old.roster, old.epoch.Context())
	if err != nil {
		return []Event{unreadable(&sender, name, "ignored a group commit that does not verify: "+err.Error())}
	}
	var updated crypto.SignPublic
	if cm.Change == format.ChangeUpdate {
		if cm.Signer == old.updatedBy {
			// A member's update right after its own: refused, or a member
			// could keep one at the head of every new log and hold back an
			// admin's change naming it for ever (spec/groups.md §3.6).
			return []Event{unreadable(&sender, name, "ignored a group update commit: its member's previous update made the current epoch")}
		}
		updated = next.Members[format.OperandIndex(cm.Operand)].Sign
	}
	ev := commitEvent(cm, old.roster, next)
	// won runs once the commit is known to be the epoch's: our own
	// pending commit has lost, and intents naming an updater's old key
	// now name its new one.
	won := func() {
		g.losePending()
		if cm.Change == format.ChangeUpdate {
			g.retarget(cm.Signer, updated)
		}
	}
	i := next.Index(g.sign.Public())
	if i < 0 {
		won()
		g.removed, g.removedBy = true, signerNick(old.roster, cm.Signer)
		return []Event{{Type: EventGroupRemoved}}
	}
	if to := g.refusesMove(old.roster, next); to != "" {
		// A move onto a relay only this machine or network reaches, from
		// relays anyone reaches: we do not follow (spec/groups.md §3.5).
		won()
		g.removed, g.removedBy, g.refusedMove = true, signerNick(old.roster, cm.Signer), to
		return append(ev, Event{Type: EventGroupRemoved})
	}
	by := memberName(old.roster, old.roster.Index(cm.Signer))
	secret, err := ratchet.OpenEpochSecret(cm.Sealed, ratchet.EpochContext(next.GroupID, next.Epoch), i, g.seal, &g.kem)
	if err != nil {
		won()
		return g.cutOffFrom(by, next.Epoch)
	}
	defer secret.Wipe()
	if !cm.OpensTo(&secret, next) {
		// Our share opens to another secret than the one the signed
		// commit names: the committer gave us a bad share.
		won()
		return g.cutOffFrom(by, next.Epoch)
	}
	// The secret is the one the commit names, so every member opens the
	// same one: what fails from here on fails for every member alike. The
	// commit itself is bad, and like one that does not verify it is
	// ignored by all, rather than cutting every member off.
	ep, err := newEpoch(g.rcfg, &secret, next, g.sign)
	if err != nil {
		return []Event{unreadable(&sender, name, "ignored a group commit by "+by+" whose new epoch cannot be made")}
	}
	logIDs, err := cm.OpenLogIDs(ep)
	if err != nil {
		return []Event{unreadable(&sender, name, "ignored a group commit by "+by+" whose log is not sealed under its own secret")}
	}
	won()
	nl := groupLog{epoch: ep, roster: next, by: by, conf: format.Confirm(old.conf, cm.NewHash, format.CommitHash(b)), updatedBy: updated}
	nl.setLogs(logIDs)
	g.move(nl)
	return append(ev, Event{Type: EventGroupEpoch, Text: fmt.Sprint(next.Epoch)})
}

// move makes next the current epoch and keeps the old one for draining.
// It tells the old log which epoch we moved to (spec/groups.md §6.6).
func (g *groupState) move(next groupLog) {
	prev := g.cur
	prev.moved = g.nowUnix()
	g.prev = &prev
	g.prevIdle = false
	g.cur = next
	g.asm.Reset()
	g.forkWarned, g.followed = nil, nil
	// Our own update (our key is not in the next roster) always writes
	// it: it closes our old key in the old log (§7.2).
	ours := next.updatedBy != (crypto.SignPublic{}) && next.roster.Index(g.sign.Public()) < 0
	if ours || postsNext(prev.roster, prev.roster.Index(g.sign.Public())) {
		g.note(&prev, format.ConfTag(next.conf))
	}
}

// cutOffFrom marks us cut off from the group: a valid commit for epoch
// by the member called by holds no share we can follow (spec/groups.md
// §6.6). The old log is told, for the members who moved on.
func (g *groupState) cutOffFrom(by string, epoch uint64) []Event {
	g.cutOff, g.cutOffBy = true, by
	g.note(&g.cur, [format.ConfTagSize]byte{})
	return []Event{{Type: EventWarning, From: by, Err: cutOffNotice(by, epoch)}}
}

// cutOffNotice says that a commit by the member called by cut us off.
func cutOffNotice(by string, epoch uint64) string {
	if by == "" {
		by = "a member"
	}
	return fmt.Sprintf("you are cut off from this group: %s's change to epoch %d holds no key this device can use, so it no longer reads the group; ask an admin to add you again", SanitizeLine(by), epoch)
}

// note appends NEXT with tag to log l (spec/groups.md §6.6): sealed in
// l's epoch, on its primary log, where commits travel.
func (g *groupState) note(l *groupLog, tag [format.ConfTagSize]byte) {
	if l.epoch == nil || l.roster == nil {
		return
	}
	pt, err := (&format.GroupEnvelope{Conf: format.ConfTag(l.conf), Type: format.GenvNext, Next: tag}).Marshal()
	if err != nil {
		return
	}
	m, err := l.epoch.Encrypt(pt)
	if err != nil {
		return
	}
	g.queue(l, m)
	g.noted = true
}

// postsNext reports whether member i of roster r appends NEXT when it
// leaves r's epoch (spec/groups.md §6.6): every admin, every member of a
// group of up to nextAll, and in a larger group about nextAll members,
// a different share at each epoch, so that readers check a bounded
// number of entries.
func postsNext(r *format.Roster, i int) bool {
	if i < 0 {
		return false
	}
	n := len(r.Members)
	if n <= nextAll || r.Members[i].Role == format.RoleAdmin {
		return true
	}
	step := uint64(n / nextAll)
	return uint64(i)%step == r.Epoch%step
}

// nextAll bounds the members who append NEXT in a large group (tuning).
const nextAll = 32

// nextEntry handles NEXT from the member called name, read in log l's
// primary log: which epoch the sender moved to, compared with ours
// (spec/groups.md §6.6). Each sender is reported once per epoch.
func (g *groupState) nextEntry(l *groupLog, sender crypto.SignPublic, name string, tag [format.ConfTagSize]byte) []Event {
	if g.forkWarned[sender] || g.cutOff {
		return nil
	}
	var msg string
	switch {
	case tag == [format.ConfTagSize]byte{}:
		// The writer's word alone: a member that did follow (we read it
		// in the new epoch with our tag) is not believed.
		if l != &g.cur && g.followed[sender] {
			return nil
		}
		by := "a member"
		if l != &g.cur && g.cur.by != "" {
			by = g.cur.by
		}
		msg = fmt.Sprintf("%s says it could not follow %s's change to epoch %d and no longer reads this group; if so, an admin should remove %s and add them again", name, by, l.roster.Epoch+1, name)
	case l == &g.cur:
		// The sender read a commit for the next epoch before this entry,
		// in the log's order, and we read none.
		msg = fmt.Sprintf("%s moved to epoch %d by a change this device has not read: the relay may be hiding entries from it; compare veil group verify out of band", name, l.roster.Epoch+1)
	case tag != format.ConfTag(g.cur.conf):
		msg = fmt.Sprintf("%s is on a different branch of this group: it moved to epoch %d by another change than we did; compare veil group verify out of band", name, l.roster.Epoch+1)
	default:
		return nil
	}
	if g.forkWarned == nil {
		g.forkWarned = make(map[crypto.SignPublic]bool)
	}
	g.forkWarned[sender] = true
	return []Event{{Type: EventWarning, From: name, Err: msg}}
}

// newEpoch derives roster r's epoch from its secret, as the member whose
// signing key is self.
func newEpoch(rcfg ratchet.Config, secret *crypto.SymKey, r *format.Roster, self crypto.SignPrivate) (*ratchet.GroupEpoch, error) {
	pubs := make([]crypto.SignPublic, len(r.Members))
	for j, m := range r.Members {
		pubs[j] = m.Sign
	}
	return ratchet.NewGroupEpoch(rcfg, secret, r.GroupID, r.Epoch, self, pubs)
}

// maxUpdateParts is how many parts a member's own update commit can need
// in a group of n: a member who is not an admin may send no longer one.
func maxUpdateParts(r *format.Roster) int {
	n := format.MaxCommitSizeFor(len(r.Members))
	if len(r.Settings.Relays) > 0 {
		n += format.SealedLogsExtra // a version-3 commit's second log (spec/groups.md §6.3)
	}
	return format.CommitPartsFor(n)
}

// drainGrace is how long a member keeps reading the previous epoch's log
// after it moved on (spec/groups.md §7.2): entries that members who had
// not yet read the commit appended there are still read.
const drainGrace = 10 * time.Minute

// drained reports whether nothing of the previous epoch's log is unread.
func (g *groupState) drained() bool { return g.prev == nil || g.prevIdle }

// commitStallAfter is how long a commit may stay incomplete before the
// member is told (spec/groups.md §6.3).
const commitStallAfter = 10 * time.Minute

// stalledCommits warns once about each commit whose parts have not all
// arrived commitStallAfter after the first.
func (g *groupState) stalledCommits() []Event {
	var evs []Event
	now := g.nowUnix()
	for i := range g.asm.List {
		a := &g.asm.List[i]
		if a.Warned || now-a.First < int64(commitStallAfter/time.Second) {
			continue
		}
		a.Warned = true
		nick := "a member"
		if k, err := crypto.ParseSignPublic(a.Sender); err == nil {
			if j := g.cur.roster.Index(k); j >= 0 {
				nick = g.cur.name(j)
			}
		}
		evs = append(evs, Event{Type: EventGroupStalled, From: nick,
			Err: fmt.Sprintf("a change to the group by %s is incomplete: %d of %d parts after %s; the group stays in its epoch until the rest arrives", nick, a.Have(), len(a.Parts), FormatDuration(time.Duration(now-a.First)*time.Second))})
	}
	return evs
}

// commitEvent describes a commit's change (spec/groups.md §14.3): a
// member left only by a leave change; a remove names the admin who signed
// it, as do an add and a promote. Names carry a key suffix where another
// member's nickname looks alike.
func commitEvent(cm *format.Commit, old, next *format.Roster) []Event {
	by := memberName(old, old.Index(cm.Signer))
	switch cm.Change {
	case format.ChangeAdd:
		return []Event{{Type: EventGroupJoined, From: memberName(next, len(next.Members)-1), By: by}}
	case format.ChangeRemove, format.ChangeLeave, format.ChangePromote:
		nick := memberName(old, format.OperandIndex(cm.Operand))
		switch cm.Change {
		case format.ChangeRemove:
			return []Event{{Type: EventGroupRemoved, From: nick, By: by}}
		case format.ChangeLeave:
			return []Event{{Type: EventGroupLeft, From: nick}}
		}
		return []Event{{Type: EventGroupPromote, From: nick, By: by}}
	case format.ChangeSettings:
		if !sameRelays(old.Settings.Relays, next.Settings.Relays) {
			return []Event{{Type: EventGroupRelays, Text: relaysText(next.Settings.Relays), By: by}}
		}
	}
	return nil
}

// unreadable is the warning for one log entry that could not be used: it
// does not authenticate (sender nil), or its signed content is malformed
// or not allowed. foldUnreadable merges those of one sender.
func unreadable(sender *crypto.SignPublic, name, why string) Event {
	ev := Event{Type: EventWarning, Err: why, unread: 1, unreadWhy: why}
	if sender != nil {
		ev.From, ev.unreadKey = name, string(sender[:])
	}
	return ev
}

// foldUnreadable merges the warnings about entries that could not be
// used into one per sender (and one for the entries no member signed),
// at the place of the first, with their count (spec/groups.md §6.2): a
// member writing garbage to the log costs its readers one warning per
// read, not one per entry. Folding folded events again adds their counts.
func foldUnreadable(evs []Event) []Event {
	var first map[string]int
	out := evs[:0]
	for _, ev := range evs {
		if ev.unread == 0 {
			out = append(out, ev)
			continue
		}
		if i, ok := first[ev.unreadKey]; ok {
			out[i].unread += ev.unread
			continue
		}
		if first == nil {
			first = make(map[string]int)
		}
		first[ev.unreadKey] = len(out)
		out = append(out, ev)
	}
	for i := range out {
		if ev := &out[i]; ev.unread > 1 {
			if ev.unreadKey == "" {
				ev.Err = fmt.Sprintf("%d entries that do not authenticate were dropped from this group's log", ev.unread)
			} else {
				ev.Err = fmt.Sprintf("%d entries from %s could not be read and were dropped (the first: %s)", ev.unread, ev.From, ev.unreadWhy)
			}
		}
	}
	return out
}
