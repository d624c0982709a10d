package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
	"veil/vault"
)

// Group invites (spec/groups.md §9): a one-time invite key exactly like a
// 1:1 key (same text form, blob, lifetime and leak alarm) whose blob names
// a small exchange log on the group's relay and carries a join token. The
// joiner appends its join request (the token and its roster entry) there,
// and the admin's client answers only a request with the token: with a
// welcome secret sealed to the joiner's own keys, and the welcome's parts
// sealed under a key derived from the invite secret and that welcome
// secret. Holding the invite key alone therefore opens no welcome, and a
// copier who never took the blob cannot make a request the admin answers.

// GroupInvite creates a one-time key that lets one person join the group
// (admin only). The admin's client must run (watch) for the join to
// complete: it answers the joiner's request with the welcome.
func (e *Engine) GroupInvite(ctx context.Context, ref string, expires time.Duration) (string, error) {
	if expires == 0 {
		expires = defaultInviteLife
	}
	if expires < time.Second || expires > maxInviteLife {
		return "", badInput("invite lifetime must be between 1s and %v", maxInviteLife)
	}
	var out string
	err := e.withGroup(ctx, ref, func(g *groupState, rec *groupRecord, c *conn.Conn, _ *vault.Chat) ([]Event, error) {
		if g.gone || g.cur.roster == nil || !g.isAdmin() {
			return nil, notAllowed("only an admin can invite to a group")
		}
		if c == nil {
			return nil, errPrimaryDown
		}
		a, err := wire.ParseAddress(rec.Relay)
		if err != nil {
			return nil, err
		}
		// The key carries the relay's password: the joiner may become an
		// admin and then creates logs there (spec/groups.md §9.1).
		k := &format.InviteKey{Relay: wire.Credentialed{Address: a, Password: g.pws.current(rec.Relay)}}
		if err := e.random(k.Secret[:]); err != nil {
			return nil, err
		}
		d := format.DeriveInvite(k)
		gk := format.DeriveGroupInvite(k.Secret[:], a.Fingerprint[:], crypto.ID{}, nil) // the capabilities only
		alarmRead, err := e.newAlarmLog(ctx, c, k, &d, expires)
		if err != nil {
			return nil, fmt.Errorf("client: creating the invite's alarm: %w", err)
		}
		cctx, cancel := context.WithTimeout(ctx, commandTimeout)
		defer cancel()
		logID, err := c.NewLog(cctx, &gk.Write, &gk.Read, expires, k.Relay.Password)
		if err != nil {
			dropAlarmLog(ctx, c, k.AlarmLog, d.AlarmWrite[:])
			return nil, fmt.Errorf("client: creating the invite's log: %w", err)
		}
		gb := &format.GroupBlob{LogID: logID, Deadline: g.cur.roster.Settings.Deadline, Name: g.cur.roster.Settings.Name}
		if err := e.random(gb.Token[:]); err != nil {
			return nil, err
		}
		if err := e.random(gb.Exchange[:]); err != nil {
			return nil, err
		}
		body, err := format.SealBlob(&d.BlobKey, d.BlobID, gb.Marshal(), format.LabelBlobAD, e.cfg.Rand)
		if err != nil {
			return nil, err
		}
		if err := c.Put(cctx, d.BlobID, expires, k.Relay.Password, body); err != nil {
			dropAlarmLog(ctx, c, k.AlarmLog, d.AlarmWrite[:])
			_ = c.DeleteLog(cctx, logID, &gk.Write)
			return nil, fmt.Errorf("client: storing the invite: %w", err)
		}
		inv := groupInviteRec{LogID: logID[:], Secret: k.Secret[:], Salt: a.Fingerprint[:], Until: e.now().Add(expires), Created: e.now(),
			Token: gb.Token[:], Exchange: bytes.Clone(gb.Exchange[:]), AlarmLog: k.AlarmLog[:], AlarmRead: alarmRead[:]}
		if len(g.cur.roster.Settings.Relays) > 0 {
			inv.Relay = rec.Relay
		}
		rec.Invites = append(rec.Invites, inv)
		out = k.String()
		return nil, nil
	})
	if err == nil {
		// A running group loop subscribes the new exchange log, so the
		// joiner's request is answered on its notice, not on the next poll.
		e.groupsChanged()
	}
	return out, err
}

