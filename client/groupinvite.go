package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
	"veil/vault"
)

// Group invites (spec/groups.md §9): a one-time invite key exactly like a
// 1:1 key (same text form, blob, lifetime and leak alarm) whose blob names
// a small exchange log on the group's relay. The joiner appends its join
// request there and the admin's client answers with the welcome, both
// sealed under a key derived from the invite secret, which only the admin
// and the one joiner hold.

// Group invite labels, spec/groups.md §9.2.
const (
	labelGroupInviteWrite = "veil-client/v1/group invite log write"
	labelGroupInviteRead  = "veil-client/v1/group invite log read"
	labelGroupInviteKey   = "veil-client/v1/group invite key"
	labelGroupRequestAD   = "veil-client/v1/group join request"
	labelGroupWelcomeAD   = "veil-client/v1/group welcome"
)

// groupBlobMarker is the first byte of a group invite blob; a 1:1 blob
// starts with its version, 1 (spec/client.md §3.1).
const groupBlobMarker = 0x47

type groupInviteKeys struct {
	write, read [wire.CapSize]byte
	key         crypto.SymKey
}

func deriveGroupInvite(secret, salt []byte) groupInviteKeys {
	var k groupInviteKeys
	crypto.HKDF(k.write[:], secret, salt, labelGroupInviteWrite)
	crypto.HKDF(k.read[:], secret, salt, labelGroupInviteRead)
	crypto.HKDF(k.key[:], secret, salt, labelGroupInviteKey)
	return k
}

// groupBlob is the plaintext of a group invite blob.
type groupBlob struct {
	LogID    crypto.ID
	Deadline uint64 // the group's deadline, Unix seconds; 0 = none
	Name     string
}

func (b *groupBlob) marshal() []byte {
	out := []byte{groupBlobMarker, 1}
	out = append(out, b.LogID[:]...)
	out = binary.BigEndian.AppendUint64(out, b.Deadline)
	out = append(out, byte(len(b.Name)))
	return append(out, b.Name...)
}

func parseGroupBlob(p []byte) (*groupBlob, error) {
	r := newRecordReader(p)
	if r.u8() != groupBlobMarker || r.u8() != 1 {
		return nil, errors.New("client: not a group invite")
	}
	b := &groupBlob{}
	copy(b.LogID[:], r.take(crypto.IDSize))
	b.Deadline = r.u64()
	b.Name = string(r.take(int(r.u8())))
	if !r.done() || len(b.Name) > maxGroupName || !utf8.ValidString(b.Name) {
		return nil, errors.New("client: the group invite blob is malformed")
	}
	return b, nil
}

// groupWelcome encoding: uint32(roster length) || roster || secret || log ID.
func (w *groupWelcome) marshal() []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(w.Roster)))
	b = append(b, w.Roster...)
	b = append(b, w.Secret[:]...)
	return append(b, w.LogID[:]...)
}

func parseGroupWelcome(b []byte) (*groupWelcome, error) {
	r := newRecordReader(b)
	w := &groupWelcome{}
	n := r.u32()
	if n > maxRosterSize {
		return nil, errors.New("client: malformed group welcome")
	}
	w.Roster = append([]byte(nil), r.take(int(n))...)
	copy(w.Secret[:], r.take(crypto.KeySize))
	copy(w.LogID[:], r.take(crypto.IDSize))
	if !r.done() {
		return nil, errors.New("client: malformed group welcome")
	}
	return w, nil
}

// GroupInvite creates a one-time key that lets one person join the group
// (admin only). The admin's client must run (watch) for the join to
// complete: it answers the joiner's request with the welcome.
func (e *Engine) GroupInvite(ctx context.Context, ref string, expires time.Duration) (string, error) {
	if expires == 0 {
		expires = defaultInviteLife
	}
	if expires < time.Second || expires > maxInviteLife {
		return "", fmt.Errorf("client: invite lifetime must be between 1s and %v", maxInviteLife)
	}
	var out string
	err := e.withGroup(ctx, ref, func(g *groupState, rec *groupRecord, c *conn.Conn, _ *vault.Chat) ([]Event, error) {
		if g.gone || g.cur.roster == nil || !g.isAdmin() {
			return nil, errors.New("client: only an admin can invite to a group")
		}
		a, err := wire.ParseAddress(rec.Relay)
		if err != nil {
			return nil, err
		}
		k := &inviteKey{Relay: a}
		if err := e.random(k.Secret[:]); err != nil {
			return nil, err
		}
		d := deriveInvite(k)
		gk := deriveGroupInvite(k.Secret[:], a.Fingerprint[:])
		cctx, cancel := context.WithTimeout(ctx, commandTimeout)
		defer cancel()
		logID, err := c.NewLog(cctx, &gk.write, &gk.read, expires, nil)
		if err != nil {
			return nil, fmt.Errorf("client: creating the invite's log: %w", err)
		}
		gb := &groupBlob{LogID: logID, Deadline: g.cur.roster.Settings.Deadline, Name: g.cur.roster.Settings.Name}
		body, err := sealBlob(&d.BlobKey, d.BlobID, gb.marshal(), labelBlobAD, e.cfg.Rand)
		if err != nil {
			return nil, err
		}
		if err := c.Put(cctx, d.BlobID, expires, body); err != nil {
			return nil, fmt.Errorf("client: storing the invite: %w", err)
		}
		rec.Invites = append(rec.Invites, groupInviteRec{LogID: logID[:], Secret: k.Secret[:], Salt: a.Fingerprint[:], Until: e.now().Add(expires)})
		out = k.String()
		return nil, nil
	})
	return out, err
}

