package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
	"veil/relay/conn"
	"veil/vault"
)

// The engine's groups (spec/groups.md): each group is a chat of kind
// vault.ChatGroup and a vault group record holding the groupState below,
// loaded, moved by one operation and stored again under e.groups.mu.

// groupRecord is the vault's group record (JSON, sealed by the vault).
type groupRecord struct {
	V     int    `json:"v"`
	Relay string `json:"relay"`
	// Relays are the current epoch's relays of a group that names them
	// (spec/groups.md §3.5), kept so that no relay a group uses is removed.
	Relays  []string               `json:"relays,omitempty"`
	Sign    []byte                 `json:"sign"` // signing seed (secret)
	Seal    []byte                 `json:"seal"` // X25519 sealing key (secret)
	Kem     []byte                 `json:"kem"`  // ML-KEM-768 sealing key seed (secret)
	TTL     int64                  `json:"ttl"`
	Nick    string                 `json:"nick"`
	Cur     *logRecord             `json:"cur,omitempty"`
	Prev    *logRecord             `json:"prev,omitempty"`
	Intents []groupIntent          `json:"intents,omitempty"`  // roster changes waiting to be committed
	Pending *pendingCommit         `json:"pending,omitempty"`  // our commit, not yet read back
	Asm     format.CommitAssembler `json:"asm"`                // commits read in part
	Invites []groupInviteRec       `json:"invites,omitempty"`  // admin: open invites
	Join    *groupInviteRec        `json:"join,omitempty"`     // joiner: waiting for the welcome
	DropLog *groupInviteRec        `json:"drop_log,omitempty"` // joiner: the exchange log to delete
	Out     []pendingAppend        `json:"out,omitempty"`      // sealed entries not yet appended
	Updated int64                  `json:"updated"`            // when we last replaced our keys (Unix seconds)
	Sent    int                    `json:"sent"`               // our messages since
	Mine    [][]byte               `json:"mine,omitempty"`     // hashes of our latest entries
	Rosters []string               `json:"rosters,omitempty"`  // vault IDs of the rosters stored apart (putGroup)
	// CutOff: we read a valid commit we could not follow (spec/groups.md
	// §6.6); CutOffBy is its signer's display name.
	CutOff   bool   `json:"cut_off,omitempty"`
	CutOffBy string `json:"cut_off_by,omitempty"`
}

type logRecord struct {
	Epoch  []byte `json:"epoch"`
	Roster []byte `json:"roster"`
	ID     []byte `json:"id"`
	Cursor uint64 `json:"cursor"`
	Conf   []byte `json:"conf"`
	Moved  int64  `json:"moved,omitempty"`
	By     string `json:"by,omitempty"` // who signed the commit that made the epoch
	// UpdatedBy is the key of the member whose update made the epoch (§3.6).
	UpdatedBy []byte `json:"updated_by,omitempty"`
	// UpdaterNext: that member's NEXT under its old key was read in this
	// log while it was drained (§7.2).
	UpdaterNext bool `json:"updater_next,omitempty"`
	// Side are the epoch's logs on the group's other relays (§3.5).
	Side []sideLogRec `json:"side,omitempty"`
	// RosterHash names the roster; Roster is empty when the roster is
	// stored apart (putGroup).
	RosterHash []byte         `json:"rh"`
	parsed     *format.Roster // Roster parsed, from the engine's cache
}

// groupInviteRec is an open group invite: its exchange log and the keys
// derived from the invite secret (spec/groups.md §9).
type groupInviteRec struct {
	LogID  []byte    `json:"log"`
	Secret []byte    `json:"secret"` // the invite secret (secret)
	Salt   []byte    `json:"salt"`
	Until  time.Time `json:"until"`
	// Created is when we made the invite (zero for one made before it
	// was kept).
	Created time.Time `json:"created,omitzero"`
	Cursor  uint64    `json:"cursor"`
	Token   []byte    `json:"token,omitempty"` // admin: the join token (secret)
	// Exchange is the blob's exchange secret (secret), which keys the
	// entries of the exchange log (spec/groups.md §9.2); an invite made
	// before blobs carried one has none.
	Exchange []byte `json:"exchange,omitempty"`
	Served   bool   `json:"served,omitempty"` // admin: welcomed; kept for its alarm
	// Answered: a join request was read; the invite waits for its add
	// commit to win, then sends the welcome (Served).
	Answered bool `json:"answered,omitempty"`
	// AlarmLog and AlarmRead are the invite's leak alarm log and its read
	// capability (secret), spec/client.md §4.4.
	AlarmLog  []byte `json:"alarm_log,omitempty"`
	AlarmRead []byte `json:"alarm_read,omitempty"`
	// Relay holds the invite's logs in a group that names its relays:
	// the primary when it was made (spec/groups.md §3.5).
	Relay string `json:"relay,omitempty"`
}

const groupRecordV = 2

func (l *groupLog) record() *logRecord {
	if l.rb == nil {
		l.rb, _ = l.roster.Marshal()
		l.rh, _ = l.roster.Hash()
	}
	r := &logRecord{Epoch: l.epoch.Marshal(), Roster: l.rb, RosterHash: bytes.Clone(l.rh[:]),
		ID: l.id[:], Cursor: l.cursor, Conf: bytes.Clone(l.conf[:]), Moved: l.moved, By: l.by, Side: l.sideRecords(), UpdaterNext: l.updaterNext}
	if l.updatedBy != (crypto.SignPublic{}) {
		r.UpdatedBy = bytes.Clone(l.updatedBy[:])
	}
	return r
}