// joinGroupInvite is Join for a group key whose blob was taken and opened:
// it appends our join request to the invite's log and stores the group as
// waiting for the welcome, which GroupSync picks up.
func (e *Engine) joinGroupInvite(ctx context.Context, k *format.InviteKey, c *courier, pt []byte, opt JoinOptions) (string, error) {
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
	gk := format.DeriveGroupInvite(k.Secret[:], k.Relay.Fingerprint[:], blob.LogID, blob.Exchange[:])
	jr := format.JoinRequest{Token: blob.Token,
		Member: format.Member{Sign: sign.Public(), Seal: seal.Public(), Kem: kem.Public(), Role: format.RoleMember, Nick: nick}}
	req, err := jr.Marshal()
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
		Join: &groupInviteRec{LogID: blob.LogID[:], Secret: k.Secret[:], Salt: k.Relay.Fingerprint[:], Until: until,
			Exchange: bytes.Clone(blob.Exchange[:])}}
	name := opt.Name
	if name == "" {
		name = SanitizeLine(blob.Name)
	}
	now := e.now()
	err = e.v.Update(ctx, func(tx *vault.Tx) error {
		// Every member may become an admin and then needs the relay's
		// password for new epoch logs (spec/groups.md §6.1).
		pws := loadRelayPasswords(tx, rec.Relay)
		pws.fromKey(k.Relay.Password)
		if err := pws.save(tx); err != nil {
			return err
		}
		if err := putGroup(tx, id, g, rec); err != nil {
			return err
		}
		return tx.PutChat(&vault.Chat{ID: id, Kind: vault.ChatGroup, GroupID: id, Name: name, NameLocal: opt.Name != "",
			GroupName: blob.Name, Created: now, LastActive: now})
	})
	if err != nil {
		return "", err
	}
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	if _, err := c.Append(cctx, blob.LogID, &gk.Write, body); err != nil {
		_ = e.v.DeleteChat(ctx, id)
		return "", fmt.Errorf("client: sending the join request: %w", relayErr(rec.Relay, err))
	}
	e.groupsChanged()
	return id, nil
}

// awaitWelcome looks for the admin's welcome in our invite's log and
// enters the group when it is there (spec/groups.md §9.2, §9.3): the
// welcome key entry, sealed to our keys, then the parts under the key it
// gives. Once in, the exchange log is marked for deletion.
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
	gk := format.DeriveGroupInvite(j.Secret, j.Salt, logID, j.Exchange)
	// The welcome spans a key entry and one or more parts: read what is
	// there, and while a welcome is incomplete keep the cursor before its
	// key entry, so it is read again next time and nothing is acted on
	// before every part is in.
	var (
		asm    format.WelcomeAssembler
		wid    [format.WelcomeIDSize]byte
		partsK *crypto.SymKey
	)
	defer func() {
		if partsK != nil {
			partsK.Wipe()
		}
	}()
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
			if pt, err := format.OpenBlob(&gk.Key, logID, en.Body, format.LabelWelcomeKeyAD); err == nil {
				id, pk, err := format.OpenWelcomeKey(&gk.Key, logID, pt, g.seal, &g.kem)
				if err != nil {
					if partsK == nil {
						resume = en.Seq // not ours: skip it for good
					}
					continue
				}
				if partsK != nil && id == wid {
					pk.Wipe() // the same key entry again
					continue
				}
				if partsK != nil {
					partsK.Wipe()
				}
				partsK, wid, asm = &pk, id, format.WelcomeAssembler{}
				resume = before
				continue
			}
			if partsK == nil {
				resume = en.Seq // our own request, a part before its key, or garbage
				continue
			}
			pt, err := format.OpenBlob(partsK, logID, en.Body, format.LabelGroupWelcomeAD)
			if err != nil {
				continue
			}
			p, err := format.ParseWelcomePart(pt)
			if err != nil || p.ID != wid {
				continue
			}
			whole, _ := asm.Add(p)
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
			ng.holds, ng.relays = g.holds, g.relays // this operation's, as before the welcome
			*g = *ng
			rec.Join, rec.DropLog = nil, j
			e.groupsChanged() // the next sync deletes the exchange log
			return []Event{{Type: EventGroupJoined, From: SanitizeLine(rec.Nick)}}, nil
		}
	}
	if partsK == nil {
		resume = prev
	}
	j.Cursor = resume
	return nil, nil
}

