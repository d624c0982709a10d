package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"veil/client/internal/format"
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
		k := &format.InviteKey{Relay: a}
		if err := e.random(k.Secret[:]); err != nil {
			return nil, err
		}
		d := format.DeriveInvite(k)
		gk := format.DeriveGroupInvite(k.Secret[:], a.Fingerprint[:])
		cctx, cancel := context.WithTimeout(ctx, commandTimeout)
		defer cancel()
		logID, err := c.NewLog(cctx, &gk.Write, &gk.Read, expires, nil)
		if err != nil {
			return nil, fmt.Errorf("client: creating the invite's log: %w", err)
		}
		gb := &format.GroupBlob{LogID: logID, Deadline: g.cur.roster.Settings.Deadline, Name: g.cur.roster.Settings.Name}
		body, err := format.SealBlob(&d.BlobKey, d.BlobID, gb.Marshal(), format.LabelBlobAD, e.cfg.Rand)
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
func (e *Engine) joinGroupInvite(ctx context.Context, k *format.InviteKey, c *conn.Conn, pt []byte, opt JoinOptions) (string, error) {
	blob, err := format.ParseGroupBlob(pt)
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
	sign, seal, kem, err := newGroupKeys(e.rcfg)
	if err != nil {
		return "", err
	}
	gk := format.DeriveGroupInvite(k.Secret[:], k.Relay.Fingerprint[:])
	m := format.Member{Sign: sign.Public(), Seal: seal.Public(), Kem: kem.Public(), Role: format.RoleMember, Nick: nick}
	req, err := m.AppendTo(nil)
	if err != nil {
		return "", err
	}
	body, err := format.SealBlob(&gk.Key, blob.LogID, req, format.LabelGroupRequestAD, e.cfg.Rand)
	if err != nil {
		return "", err
	}
	id, err := e.shortID()
	if err != nil {
		return "", err
	}
	g := &groupState{rcfg: e.rcfg, sign: sign, seal: seal, kem: kem, ttl: defaultGroupLogTTL}
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
	if _, err := c.Append(cctx, blob.LogID, &gk.Write, body); err != nil {
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
	gk := format.DeriveGroupInvite(j.Secret, j.Salt)
	// The welcome may span several entries (spec/groups.md §9.2): read
	// what is there, and keep the cursor before the first part of a
	// welcome still incomplete, so its parts are read again next time and
	// nothing is acted on before every part is in.
	var asm format.WelcomeAssembler
	resume, prev := j.Cursor, j.Cursor
	for range welcomeReadPages {
		cctx, cancel := context.WithTimeout(ctx, commandTimeout)
		entries, err := c.ReadLog(cctx, logID, &gk.Read, prev, groupReadBatch)
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
			pt, err := format.OpenBlob(&gk.Key, logID, en.Body, format.LabelGroupWelcomeAD)
			if err != nil {
				if asm.Empty() {
					resume = en.Seq // our own request, or garbage
				}
				continue
			}
			p, err := format.ParseWelcomePart(pt)
			if err != nil {
				if asm.Empty() {
					resume = en.Seq
				}
				continue
			}
			whole, restarted := asm.Add(p)
			if restarted {
				resume = before
			}
			if whole == nil {
				continue
			}
			j.Cursor = en.Seq
			w, err := format.ParseGroupWelcome(whole)
			if err != nil {
				return []Event{{Type: EventWarning, Err: err.Error()}}, nil
			}
			ng, err := joinGroup(e.rcfg, g.sign, g.seal, g.kem, w, g.ttl)
			if err != nil {
				return []Event{{Type: EventWarning, Err: err.Error()}}, nil
			}
			*g = *ng
			rec.Join = nil
			return []Event{{Type: EventGroupJoined, From: SanitizeLine(rec.Nick)}}, nil
		}
	}
	if asm.Empty() {
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
		if inv.Answered {
			keep = append(keep, inv) // its welcome waits for the add commit
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
	gk := format.DeriveGroupInvite(inv.Secret, inv.Salt)
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	entries, err := c.ReadLog(cctx, logID, &gk.Read, inv.Cursor, groupReadBatch)
	if err != nil {
		return false, nil, fmt.Errorf("client: reading an invite's log: %w", err)
	}
	var refused []Event
	for _, en := range entries {
		inv.Cursor = en.Seq
		pt, err := format.OpenBlob(&gk.Key, logID, en.Body, format.LabelGroupRequestAD)
		if err != nil {
			continue
		}
		m, err := format.ParseMember(pt)
		if err != nil {
			continue
		}
		if why := g.joinNickRefusal(m.Nick); why != "" {
			// spec/groups.md §14.1: the invite stays open.
			refused = append(refused, Event{Type: EventWarning, Err: why})
			continue
		}
		// The joiner is added by a commit; its welcome goes out once that
		// commit has won (sendWelcomes). The invite answers no other request.
		m.Role = format.RoleMember // whatever the request said, spec/groups.md §9.2
		op, err := m.AppendTo(nil)
		if err != nil {
			continue
		}
		g.propose(groupIntent{Change: format.ChangeAdd, Operand: op, Invite: bytes.Clone(logID[:])})
		inv.Answered = true
		return false, refused, nil
	}
	return false, refused, nil
}

// welcomeReadPages bounds the LREAD calls one look for the welcome makes.
// A relay answers with as many entries as fit one frame, which may be one
// bucket-sized entry per call; the exchange log holds one join request and
// at most maxWelcomeParts parts, so this leaves room for three times as
// many entries (duplicates, garbage) and still ends.
const welcomeReadPages = 4 * (1 + format.MaxWelcomeParts)

// sendWelcomes queues the welcomes our winning add commits owe, each to
// its invite's exchange log, in parts (spec/groups.md §9.2), and closes
// those invites. They are queued with the state, so they are stored
// before they are uploaded and a crash re-sends them.
func (e *Engine) sendWelcomes(g *groupState, rec *groupRecord) []Event {
	var evs []Event
	for _, job := range g.welcomes {
		for i, inv := range rec.Invites {
			if job.invite == nil || !bytes.Equal(inv.LogID, job.invite) {
				continue
			}
			rec.Invites = append(rec.Invites[:i], rec.Invites[i+1:]...)
			if err := e.queueWelcome(g, &inv, job.welcome); err != nil {
				evs = append(evs, Event{Type: EventWarning, Err: err.Error()})
			}
			break
		}
	}
	g.welcomes = nil
	return evs
}

// queueWelcome seals w's parts for invite inv and queues them.
func (e *Engine) queueWelcome(g *groupState, inv *groupInviteRec, w *format.GroupWelcome) error {
	logID, err := crypto.ParseID(inv.LogID)
	if err != nil {
		return errors.New("client: corrupt group record")
	}
	gk := format.DeriveGroupInvite(inv.Secret, inv.Salt)
	var wid [format.WelcomeIDSize]byte
	if err := e.random(wid[:]); err != nil {
		return err
	}
	parts, err := format.SplitWelcome(wid, w.Marshal())
	if err != nil {
		return err
	}
	for _, pt := range parts {
		body, err := format.SealBlob(&gk.Key, logID, pt, format.LabelGroupWelcomeAD, e.cfg.Rand)
		if err != nil {
			return err
		}
		g.out = append(g.out, pendingAppend{Log: logID[:], Cap: bytes.Clone(gk.Write[:]), Body: body})
	}
	return nil
}