func (r *logRecord) load(rcfg ratchet.Config) (*groupLog, error) {
	ep, err := ratchet.UnmarshalGroupEpoch(rcfg, r.Epoch)
	if err != nil {
		return nil, err
	}
	ro := r.parsed
	if ro == nil {
		var err error
		if ro, err = format.LoadRoster(r.Roster); err != nil {
			return nil, err
		}
	}
	id, err := crypto.ParseID(r.ID)
	if err != nil {
		return nil, err
	}
	if len(r.Conf) != crypto.HashSize {
		return nil, errors.New("client: corrupt group record")
	}
	side, err := loadSideLogs(r.Side)
	if err != nil {
		return nil, err
	}
	l := &groupLog{epoch: ep, roster: ro, id: id, cursor: r.Cursor, moved: r.Moved, by: r.By, rb: r.Roster, side: side, updaterNext: r.UpdaterNext}
	if r.UpdatedBy != nil {
		if l.updatedBy, err = crypto.ParseSignPublic(r.UpdatedBy); err != nil {
			return nil, err
		}
	}
	copy(l.conf[:], r.Conf)
	if copy(l.rh[:], r.RosterHash) != crypto.HashSize {
		l.rh, _ = ro.Hash()
	}
	return l, nil
}

// loadGroup parses a stored record whose rosters are inline.
func loadGroup(rcfg ratchet.Config, b []byte) (*groupState, *groupRecord, error) {
	return loadGroupWith(rcfg, b, nil)
}

// loadGroupWith parses a stored record, reading each roster stored as a
// record of its own (putGroup) with roster.
func loadGroupWith(rcfg ratchet.Config, b []byte, roster func(hash []byte) ([]byte, *format.Roster, error)) (*groupState, *groupRecord, error) {
	var rec groupRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, nil, errors.New("client: corrupt group record")
	}
	for _, l := range []*logRecord{rec.Cur, rec.Prev, pendingNext(rec.Pending)} {
		if l == nil || l.Roster != nil || roster == nil {
			continue
		}
		rb, ro, err := roster(l.RosterHash)
		if err != nil {
			return nil, nil, fmt.Errorf("client: corrupt group record: its roster: %w", err)
		}
		l.Roster, l.parsed = rb, ro
	}
	if rec.V != groupRecordV {
		return nil, nil, errOldGroup
	}
	sign, err := crypto.ParseSignPrivate(rec.Sign)
	if err != nil {
		return nil, nil, errors.New("client: corrupt group record")
	}
	seal, err := crypto.ParseDHPrivate(rec.Seal)
	if err != nil {
		return nil, nil, errors.New("client: corrupt group record")
	}
	kem, err := crypto.ParseKEM768Private(rec.Kem)
	if err != nil {
		return nil, nil, errors.New("client: corrupt group record")
	}
	g := &groupState{rcfg: rcfg, sign: sign, seal: seal, kem: kem, ttl: time.Duration(rec.TTL) * time.Second}
	if rec.Cur != nil {
		l, err := rec.Cur.load(rcfg)
		if err != nil {
			return nil, nil, fmt.Errorf("client: corrupt group record: %w", err)
		}
		g.cur = *l
	}
	if rec.Prev != nil {
		if g.prev, err = rec.Prev.load(rcfg); err != nil {
			return nil, nil, fmt.Errorf("client: corrupt group record: %w", err)
		}
	}
	g.out, g.intents, g.pending, g.asm = rec.Out, rec.Intents, rec.Pending, rec.Asm
	g.updated, g.sent, g.mine = rec.Updated, rec.Sent, rec.Mine
	g.cutOff, g.cutOffBy = rec.CutOff, rec.CutOffBy
	return g, &rec, nil
}

// pendingNext is the epoch record a pending commit would make, or nil.
func pendingNext(p *pendingCommit) *logRecord {
	if p == nil {
		return nil
	}
	return p.Next
}

// rosterID is the vault ID under which a group's roster of hash h is
// stored, apart from the group's state (spec/vault.md §6.6): a roster of
// 1,000 members is 1.3 MB, written once per epoch rather than at every
// send and receive.
func rosterID(gid string, h []byte) string { return gid + "~r" + hex.EncodeToString(h) }

// isRosterID tells a stored roster from a group's state among tx.Groups.
func isRosterID(id string) bool { return strings.Contains(id, "~r") }

// loadGroup loads group gid's stored state grp, taking its rosters from
// the engine's cache when it holds them.
func (e *Engine) loadGroup(tx *vault.Tx, gid string, grp *vault.Group) (*groupState, *groupRecord, error) {
	return loadGroupWith(e.rcfg, grp.State, func(h []byte) ([]byte, *format.Roster, error) {
		id := rosterID(gid, h)
		if c, ok := e.rosters.get(id); ok {
			return c.rb, c.ro, nil
		}
		r, err := tx.Group(id)
		if err != nil {
			return nil, nil, err
		}
		ro, err := format.LoadRoster(r.State)
		if err != nil {
			return nil, nil, err
		}
		e.rosters.put(id, cachedRoster{rb: r.State, ro: ro})
		return r.State, ro, nil
	})
}

// rosterCache keeps the latest stored rosters read, by vault ID. A stored
// roster never changes under its ID (the ID names its hash), so a cached
// one is never stale; the cache spares a large group's every operation
// reading and decrypting 1.3 MB. It holds public keys and nicknames.
type rosterCache struct {
	mu sync.Mutex
	m  map[string]cachedRoster
}

// cachedRoster is a stored roster and its parsed form, which no one
// changes (a commit makes a new roster).
type cachedRoster struct {
	rb []byte
	ro *format.Roster
}

// rosterCacheSize bounds the cache (tuning).
const rosterCacheSize = 16

func (c *rosterCache) get(id string) (cachedRoster, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[id]
	return r, ok
}

func (c *rosterCache) put(id string, r cachedRoster) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= rosterCacheSize {
		c.m = map[string]cachedRoster{}
	}
	c.m[id] = r
}