// dropExchangeLog deletes the exchange log of the invite we joined by
// (spec/groups.md §9.3), once the group we entered is stored. A log the
// relay no longer knows (AUTH) is gone already.
func (e *Engine) dropExchangeLog(ctx context.Context, rec *groupRecord, c *conn.Conn) error {
	j := rec.DropLog
	logID, err := crypto.ParseID(j.LogID)
	if err != nil {
		rec.DropLog = nil
		return nil
	}
	gk := format.DeriveGroupInvite(j.Secret, j.Salt, logID, j.Exchange)
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	if err := c.DeleteLog(cctx, logID, &gk.Write); err != nil && !isCode(err, wire.CodeAuth) {
		return fmt.Errorf("client: deleting the invite's log: %w", err)
	}
	rec.DropLog = nil
	return nil
}

// serveInvites answers join requests in our open invites' logs (admin):
// each adds its sender in a new epoch and gets the welcome. An invite
// serves one join and then only watches its leak alarm until it ends;
// ended ones are dropped with their alarm logs.
func (e *Engine) serveInvites(ctx context.Context, g *groupState, rec *groupRecord, c *conn.Conn) ([]Event, error) {
	var evs []Event
	now := e.now()
	keep := rec.Invites[:0]
	primary := c
	for _, inv := range rec.Invites {
		// An invite made before a move has its logs on the relay it was
		// made on (spec/groups.md §3.5).
		c, err := g.connFor(ctx, primary, inv.Relay)
		if err != nil {
			keep = append(keep, inv) // that relay is down: at the next sync
			continue
		}
		if now.After(inv.Until) || g.gone || !g.isAdmin() {
			e.endInvite(ctx, c, &inv)
			continue
		}
		if id, err := crypto.ParseID(inv.AlarmLog); err == nil {
			if fired, _ := alarmFired(ctx, c, id, inv.AlarmRead); fired {
				evs = append(evs, Event{Type: EventInviteLeaked, Err: groupAlarmText})
				d := format.DeriveInviteSecret(inv.Secret, inv.Salt)
				dropAlarmLog(ctx, c, id, d.AlarmWrite[:])
				inv.AlarmLog, inv.AlarmRead = nil, nil
			}
		}
		if inv.Served {
			if len(inv.AlarmLog) > 0 {
				keep = append(keep, inv)
			}
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
		inv.Served = done
		keep = append(keep, inv)
	}
	rec.Invites = keep
	return evs, nil
}

// endInvite deletes what an ended invite left on the relay: its alarm
// log, and its exchange log unless it served a join (the joiner, who may
// not have read its welcome yet, deletes that one). Best effort: the
// entries expire anyway.
func (e *Engine) endInvite(ctx context.Context, c *conn.Conn, inv *groupInviteRec) {
	if id, err := crypto.ParseID(inv.AlarmLog); err == nil {
		d := format.DeriveInviteSecret(inv.Secret, inv.Salt)
		dropAlarmLog(ctx, c, id, d.AlarmWrite[:])
	}
	if id, err := crypto.ParseID(inv.LogID); err == nil && !inv.Served {
		gk := format.DeriveGroupInvite(inv.Secret, inv.Salt, id, inv.Exchange)
		cctx, cancel := context.WithTimeout(ctx, commandTimeout)
		defer cancel()
		_ = c.DeleteLog(cctx, id, &gk.Write)
	}
}

func (e *Engine) serveInvite(ctx context.Context, g *groupState, inv *groupInviteRec, c *conn.Conn) (bool, []Event, error) {
	logID, err := crypto.ParseID(inv.LogID)
	if err != nil || len(inv.Token) != format.JoinTokenSize {
		return true, nil, nil
	}
	token := format.JoinToken(inv.Token)
	gk := format.DeriveGroupInvite(inv.Secret, inv.Salt, logID, inv.Exchange)
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
		req, err := format.ParseJoinRequest(pt)
		if err != nil || !req.Token.Equal(&token) {
			continue // not from whoever took the blob: never answered
		}
		if why := g.joinNickRefusal(req.Member.Nick); why != "" {
			// spec/groups.md §14.1: the invite stays open.
			refused = append(refused, Event{Type: EventWarning, Err: why})
			continue
		}
		// The joiner is added by a commit; its welcome goes out once that
		// commit has won (sendWelcomes). The invite answers no other request.
		m := req.Member
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

// buildWelcome seals the welcome w, with the epoch's confirmation value
// conf, for the joiner whose join request gave joiner (spec/groups.md
// §9.2). It returns the exchange log entries in upload order: the welcome
// key entry (a fresh welcome secret sealed to the joiner's keys, under the
// exchange key), then the parts, sealed under HKDF(exchange key ||
// welcome secret).
func buildWelcome(gk *format.GroupInviteKeys, logID crypto.ID, joiner *format.Member, w *format.GroupWelcome, conf [crypto.HashSize]byte, r io.Reader) ([][]byte, error) {
	var wid [format.WelcomeIDSize]byte
	if err := crypto.RandomBytes(r, wid[:]); err != nil {
		return nil, err
	}
	entry, partsK, err := format.SealWelcomeKey(&gk.Key, logID, wid, joiner, r)
	if err != nil {
		return nil, err
	}
	defer partsK.Wipe()
	wc := *w
	wc.Conf = conf
	pts, err := format.SplitWelcome(wid, wc.Marshal())
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, 1+len(pts))
	body, err := format.SealBlob(&gk.Key, logID, entry, format.LabelWelcomeKeyAD, r)
	if err != nil {
		return nil, err
	}
	out = append(out, body)
	for _, pt := range pts {
		body, err := format.SealBlob(&partsK, logID, pt, format.LabelGroupWelcomeAD, r)
		if err != nil {
			return nil, err
		}
		out = append(out, body)
	}
	return out, nil
}

// groupAlarmText is what an admin is told when a group invite's alarm
// fires.
const groupAlarmText = "someone else tried to use an invite key of this group: it leaked; check who joined with it before trusting them"

// welcomeReadPages bounds the LREAD calls one look for the welcome makes.
// A relay answers with as many entries as fit one frame, which may be one
// bucket-sized entry per call; the exchange log holds one join request,
// one welcome key entry and at most MaxWelcomeParts parts, so this leaves
// room for three times as many entries (duplicates, garbage) and still
// ends.
const welcomeReadPages = 4 * (2 + format.MaxWelcomeParts)

// sendWelcomes queues the welcomes our winning add commits owe, each to
// its invite's exchange log (spec/groups.md §9.2), and marks those
// invites served (kept for their leak alarm until their deadline). They
// are queued with the state, so they are stored before they are uploaded
// and a crash re-sends them.
func (e *Engine) sendWelcomes(g *groupState, rec *groupRecord) []Event {
	var evs []Event
	for _, job := range g.welcomes {
		for i := range rec.Invites {
			inv := &rec.Invites[i]
			if job.invite == nil || !bytes.Equal(inv.LogID, job.invite) || inv.Served {
				continue
			}
			inv.Served = true
			if err := e.queueWelcome(g, inv, job); err != nil {
				evs = append(evs, Event{Type: EventWarning, Err: err.Error()})
			}
			break
		}
	}
	g.welcomes = nil
	return evs
}

// queueWelcome seals job's welcome for invite inv and queues its entries.
func (e *Engine) queueWelcome(g *groupState, inv *groupInviteRec, job welcomeJob) error {
	logID, err := crypto.ParseID(inv.LogID)
	if err != nil {
		return errors.New("client: corrupt group record")
	}
	gk := format.DeriveGroupInvite(inv.Secret, inv.Salt, logID, inv.Exchange)
	bodies, err := buildWelcome(&gk, logID, &job.joiner, job.welcome, job.welcome.Conf, e.cfg.Rand)
	if err != nil {
		return err
	}
	for _, b := range bodies {
		g.out = append(g.out, pendingAppend{Log: bytes.Clone(logID[:]), Cap: bytes.Clone(gk.Write[:]), Body: b, Relay: inv.Relay})
	}
	return nil
}