// joinGroupInvite is Join for a group key whose blob was taken and opened:
// it appends our join request to the invite's log and stores the group as
// waiting for the welcome, which GroupSync picks up.
func (e *Engine) joinGroupInvite(ctx context.Context, k *inviteKey, c *conn.Conn, pt []byte, opt JoinOptions) (string, error) {
	blob, err := parseGroupBlob(pt)
	if err != nil {
		return "", err
	}
	nick, err := e.groupNick(opt.As)
	if err != nil {
		return "", err
	}
	// The joiner waits for the welcome until the invite could no longer
	// be answered, and never past the group's deadline.
	until := e.now().Add(maxInviteLife)
	if blob.Deadline != 0 {
		dl := time.Unix(int64(blob.Deadline), 0)
		if !e.now().Before(dl) {
			return "", errors.New("client: this group has already expired")
		}
		if dl.Before(until) {
			until = dl
		}
	}
	sign, seal, err := newGroupKeys(e.rcfg)
	if err != nil {
		return "", err
	}
	gk := deriveGroupInvite(k.Secret[:], k.Relay.Fingerprint[:])
	m := groupMember{Sign: sign.Public(), Seal: seal.Public(), Role: roleMember, Nick: nick}
	req, err := m.appendTo(nil)
	if err != nil {
		return "", err
	}
	body, err := sealBlob(&gk.key, blob.LogID, req, labelGroupRequestAD, e.cfg.Rand)
	if err != nil {
		return "", err
	}
	id, err := e.shortID()
	if err != nil {
		return "", err
	}
	g := &groupState{rcfg: e.rcfg, sign: sign, seal: seal, ttl: defaultGroupLogTTL}
	rec := &groupRecord{Relay: k.Relay.String(), Nick: nick,
		Join: &groupInviteRec{LogID: blob.LogID[:], Secret: k.Secret[:], Salt: k.Relay.Fingerprint[:], Until: until}}
	b, err := g.save(rec)
	if err != nil {
		return "", err
	}
	name := opt.Name
	if name == "" {
		name = SanitizeLine(blob.Name)
	}
	now := e.now()
	err = e.v.Update(ctx, func(tx *vault.Tx) error {
		if err := tx.PutGroup(&vault.Group{ID: id, State: b}); err != nil {
			return err
		}
		return tx.PutChat(&vault.Chat{ID: id, Kind: vault.ChatGroup, GroupID: id, Name: name, Created: now, LastActive: now})
	})
	if err != nil {
		return "", err
	}
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	if _, err := c.Append(cctx, blob.LogID, &gk.write, body); err != nil {
		_ = e.v.DeleteChat(ctx, id)
		return "", fmt.Errorf("client: sending the join request: %w", err)
	}
	e.groupsChanged()
	return id, nil
}