// putGroup stores g as group gid's state in tx: each roster it refers to
// as a record of its own, written when first referred to and deleted when
// no longer referred to.
func putGroup(tx *vault.Tx, gid string, g *groupState, rec *groupRecord) error {
	g.fill(rec)
	keep := map[string]bool{}
	for _, l := range []*logRecord{rec.Cur, rec.Prev, pendingNext(rec.Pending)} {
		if l == nil || l.Roster == nil {
			continue
		}
		id := rosterID(gid, l.RosterHash)
		if !keep[id] && !slices.Contains(rec.Rosters, id) {
			if err := tx.PutGroup(&vault.Group{ID: id, State: l.Roster}); err != nil {
				return err
			}
		}
		keep[id] = true
		l.Roster = nil
	}
	for _, id := range rec.Rosters {
		if !keep[id] {
			if err := tx.DeleteGroup(id); err != nil && !errors.Is(err, vault.ErrNotFound) {
				return err
			}
		}
	}
	rec.Rosters = slices.Sorted(maps.Keys(keep))
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return tx.PutGroup(&vault.Group{ID: gid, State: b})
}

// deleteGroup erases group gid's state and its stored rosters.
func deleteGroup(tx *vault.Tx, gid string) error {
	if grp, err := tx.Group(gid); err == nil {
		var rec struct {
			Rosters []string `json:"rosters"`
		}
		if json.Unmarshal(grp.State, &rec) == nil {
			for _, id := range rec.Rosters {
				if err := tx.DeleteGroup(id); err != nil && !errors.Is(err, vault.ErrNotFound) {
					return err
				}
			}
		}
	}
	return tx.DeleteGroup(gid)
}

// save writes g back into rec and encodes it, rosters inline.
func (g *groupState) save(rec *groupRecord) ([]byte, error) {
	g.fill(rec)
	return json.Marshal(rec)
}

// fill writes g back into rec.
func (g *groupState) fill(rec *groupRecord) {
	rec.V = groupRecordV
	rec.Relays = nil
	if g.cur.roster != nil {
		for k := range g.cur.roster.Settings.Relays {
			rec.Relays = append(rec.Relays, g.cur.relay(k))
		}
	}
	rec.Sign, rec.Seal, rec.Kem = g.sign.Seed(), g.seal.Bytes(), g.kem.Seed()
	rec.TTL = int64(g.ttl / time.Second)
	rec.Cur, rec.Prev, rec.Out = nil, nil, g.out
	rec.Intents, rec.Pending, rec.Asm = g.intents, nil, g.asm
	rec.Updated, rec.Sent, rec.Mine = g.updated, g.sent, g.mine
	rec.CutOff, rec.CutOffBy = g.cutOff, g.cutOffBy
	if g.pending != nil {
		// A copy: putGroup takes the roster out of the stored record,
		// not out of the state.
		p := *g.pending
		if p.Next != nil {
			n := *p.Next
			p.Next = &n
		}
		rec.Pending = &p
	}
	if g.cur.epoch != nil {
		rec.Cur = g.cur.record()
	}
	if g.prev != nil {
		rec.Prev = g.prev.record()
	}
}

// GroupOptions are the options of GroupCreate.
type GroupOptions struct {
	Name    string        // the group's name, seen by every member
	As      string        // our nickname in the group; random when empty
	Timer   time.Duration // disappearing timer for every member's copy
	Expires time.Duration // the group's lifetime from now; zero = none
	Relay   string        // the relay holding the group's logs; the default when empty
	// Relays, when given, are the group's relays, the primary first (at
	// most two, spec/groups.md §3.5); Relay is then ignored.
	Relays []string
}

// GroupCreate creates a group with us as its only member and admin
// (spec/groups.md §3) and returns its chat ID.
func (e *Engine) GroupCreate(ctx context.Context, opt GroupOptions) (string, error) {
	if opt.Name == "" || len(opt.Name) > format.MaxGroupName || !utf8.ValidString(opt.Name) {
		return "", badInput("a group name is 1 to %d bytes of UTF-8", format.MaxGroupName)
	}
	if opt.Timer < 0 || opt.Timer > maxTTL || opt.Expires < 0 {
		return "", badInput("timer and lifetime must be positive")
	}
	nick, err := e.groupNick(opt.As)
	if err != nil {
		return "", err
	}
	var relays []string
	if len(opt.Relays) > 1 {
		// Two relays: the roster names them (spec/groups.md §3.5).
		if relays, err = e.groupRelays(ctx, opt.Relays); err != nil {
			return "", err
		}
		opt.Relay = relays[0]
	} else if len(opt.Relays) == 1 {
		opt.Relay = opt.Relays[0]
	}
	addr, err := e.pickRelay(ctx, opt.Relay) // the group's relay, spec/groups.md §3.5
	if err != nil {
		return "", err
	}
	c, err := e.pool.get(ctx, addr)
	if err != nil {
		return "", err
	}
	var pws groupPasswords
	err = e.v.View(ctx, func(tx *vault.Tx) error {
		pws = loadGroupPasswords(tx, addr, relays)
		return nil
	})
	if err != nil {
		return "", err
	}
	now := e.now()
	s := format.Settings{Name: opt.Name, Timer: uint32(opt.Timer / time.Second), Relays: relays}
	var deadline time.Time
	if opt.Expires > 0 {
		deadline = now.Add(opt.Expires).Truncate(time.Second)
		s.Deadline = uint64(deadline.Unix())
	}
	g, err := createGroup(ctx, c, e.rcfg, nick, s, 0, pws, e.groupDial(addr, c))
	if err != nil {
		return "", relayCause(addr, err)
	}
	id, err := e.shortID()
	if err != nil {
		return "", err
	}
	rec := &groupRecord{Relay: addr, Nick: nick}
	err = e.v.Update(ctx, func(tx *vault.Tx) error {
		if err := pws.save(tx); err != nil {
			return err
		}
		if err := putGroup(tx, id, g, rec); err != nil {
			return err
		}
		return tx.PutChat(&vault.Chat{ID: id, Kind: vault.ChatGroup, GroupID: id, Name: opt.Name, GroupName: opt.Name,
			MessageTTL: opt.Timer, Deadline: deadline, Created: now, LastActive: now})
	})
	if err != nil {
		return "", err
	}
	e.groupsChanged()
	return id, nil
}

func (e *Engine) groupNick(as string) (string, error) {
	if as == "" {
		return e.randomNick()
	}
	if err := format.CheckGroupNick(as); err != nil || SanitizeLine(as) != as {
		return "", badInput("a group nickname is 1 to %d bytes of printable text", format.MaxGroupNick)
	}
	if !HasVisible(as) {
		return "", errBlankNick
	}
	if format.NickMixesScripts(as) {
		return "", errMixedNick // spec/groups.md §14.1
	}
	if nickHasHash(as) {
		return "", errHashNick // spec/groups.md §14.1
	}
	return as, nil
}

// errOldGroup is a group record of an earlier protocol version.
var errOldGroup = errors.New("client: this group was made by an older veil; ask an admin for a new invite")

// errNotGroup is returned for a group command on a 1:1 chat.
var errNotGroup = badInput("not a group")

// withGroup loads the group ref names, connects to its relay, runs f and
// stores the result, all under the engine's group lock. The state is
// stored even when f fails, since a failed operation may already have
// moved it (a commit whose later parts failed to upload). When f leaves
// the group gone, the group and its chat are erased.
func (e *Engine) withGroup(ctx context.Context, ref string, f func(g *groupState, rec *groupRecord, c *conn.Conn, chat *vault.Chat) ([]Event, error)) error {
	e.groups.Lock()
	defer e.groups.Unlock()
	var chat vault.Chat
	var g *groupState
	var rec *groupRecord
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		var grp vault.Group
		var err error
		if chat, grp, err = groupOf(tx, ref); err != nil {
			return err
		}
		if g, rec, err = e.loadGroup(tx, chat.GroupID, &grp); err != nil {
			return err
		}
		g.pws = loadGroupPasswords(tx, rec.Relay, g.cur.relays())
		return nil
	})
	if err != nil {
		return err
	}
	g.holds = &e.holds
	// Our queued messages, marked sent once their entries leave the queue.
	queued := outMessages(g.out)
	defer func() { e.groupSent(ctx, chat.ID, queued, g.out) }()
	// The primary relay; a group on two keeps working without it
	// (spec/groups.md §3.5).
	rec.Relay = primaryOf(g, rec)
	c, err := e.pool.get(ctx, rec.Relay)
	if err != nil && !g.multiRelay() {
		return err
	}
	g.relays = e.groupDial(rec.Relay, c)
	defer func() { e.emitAll(ctx, &chat, e.downEvents(g)) }()
	// Entries a crash or a dropped connection left queued stay first in
	// the queue, so the log keeps our order; they go out after f, once f
	// has read the log and a message queued in an epoch since left is
	// sealed again in the current one (reseal).
	g.deferUploads = true
	evs, ferr := f(g, rec, c, &chat)
	if err := g.reseal(); err != nil {
		ferr = errors.Join(ferr, err)
	}
	queued = append(queued, outMessages(g.out)...)
	if g.gone && len(g.out) > 0 {
		// A LEAVE or BURN must reach the relay before the group (and the
		// keys to re-send it) is erased; if it cannot, nothing is erased.
		if err := g.flushOut(ctx, c); err != nil {
			g.gone = false
			ferr = errors.Join(ferr, err)
		}
	}
	if err := e.storeGroup(ctx, g, rec, &chat, evs); err != nil {
		return err
	}
	if !g.gone && !g.removed && len(g.out) > 0 {
		// Stored first, uploaded now: a crash in between re-sends.
		if err := g.flushOut(ctx, c); err != nil {
			ferr = errors.Join(ferr, err)
		}
		if err := e.storeGroup(ctx, g, rec, &chat, nil); err != nil {
			return err
		}
	}
	if ferr != nil && isConnErr(ferr) && c != nil {
		e.pool.drop(rec.Relay, c)
	}
	return relayCause(rec.Relay, ferr)
}