// awaitWelcome looks for the admin's welcome in our invite's log and
// enters the group when it is there.
func (e *Engine) awaitWelcome(ctx context.Context, g *groupState, rec *groupRecord, c *conn.Conn) ([]Event, error) {
	j := rec.Join
	if e.now().After(j.Until) {
		g.gone = true
		return []Event{{Type: EventInviteExpired}}, nil
	}
	logID, err := crypto.ParseID(j.LogID)
	if err != nil {
		return nil, errors.New("client: corrupt group record")
	}
	gk := deriveGroupInvite(j.Secret, j.Salt)
	// The welcome may span several entries (spec/groups.md §9.2): read
	// what is there, and keep the cursor before the first part of a
	// welcome still incomplete, so its parts are read again next time and
	// nothing is acted on before every part is in.
	var asm welcomeAssembler
	resume, prev := j.Cursor, j.Cursor
	for range welcomeReadPages {
		cctx, cancel := context.WithTimeout(ctx, commandTimeout)
		entries, err := c.ReadLog(cctx, logID, &gk.read, prev, groupReadBatch)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("client: reading the invite's log: %w", err)
		}
		if len(entries) == 0 {
			break
		}
		for _, en := range entries {
			before := prev
			prev = en.Seq
			pt, err := openBlob(&gk.key, logID, en.Body, labelGroupWelcomeAD)
			if err != nil {
				if asm.empty() {
					resume = en.Seq // our own request, or garbage
				}
				continue
			}
			p, err := parseWelcomePart(pt)
			if err != nil {
				if asm.empty() {
					resume = en.Seq
				}
				continue
			}
			whole, restarted := asm.add(p)
			if restarted {
				resume = before
			}
			if whole == nil {
				continue
			}
			j.Cursor = en.Seq
			w, err := parseGroupWelcome(whole)
			if err != nil {
				return []Event{{Type: EventWarning, Err: err.Error()}}, nil
			}
			ng, err := joinGroup(e.rcfg, g.sign, g.seal, w, g.ttl)
			if err != nil {
				return []Event{{Type: EventWarning, Err: err.Error()}}, nil
			}
			*g = *ng
			rec.Join = nil
			return []Event{{Type: EventGroupJoined, From: SanitizeLine(rec.Nick)}}, nil
		}
	}
	if asm.empty() {
		resume = prev
	}
	j.Cursor = resume
	return nil, nil
}

// serveInvites answers join requests in our open invites' logs (admin):
// each adds its sender in a new epoch and gets the welcome. An invite
// serves one join and is then closed; expired ones are dropped.
func (e *Engine) serveInvites(ctx context.Context, g *groupState, rec *groupRecord, c *conn.Conn) ([]Event, error) {
	var evs []Event
	now := e.now()
	keep := rec.Invites[:0]
	for _, inv := range rec.Invites {
		if now.After(inv.Until) || g.gone || !g.isAdmin() {
			continue
		}
		done, ev, err := e.serveInvite(ctx, g, &inv, c)
		evs = append(evs, ev...)
		if err != nil {
			keep = append(keep, inv)
			rec.Invites = append(keep, rec.Invites[len(keep):]...)
			return evs, err
		}
		if !done {
			keep = append(keep, inv)
		}
	}
	rec.Invites = keep
	return evs, nil
}

func (e *Engine) serveInvite(ctx context.Context, g *groupState, inv *groupInviteRec, c *conn.Conn) (bool, []Event, error) {
	logID, err := crypto.ParseID(inv.LogID)
	if err != nil {
		return true, nil, nil
	}
	gk := deriveGroupInvite(inv.Secret, inv.Salt)
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	entries, err := c.ReadLog(cctx, logID, &gk.read, inv.Cursor, groupReadBatch)
	if err != nil {
		return false, nil, fmt.Errorf("client: reading an invite's log: %w", err)
	}
	for _, en := range entries {
		inv.Cursor = en.Seq
		pt, err := openBlob(&gk.key, logID, en.Body, labelGroupRequestAD)
		if err != nil {
			continue
		}
		m, err := newRecordReader(pt).memberAll()
		if err != nil {
			continue
		}
		w, err := g.add(ctx, c, m)
		if err != nil {
			return false, nil, err
		}
		// The welcome goes in parts (spec/groups.md §9.2), queued with
		// the commit so that both are stored before either is uploaded
		// and a crash or a dropped connection re-sends them in order.
		var wid [welcomeIDSize]byte
		if err := e.random(wid[:]); err != nil {
			return false, nil, err
		}
		parts, err := splitWelcome(wid, w.marshal())
		if err != nil {
			return true, nil, err
		}
		for _, pt := range parts {
			body, err := sealBlob(&gk.key, logID, pt, labelGroupWelcomeAD, e.cfg.Rand)
			if err != nil {
				return true, nil, err
			}
			g.out = append(g.out, pendingAppend{Log: logID[:], Cap: bytes.Clone(gk.write[:]), Body: body})
		}
		if !g.deferUploads {
			if err := g.flushOut(ctx, c); err != nil {
				return true, nil, fmt.Errorf("client: sending the welcome: %w", err)
			}
		}
		return true, []Event{{Type: EventGroupJoined, From: SanitizeLine(m.Nick)}, {Type: EventGroupEpoch, Text: fmt.Sprint(g.cur.roster.Epoch)}}, nil
	}
	return false, nil, nil
}

// memberAll parses exactly one roster entry.
func (r *recordReader) memberAll() (groupMember, error) {
	m, err := r.member()
	if err == nil && !r.done() {
		err = fmt.Errorf("%w: trailing bytes", errGroupRecord)
	}
	return m, err
}