// storeGroup stores g and the messages among evs in one transaction and
// emits evs; a group that is gone is erased instead.
func (e *Engine) storeGroup(ctx context.Context, g *groupState, rec *groupRecord, chat *vault.Chat, evs []Event) error {
	now := e.now()
	evs = foldUnreadable(evs) // one warning per sender for the reads of this operation
	if !g.gone && rec.Join != nil && !now.Before(rec.Join.Until) {
		g.gone = true // the welcome never came in time
		evs = append(evs, Event{Type: EventInviteExpired})
	}
	if !g.gone && g.cur.roster != nil && g.cur.roster.Settings.Deadline != 0 && now.Unix() >= int64(g.cur.roster.Settings.Deadline) {
		g.gone, g.ended = true, true
		evs = append(evs, Event{Type: EventChatExpired})
	}
	for i := range evs {
		evs[i].Chat, evs[i].Name = chat.ID, SanitizeLine(chat.Name)
	}
	if g.removed && !g.gone {
		return e.storeRemoved(ctx, g, chat, evs)
	}
	if g.gone {
		err := e.v.Update(ctx, func(tx *vault.Tx) error {
			// Our files' chunks go from the group's relay (cdel); when
			// the group itself ends, every file's chunks we know of go,
			// so an offline sender's stay no longer (spec/files.md §8).
			// The group record names the relays: read before it goes.
			fts, err := groupFileTasks(tx, chat, g.ended)
			if err != nil {
				return err
			}
			if err := deleteGroup(tx, chat.GroupID); err != nil && !errors.Is(err, vault.ErrNotFound) {
				return err
			}
			if err := deleteMeta(tx, chat.ID); err != nil {
				return err
			}
			return addTasks(tx, fts...)
		})
		if err != nil {
			return err
		}
		e.cancelTransfers(chat.ID) // not waited for: an upload's end takes e.groups
		if err := e.v.DeleteChat(ctx, chat.ID); err != nil && !errors.Is(err, vault.ErrNotFound) {
			return err
		}
		for _, ev := range evs {
			e.emit(ctx, ev)
		}
		return nil
	}
	var warns []Event
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		if err := g.pws.save(tx); err != nil {
			return err
		}
		if err := putGroup(tx, chat.GroupID, g, rec); err != nil {
			return err
		}
		c, err := tx.Chat(chat.ID)
		if err != nil {
			return err
		}
		if g.cur.roster != nil {
			oldTTL := c.MessageTTL
			if ev, ok := applySettings(&c, g.cur.roster.Settings); ok {
				evs = append(evs, ev)
			}
			if c.MessageTTL != oldTTL {
				if err := e.groupTimerLine(tx, &c, now); err != nil { // spec/groups.md §6.3
					return err
				}
			}
		}
		if warns, err = e.putGroupMessages(tx, &c, evs, now); err != nil {
			return err
		}
		*chat = c
		return tx.PutChat(&c)
	})
	if err != nil {
		return err
	}
	e.kickTransfers() // files within the auto-download limit
	for _, ev := range append(evs, warns...) {
		e.emit(ctx, ev)
	}
	return nil
}

// EventGroupSettings reports that an admin changed the group's name,
// timer or deadline (spec/groups.md §7.5); Text says how they are now.
const EventGroupSettings EventType = "group_settings"

// applySettings copies a roster's settings into the group's chat record
// and reports a change of name, timer or deadline as an event. The
// group's name is the chat's name only while the user gave it none
// (spec/client.md §4.7).
func applySettings(c *vault.Chat, s format.Settings) (Event, bool) {
	ttl := time.Duration(s.Timer) * time.Second
	var deadline time.Time
	if s.Deadline != 0 {
		deadline = time.Unix(int64(s.Deadline), 0)
	}
	if c.GroupName == "" && c.Name != "" && c.Name != s.Name && c.Name != SanitizeLine(s.Name) {
		// A record from before GroupName, whose name was set to the
		// roster's at every store: one that differs is the user's.
		c.NameLocal = true
	}
	renamed := c.GroupName != "" && c.GroupName != s.Name
	changed := renamed || c.MessageTTL != ttl || !c.Deadline.Equal(deadline)
	c.GroupName, c.MessageTTL, c.Deadline = s.Name, ttl, deadline
	if !c.NameLocal {
		c.Name = s.Name
	}
	if !changed {
		return Event{}, false
	}
	text := describeSettings(ttl, deadline)
	if renamed {
		text = "renamed to \"" + SanitizeLine(s.Name) + "\"; " + text
	}
	return Event{Type: EventGroupSettings, Chat: c.ID, Name: SanitizeLine(c.Name), Text: text}, true
}

// describeSettings says in words what a group's timer and deadline are.
func describeSettings(ttl time.Duration, deadline time.Time) string {
	t := "timer off"
	if ttl > 0 {
		t = "timer " + FormatDuration(ttl)
	}
	if deadline.IsZero() {
		return t + "; no deadline"
	}
	return t + "; erased at " + deadline.UTC().Format(time.RFC3339)
}

// putGroupMessages stores the messages among evs in chat c, each with a
// fresh local ID (spec/groups.md §6.5). A message disappears after the
// group's timer or the shorter timer its sender gave it (§6.3).
// It returns the warnings that auto-download paused for the disk
// (spec/client.md §5.16), for the caller to emit after the commit.
func (e *Engine) putGroupMessages(tx *vault.Tx, c *vault.Chat, evs []Event, now time.Time) ([]Event, error) {
	var warns []Event
	// One index of the chat's wire IDs for the whole batch, built at the
	// first reaction: a batch of reactions opens the chat's messages once.
	ix := &targetIndex{tx: tx, chat: c.ID}
	for i := range evs {
		if evs[i].Type == EventGroupRelays {
			if err := e.groupRelaysLine(tx, c, &evs[i], now); err != nil {
				return nil, err
			}
			continue
		}
		if evs[i].Type == EventReaction {
			if err := groupReaction(ix, &evs[i]); err != nil {
				return nil, err
			}
			continue
		}
		if evs[i].Type != EventMessage {
			continue
		}
		id, err := e.newID()
		if err != nil {
			return nil, err
		}
		sent, unsure := sentTime(evs[i].wire, now, c.Created) // spec/groups.md §6.3
		m := vault.Message{ID: id, ChatID: c.ID, Direction: vault.Incoming, Sender: evs[i].From,
			Body: []byte(evs[i].Text), Sent: sent, Received: now, Status: vault.StatusDelivered}
		setMeta(&m, &msgMeta{Wire: hex.EncodeToString(evs[i].wire[:]), Reply: evs[i].reply, SentUnsure: unsure})
		if ttl := shorterTTL(c.MessageTTL, evs[i].ttl); ttl > 0 {
			m.Expires = now.Add(ttl)
		}
		ix.put(&m)
		if evs[i].isFile {
			warn, err := e.groupFile(tx, c, &m, &evs[i])
			if err != nil {
				return nil, err
			}
			if warn != "" {
				warns = append(warns, Event{Type: EventWarning, Chat: c.ID, Name: SanitizeLine(c.Name), Message: id, Err: warn})
			}
		} else if err := tx.PutMessage(&m); err != nil {
			return nil, err
		}
		evs[i].Message, evs[i].Sent = id, sent
		c.Unread++
		c.LastActive = now
	}
	return warns, nil
}

// shorterTTL is the shorter of two timers, zero meaning none.
func shorterTTL(a, b time.Duration) time.Duration {
	if a == 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

// groupSend seals one TEXT for the group's current log and queues it,
// with the message (pending), in one transaction, as for a 1:1 message
// (spec/client.md §7.3); then Run's group loop, or without Run one try
// here, appends it (one upload, spec/groups.md §6.2). An entry the relay
// did not take stays queued for the next GroupSync or Flush that reaches
// the relay; the message is marked sent once the relay has it.
func (e *Engine) groupSend(ctx context.Context, ref, text string, opt SendOptions) (string, error) {
	ttl := opt.TTL
	if len(text) > MaxGroupText { // spec/groups.md §6.3
		return "", tooLong(len(text), MaxGroupText)
	}
	if opt.Reply != "" && len(text) > MaxGroupReplyText {
		return "", tooLong(len(text), MaxGroupReplyText)
	}
	id, err := e.newID()
	if err != nil {
		return "", err
	}
	e.groups.Lock()
	var chatID string
	err = e.v.Update(ctx, func(tx *vault.Tx) error {
		chat, grp, err := groupOf(tx, ref)
		if err != nil {
			return err
		}
		chatID = chat.ID
		g, rec, err := e.loadGroup(tx, chat.GroupID, &grp)
		if err != nil {
			return err
		}
		if g.cur.epoch == nil {
			return ErrGroupWaiting
		}
		if err := restoredGroup(tx, chat.ID, g); err != nil {
			return err
		}
		ttl = shorterTTL(chat.MessageTTL, ttl)
		w, _ := outgoingWireID(id)
		env := &format.GroupEnvelope{Type: format.GenvText, ID: w, TTL: uint32((ttl + time.Second - 1) / time.Second), Text: text}
		var mm msgMeta
		if opt.Reply != "" {
			target, err := replyTarget(tx, chat.ID, opt.Reply)
			if err != nil {
				return err
			}
			env.Type, env.Target, mm.Reply = format.GenvReply, target, hex.EncodeToString(target[:])
		}
		g.deferUploads = true
		if err := g.append(ctx, nil, env); err != nil {
			return err
		}
		g.out[len(g.out)-1].Msg = id
		if err := putGroup(tx, chat.GroupID, g, rec); err != nil {
			return err
		}
		now := e.now()
		m := vault.Message{ID: id, ChatID: chat.ID, Direction: vault.Outgoing, Body: []byte(text), Sent: now, Status: vault.StatusPending}
		setMeta(&m, &mm)
		if ttl > 0 {
			m.Expires = now.Add(ttl) // the sender's copy counts from send
		}
		chat.LastActive = now
		if err := tx.PutMessage(&m); err != nil {
			return err
		}
		return tx.PutChat(&chat)
	})
	e.groups.Unlock()
	if err != nil {
		return "", err
	}
	e.emit(ctx, Event{Type: EventStatus, Chat: chatID, Message: id, Status: statusName(vault.StatusPending)})
	e.mu.Lock()
	running := e.groupKick != nil
	e.mu.Unlock()
	if running {
		e.groupsChanged() // Run's group loop appends it
		return id, nil
	}
	// Without Run, try once now; a failure leaves it queued for the next
	// sync or Flush, and the message pending.
	_ = e.withGroup(ctx, chatID, func(*groupState, *groupRecord, *conn.Conn, *vault.Chat) ([]Event, error) { return nil, nil })
	return id, nil
}

// groupOf resolves ref to a group chat and its group record. A group we
// were removed from has a chat but no record: its error says so.
func groupOf(tx *vault.Tx, ref string) (vault.Chat, vault.Group, error) {
	chat, err := resolveChat(tx, ref)
	if err != nil {
		return chat, vault.Group{}, err
	}
	grp, err := groupIn(tx, &chat)
	return chat, grp, err
}

// groupIn is groupOf for a chat already resolved.
func groupIn(tx *vault.Tx, chat *vault.Chat) (vault.Group, error) {
	if chat.Kind != vault.ChatGroup {
		return vault.Group{}, errNotGroup
	}
	if err := removedErr(tx, chat); err != nil {
		return vault.Group{}, err
	}
	return tx.Group(chat.GroupID)
}

// outMessages lists the chat messages that queued entries carry.
func outMessages(out []pendingAppend) []string {
	var ids []string
	for _, p := range out {
		if p.Msg != "" {
			ids = append(ids, p.Msg)
		}
	}
	return ids
}

// groupSent marks as sent each of our messages among ids whose entry is no
// longer queued in out: the relay has it.
func (e *Engine) groupSent(ctx context.Context, chat string, ids []string, out []pendingAppend) {
	left := map[string]bool{}
	for _, id := range outMessages(out) {
		left[id] = true
	}
	var evs []Event
	_ = e.v.Update(ctx, func(tx *vault.Tx) error {
		evs = nil
		for _, id := range ids {
			if left[id] {
				continue
			}
			var ev *Event
			it := vault.OutboxItem{ChatID: chat, MessageID: id}
			if err := e.setStatus(tx, &it, vault.StatusSent, &ev); err != nil {
				return err
			}
			if ev != nil {
				evs = append(evs, *ev)
			}
		}
		return nil
	})
	for _, ev := range evs {
		e.emit(ctx, ev)
	}
}

// MemberInfo is one group member for display; Nick is sanitised. Key is
// the first hex digits of the member's signing key; Name is how to show
// the member: Nick, or Nick#Key when another member's nickname looks
// alike (spec/groups.md §14.2). Group commands take either.
type MemberInfo struct {
	Nick  string `json:"nick"`
	Key   string `json:"key"`
	Name  string `json:"name"`
	Admin bool   `json:"admin,omitempty"`
	You   bool   `json:"you,omitempty"`
}

// GroupMembers lists the group's current roster.
func (e *Engine) GroupMembers(ctx context.Context, ref string) ([]MemberInfo, uint64, error) {
	var out []MemberInfo
	var epoch uint64
	err := e.withGroupOffline(ctx, ref, func(g *groupState) error {
		if g.cur.roster == nil {
			return ErrGroupWaiting
		}
		epoch = g.cur.roster.Epoch
		names := memberNames(g.cur.roster)
		for i, m := range g.cur.roster.Members {
			out = append(out, MemberInfo{Nick: SanitizeLine(m.Nick), Key: memberKey(m.Sign), Name: names[i],
				Admin: m.Role == format.RoleAdmin, You: m.Sign == g.sign.Public()})
		}
		return nil
	})
	return out, epoch, err
}

// withGroupOffline loads a group without touching the network or storing.
func (e *Engine) withGroupOffline(ctx context.Context, ref string, f func(g *groupState) error) error {
	return e.viewChat(ctx, ref, func(tx *vault.Tx, chat *vault.Chat) error {
		grp, err := groupIn(tx, chat)
		if err != nil {
			return err
		}
		g, _, err := e.loadGroup(tx, chat.GroupID, &grp)
		if err != nil {
			return err
		}
		return f(g)
	})
}

// GroupRemove removes a member (admin only): a new epoch without it.
func (e *Engine) GroupRemove(ctx context.Context, ref, nick string) error {
	return e.groupChange(ctx, ref, nick, format.ChangeRemove)
}

// GroupPromote makes a member an admin (admin only).
func (e *Engine) GroupPromote(ctx context.Context, ref, nick string) error {
	return e.groupChange(ctx, ref, nick, format.ChangePromote)
}

func (e *Engine) groupChange(ctx context.Context, ref, nick string, change byte) error {
	var target []byte
	err := e.withGroup(ctx, ref, func(g *groupState, rec *groupRecord, c *conn.Conn, chat *vault.Chat) ([]Event, error) {
		evs, err := e.adminPoll(ctx, g, c, chat)
		if err != nil {
			return evs, err
		}
		if !g.isAdmin() {
			return evs, errNotAdmin
		}
		i, err := g.memberIndex(nick)
		if err != nil {
			return evs, err
		}
		m := g.cur.roster.Members[i]
		if m.Sign == g.sign.Public() {
			return evs, badInput("use group leave to leave")
		}
		target = m.Sign[:]
		g.propose(groupIntent{Change: change, Target: target})
		ce, err := g.commitNext(ctx, c)
		return append(evs, ce...), err
	})
	if err != nil {
		return err
	}
	return e.groupSettle(ctx, ref)
}

// groupSettle reads the group's log until our commits are read back and
// applied, or settleRounds syncs have passed; in the latter case they
// apply at a later sync (a competing commit came first, or the log is
// long).
func (e *Engine) groupSettle(ctx context.Context, ref string) error {
	for range settleRounds {
		done := false
		err := e.withGroup(ctx, ref, func(g *groupState, rec *groupRecord, c *conn.Conn, _ *vault.Chat) ([]Event, error) {
			evs, err := g.settle(ctx, c)
			evs = append(evs, e.sendWelcomes(g, rec)...)
			done = g.pending == nil && g.noIntents() && len(g.out) == 0
			return evs, err
		})
		if err != nil || done {
			return err
		}
	}
	return nil
}

// updateWaitsMsg tells the user its update waits (spec/groups.md §3.6).
const updateWaitsMsg = "your keys for this group were replaced by the last change already; this update is made after the next change to the group"

// GroupRekey replaces our keys for the group with an update commit
// (spec/groups.md §6.6): a copy of our group state stolen before it reads
// nothing sent after.
func (e *Engine) GroupRekey(ctx context.Context, ref string) error {
	err := e.withGroup(ctx, ref, func(g *groupState, rec *groupRecord, c *conn.Conn, _ *vault.Chat) ([]Event, error) {
		if g.cur.roster == nil {
			return nil, ErrGroupWaiting
		}
		evs, err := g.poll(ctx, c)
		if err != nil || g.gone {
			return evs, err
		}
		g.propose(groupIntent{Change: format.ChangeUpdate})
		if g.updateWaits() {
			evs = append(evs, Event{Type: EventWarning, Err: updateWaitsMsg})
		}
		ce, err := g.commitNext(ctx, c)
		return append(evs, ce...), err
	})
	if err != nil {
		return err
	}
	return e.groupSettle(ctx, ref)
}

// GroupLeave tells the group we leave and erases it here at once
// (spec/groups.md §7.3). The last admin must promote someone first. A
// group we were removed from is erased here only (§7.4).
func (e *Engine) GroupLeave(ctx context.Context, ref string) (err error) {
	defer e.reportErase(ctx, ref, "", &err)()
	if ok, err := e.eraseIfRemoved(ctx, ref); ok || err != nil {
		return err
	}
	return e.withGroup(ctx, ref, func(g *groupState, rec *groupRecord, c *conn.Conn, _ *vault.Chat) ([]Event, error) {
		if g.cur.roster != nil {
			if g.isAdmin() && g.cur.roster.Admins() == 1 && len(g.cur.roster.Members) > 1 {
				return nil, notAllowed("you are the last admin: promote someone first")
			}
			if len(g.cur.roster.Members) > 1 {
				if err := g.append(ctx, c, &format.GroupEnvelope{Type: format.GenvLeave}); err != nil {
					return nil, err
				}
			}
		}
		g.gone = true
		return nil, nil
	})
}

// groupBurn deletes the group for every member (admin only, §8). A group
// we were removed from is erased here only (§7.4).
func (e *Engine) groupBurn(ctx context.Context, ref string) error {
	if ok, err := e.eraseIfRemoved(ctx, ref); ok || err != nil {
		return err
	}
	return e.withGroup(ctx, ref, func(g *groupState, rec *groupRecord, c *conn.Conn, _ *vault.Chat) ([]Event, error) {
		if !g.isAdmin() {
			return nil, notAllowed("only an admin can burn a group")
		}
		if err := g.append(ctx, c, &format.GroupEnvelope{Type: format.GenvBurn}); err != nil {
			return nil, err
		}
		g.gone, g.ended = true, true
		return nil, nil
	})
}

// GroupSync reads every group's logs and open invites once and applies
// what it finds (spec/groups.md §6.2, §9.3). Run calls it periodically.
func (e *Engine) GroupSync(ctx context.Context) error { return e.syncGroups(ctx, nil) }

// syncGroups is GroupSync for the groups whose chat IDs are in only, or
// for every group when only is nil.
func (e *Engine) syncGroups(ctx context.Context, only map[string]bool) error {
	var ids []string
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		chats, err := tx.Chats()
		for _, c := range chats {
			if c.Kind != vault.ChatGroup || (only != nil && !only[c.ID]) {
				continue
			}
			if err := removedErr(tx, &c); err != nil {
				continue // nothing left to read
			}
			ids = append(ids, c.ID)
		}
		return err
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		committed := false
		err := e.withGroup(ctx, id, func(g *groupState, rec *groupRecord, c *conn.Conn, _ *vault.Chat) ([]Event, error) {
			var evs []Event
			if rec.DropLog != nil && c != nil {
				_ = e.dropExchangeLog(ctx, rec, c) // tried again at the next sync
			}
			if rec.Join != nil {
				ev, err := e.awaitWelcome(ctx, g, rec, c)
				if err != nil || rec.Join != nil {
					return ev, err
				}
				evs = append(evs, ev...)
			}
			pe, err := g.poll(ctx, c)
			evs = append(evs, pe...)
			evs = append(evs, e.sendWelcomes(g, rec)...)
			if err != nil || g.gone || g.removed || !g.drained() || c == nil {
				// A previous epoch not drained, or the primary relay
				// down (spec/groups.md §3.5): on at the next sync.
				return evs, err
			}
			ie, err := e.serveInvites(ctx, g, rec, c)
			evs = append(evs, ie...)
			if err != nil {
				return evs, err
			}
			g.dueUpdate()
			ce, err := g.commitNext(ctx, c)
			if err != nil && g.relayFailed() {
				err = nil // reported once as group_relay_down; the commit waits (spec/groups.md §3.5)
			}
			committed = g.pending != nil
			return append(evs, ce...), err
		})
		if err == nil && committed {
			// Read our commit back at once: the change applies, and a
			// joiner's welcome goes out, in this sync when nothing competes.
			err = e.groupSettle(ctx, id)
		}
		// A held log was reported when its reply was refused.
		if err != nil && !errors.Is(err, ErrNoChat) && !errors.Is(err, errLogHeld) && !errors.Is(err, ErrGroupRemoved) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// groupsChanged wakes Run's group loop.
func (e *Engine) groupsChanged() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.groupKick != nil {
		select {
		case e.groupKick <- struct{}{}:
		default:
		}
	}
}

// groupLoop is owned by Run until ctx ends. It syncs every group when
// kicked and every Config.GroupPollEvery, keeps a log subscription for
// every followed log (logwatch.go) and syncs a group when the relay
// notices an entry in one of its logs, at most once per groupNoticeGap
// (spec/groups.md §6.2).
func (e *Engine) groupLoop(ctx context.Context) {
	e.mu.Lock()
	kick := e.groupKick
	e.mu.Unlock()
	w := newLogWatch(e)
	defer w.wg.Wait()
	t := time.NewTicker(e.cfg.GroupPollEvery)
	defer t.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	var only map[string]bool // nil: every group
	lastNoticed := time.Time{}
	for {
		if only == nil || len(only) > 0 {
			if err := e.syncGroups(ctx, only); err != nil && ctx.Err() == nil && !isConnErr(err) {
				e.emit(ctx, Event{Type: EventWarning, Err: err.Error()})
			}
		}
		// After the sync: new epochs, drained logs, changed cursors.
		if want, err := e.followedByRelay(ctx); err == nil {
			retry.Stop()
			if due := w.follow(ctx, want); !due.IsZero() {
				retry.Reset(time.Until(due))
			}
		}
		select {
		case <-kick:
			only = nil
		case <-t.C:
			only = nil
		case <-w.noted:
			if d := groupNoticeGap - time.Since(lastNoticed); d > 0 {
				sleep(ctx, d) // notices arriving meanwhile join this sync
			}
			lastNoticed = time.Now()
			only = w.take()
		case <-w.changed:
			only = map[string]bool{} // resubscribe only
		case <-retry.C:
			only = map[string]bool{}
		case <-ctx.Done():
			return
		}
	}
}

// isGroup reports whether ref names a group chat.
func (e *Engine) isGroup(ctx context.Context, ref string) bool {
	ok := false
	_ = e.v.View(ctx, func(tx *vault.Tx) error {
		c, err := resolveChat(tx, ref)
		ok = err == nil && c.Kind == vault.ChatGroup
		return nil
	})
	return ok
}
