package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"veil/client/internal/format"
	"veil/ratchet"
	"veil/vault"
)

// A profile restored from a backup holds the ratchet states of the moment
// of the backup. At its first unlock every chat is flagged and every 1:1
// chat offers its peer a session reset (spec/client.md §13,
// spec/session.md §13): a fresh PQXDH handshake between the same identity
// keys, so the chat, its mailboxes and its safety code stay.

// supersededFor is how long the peer keeps the session a reset replaced,
// to recognise messages of an out-of-date copy: the relay's default
// message TTL.
const supersededFor = 21 * 24 * time.Hour

// maxResetSkew is how far ahead of the receiver's clock a reset offer's
// time may be (spec/session.md §13.3): an offer dated later is refused, so
// neither a skewed clock nor a holder of the identity key can date one so
// far ahead that every later reset is ignored as older.
const maxResetSkew = 24 * time.Hour

// resetRedrawAfter is how long an offer stays outstanding before the
// offerer draws a new one, with its clock of then, and tells the user
// (spec/client.md §13.2): the relay's default message TTL, after which
// neither the offer nor an answer to it is still on the relay.
const resetRedrawAfter = supersededFor

// ErrOutdated is returned by a send in a chat that this copy of the
// profile was told continues with another copy (spec/client.md §13.5).
var ErrOutdated = notAllowed("this copy of the profile is out of date: the chat continues on a copy restored from a backup, and this copy can no longer send or read in it")

// restoreNotice is the line both sides get in the chat once a reset is
// through (spec/client.md §13.6).
func restoreNotice(who string) string {
	return who + " restored veil from a backup; messages sent between the backup and now may be lost"
}

// applyRestoreMark turns a restored vault's mark into per-chat flags and
// queues a reset offer for every 1:1 chat, in one transaction with the
// mark's deletion (spec/vault.md §10.1, spec/client.md §13.1).
func (e *Engine) applyRestoreMark(ctx context.Context) error {
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		if _, err := tx.RestoreMark(); errors.Is(err, vault.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		chats, err := tx.Chats()
		if err != nil {
			return err
		}
		for i := range chats {
			c := &chats[i]
			meta, err := getMeta(tx, c.ID)
			if err != nil {
				return err
			}
			meta.Restored = true
			if c.Kind == vault.ChatDirect {
				if err := e.offerReset(tx, c, &meta); err != nil {
					return err
				}
			}
			if err := putMeta(tx, c.ID, &meta); err != nil {
				return err
			}
		}
		return tx.DeleteRestoreMark()
	})
	if err != nil {
		return fmt.Errorf("client: restored profile: %w", err)
	}
	return nil
}

// offerReset queues a reset offer for chat c (spec/client.md §13.2). The
// messages still in its outbox were sealed by the stale session: those with
// a message of ours are held and sent again on the new session, the rest
// (receipts, control messages) are dropped. It returns a warning for a
// chat that cannot be reset a line in the chat that says so.
func (e *Engine) offerReset(tx *vault.Tx, c *vault.Chat, meta *chatMeta) error {
	ct, err := tx.Contact(c.ContactID)
	if errors.Is(err, vault.ErrNotFound) || err == nil && len(ct.Ratchet) == 0 {
		return nil // a pending invite: no session yet
	}
	if err != nil {
		return err
	}
	self, err := ratchet.ParseIdentity(ct.OurIdentity)
	remote, rerr := ratchet.ParseIdentityPublic(ct.TheirIdentity)
	if err != nil || rerr != nil {
		return e.putNotice(tx, c, "This chat was restored from a backup, but it was made by an older veil that did not keep the keys to restart its session: messages may be lost. Burn it and invite again.")
	}
	defer self.Wipe()
	rp, err := ratchet.NewReset(e.rcfg, e.now().UnixMilli(), e.resetPQ(&ct, meta))
	if err != nil {
		return err
	}
	defer rp.Wipe()
	items, err := tx.Outbox()
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.ChatID != c.ID {
			continue
		}
		if it.MessageID != "" {
			meta.Held = append(meta.Held, it.MessageID)
		}
		if err := tx.DeleteOutbox(it.ID); err != nil {
			return err
		}
	}
	meta.ResetKeys = rp.Marshal()
	id, err := e.newID()
	if err != nil {
		return err
	}
	now := e.now()
	return tx.PutOutbox(&vault.OutboxItem{ID: id, ChatID: c.ID, Payload: rp.Message(self, remote), Created: now, NextTry: now})
}

// resetPQ reports whether the reset offer of a chat with contact ct runs
// the KEM ratchet (version 0x02, spec/client.md §13.2): when the chat's
// session is on, or the peer announced FEATURES bit 2. Otherwise the peer
// may run a veil from before the KEM ratchet, which takes only version
// 0x01; the new session then starts off and upgrades in band as any
// legacy chat (spec/client.md §5.13). A session that does not parse
// leaves the choice to the features.
func (e *Engine) resetPQ(ct *vault.Contact, meta *chatMeta) bool {
	if meta.PeerFeatures&format.FeaturePQ != 0 {
		return true
	}
	s, err := e.ratchetOf(ct)
	if err != nil {
		return false
	}
	defer s.Wipe()
	return s.PQ().On
}

// resumeResets sends again, at unlock, the offer of every chat whose
// reset is still outstanding and not already queued: the relay may have
// dropped it, and a resent offer is the same bytes, ignored by a peer that
// has it (spec/client.md §13.2). An offer outstanding for
// resetRedrawAfter is drawn anew with the current time, and the chat says
// that the restart is stuck.
func (e *Engine) resumeResets(ctx context.Context) error {
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		chats, err := tx.Chats()
		if err != nil {
			return err
		}
		items, err := tx.Outbox()
		if err != nil {
			return err
		}
		queued := map[string]bool{}
		for _, it := range items {
			if ratchet.IsReset(it.Payload) {
				queued[it.ChatID] = true
			}
		}
		for i := range chats {
			c := &chats[i]
			if c.Kind != vault.ChatDirect || queued[c.ID] {
				continue
			}
			meta, err := getMeta(tx, c.ID)
			if err != nil {
				return err
			}
			if meta.ResetKeys == nil {
				continue
			}
			if err := e.resendReset(tx, c, &meta); err != nil {
				return err
			}
			if err := putMeta(tx, c.ID, &meta); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("client: resending session restarts: %w", err)
	}
	return nil
}

// resendReset queues chat c's outstanding offer again, drawn anew if it
// is older than resetRedrawAfter.
func (e *Engine) resendReset(tx *vault.Tx, c *vault.Chat, meta *chatMeta) error {
	ct, err := tx.Contact(c.ContactID)
	if err != nil {
		return err
	}
	self, err := ratchet.ParseIdentity(ct.OurIdentity)
	if err != nil {
		return fmt.Errorf("client: stored identity key: %w", err)
	}
	defer self.Wipe()
	remote, err := ratchet.ParseIdentityPublic(ct.TheirIdentity)
	if err != nil {
		return fmt.Errorf("client: stored peer identity key: %w", err)
	}
	rp, err := ratchet.ParseResetPrivate(meta.ResetKeys)
	if err != nil {
		return fmt.Errorf("client: stored reset keys: %w", err)
	}
	defer rp.Wipe()
	now := e.now()
	if now.Sub(time.UnixMilli(rp.Time)) >= resetRedrawAfter {
		// The version the chat calls for; but where that is 0x01 the
		// versions alternate: the peer may have turned the KEM ratchet on
		// after our backup, and then it refuses 0x01 as a downgrade
		// (spec/client.md §13.2).
		nrp, err := ratchet.NewReset(e.rcfg, now.UnixMilli(), e.resetPQ(&ct, meta) || !rp.PQ())
		if err != nil {
			return err
		}
		defer nrp.Wipe()
		rp.Wipe()
		rp = nrp
		meta.ResetKeys = rp.Marshal()
		name := "your contact"
		if ct.Nickname != "" {
			name = SanitizeLine(ct.Nickname)
		}
		if err := e.putNotice(tx, c, "This chat's session restart has had no answer from "+name+" for 21 days; it was offered again. Until "+name+" answers, your messages here stay queued. If they no longer use veil, or their clock is far behind, burn the chat and invite them again."); err != nil {
			return err
		}
	}
	id, err := e.newID()
	if err != nil {
		return err
	}
	return tx.PutOutbox(&vault.OutboxItem{ID: id, ChatID: c.ID, Payload: rp.Message(self, remote), Created: now, NextTry: now})
}

// holdMessage stores our message m without sending it while the chat
// waits for its reset to complete; it reports false when the chat is not
// waiting. An out-of-date copy is refused (spec/client.md §13.5).
func holdMessage(tx *vault.Tx, chat string, m *vault.Message) (bool, error) {
	meta, err := getMeta(tx, chat)
	if err != nil {
		return false, err
	}
	if meta.Outdated {
		return false, ErrOutdated
	}
	if meta.ResetKeys == nil {
		return false, nil
	}
	meta.Held = append(meta.Held, m.ID)
	if err := tx.PutMessage(m); err != nil {
		return false, err
	}
	return true, putMeta(tx, chat, &meta)
}

// flushHeld queues our held messages on the new session s, in order.
func (e *Engine) flushHeld(tx *vault.Tx, s *ratchet.Session, chat string, meta *chatMeta) error {
	for _, id := range meta.Held {
		m, err := tx.Message(chat, id)
		if errors.Is(err, vault.ErrNotFound) {
			continue // deleted or expired meanwhile
		}
		if err != nil {
			return err
		}
		if m.Deleted || m.Direction != vault.Outgoing {
			continue
		}
		if err := e.requeue(tx, s, &m); err != nil {
			return err
		}
	}
	meta.Held = nil
	return nil
}

// requeue seals our message m again, on session s, as what it was (a
// TEXT, REPLY, TIMER or FILE: resendEnvelope) with the timer it has left.
// A text too long for s, or a file whose keys are gone, is marked failed.
func (e *Engine) requeue(tx *vault.Tx, s *ratchet.Session, m *vault.Message) error {
	w, _ := outgoingWireID(m.ID)
	var ttl uint32
	if !m.Expires.IsZero() {
		ttl = uint32(max(m.Expires.Sub(e.now()), time.Second) / time.Second)
	}
	env, err := resendEnvelope(m, w, ttl)
	if err == nil {
		err = e.queue(tx, s, m.ChatID, m.ID, env)
	}
	if env == nil || errors.Is(err, ratchet.ErrTooLong) {
		m.Status = vault.StatusFailed
		return tx.PutMessage(m)
	}
	return err
}

// putNotice stores a line from veil itself in chat c (spec/client.md
// §13.6) and stores c.
func (e *Engine) putNotice(tx *vault.Tx, c *vault.Chat, text string) error {
	_, err := e.notice(tx, c, text)
	if err != nil {
		return err
	}
	return tx.PutChat(c)
}

func (e *Engine) notice(tx *vault.Tx, c *vault.Chat, text string) (string, error) {
	id, err := e.newID()
	if err != nil {
		return "", err
	}
	now := e.now()
	m := vault.Message{ID: id, ChatID: c.ID, Direction: vault.Incoming, Body: []byte(text), Sent: now, Received: now, Status: vault.StatusDelivered}
	if err := tx.PutMessage(&m); err != nil {
		return "", err
	}
	c.Unread++
	c.LastActive = now
	return id, nil
}

// notice stores a line from veil itself in the chat and reports it as a
// session_reset event (spec/client.md §13.6).
func (r *rx) notice(text string) error {
	id, err := r.e.notice(r.tx, r.chat, text)
	if err != nil {
		return err
	}
	r.event(Event{Type: EventSessionReset, Message: id, Text: text})
	return nil
}

func (r *rx) peerName() string {
	if r.ct.Nickname != "" {
		return SanitizeLine(r.ct.Nickname)
	}
	return "your contact"
}

// resetOffer handles a reset message from the peer (spec/client.md §13.3):
// verify, refuse replays, break a tie with our own pending offer, then
// answer as the joiner of a fresh handshake with our existing identity key.
// cur is the chat's current session; on every refusal it stays.
func (r *rx) resetOffer(body []byte, cur *ratchet.Session) error {
	r.sess = cur
	// Verify first: nothing an offer claims is shown before its signature
	// checks out.
	o, err := ratchet.ParseReset(body, cur.Remote(), cur.Local())
	if err != nil {
		r.event(Event{Type: EventWarning, Err: "dropped a session restart that is not signed by this contact"})
		return nil
	}
	r.authed = true
	self, err := ratchet.ParseIdentity(r.ct.OurIdentity)
	if err != nil {
		r.event(Event{Type: EventWarning, Err: r.peerName() + " restored veil from a backup, but this chat was made by an older veil that cannot restart its session: burn it and invite again"})
		return nil
	}
	defer self.Wipe()
	if o.Time <= r.meta.PeerResetTime {
		return nil // a replay, or older than one already seen (spec/session.md §13.3)
	}
	if o.Time > r.e.now().Add(maxResetSkew).UnixMilli() {
		r.event(Event{Type: EventWarning, Err: "dropped a session restart from " + r.peerName() + " dated more than a day ahead of this device's clock: one of the two clocks is wrong"})
		return nil
	}
	if cur.PQ().On && !o.PQ() && !r.meta.Restored && r.meta.ResetKeys == nil {
		// A downgrade: the restarted session would lose post-quantum
		// healing (spec/client.md §13.3). Nothing changes, so the offer
		// is refused again if it comes again. A restored copy does not
		// refuse: its session is the stale one of its backup, which says
		// nothing of the chat, and the peer's offer may win the tie below;
		// the session it makes turns on through FEATURES.
		r.event(Event{Type: EventWarning, Err: r.peerName() + " offered to restart the chat without post-quantum healing (an older veil or an old backup); refused, since this chat has it (or someone with their keys is trying to weaken it): if " + r.peerName() + " runs an older veil, ask them to update veil; an old backup offers it again with post-quantum healing after 21 days"})
		return nil
	}
	r.meta.PeerResetTime, r.meta.PeerResetID = o.Time, o.ID[:]
	if r.meta.ResetKeys != nil && bytes.Compare(cur.Local().Bytes(), cur.Remote().Bytes()) < 0 {
		// Both copies were restored: the smaller identity key's offer
		// wins, and its owner answers nothing (spec/session.md §13.3).
		return nil
	}
	ns, err := ratchet.AcceptReset(r.e.rcfg, self, cur.Remote(), o)
	if err != nil {
		return err
	}
	if !r.meta.Restored {
		r.meta.Superseded, r.meta.SupersededNewer = r.ct.Ratchet, false
		r.meta.SupersededUntil = r.e.now().Add(supersededFor)
	}
	r.sess = ns
	reannouncePQ(r.meta, ns)
	if err := r.requeueOutbox(ns); err != nil {
		return err
	}
	if err := r.e.queue(r.tx, ns, r.chat.ID, "", &format.Envelope{Type: format.EnvSession, Kind: format.SessionRestarted}); err != nil {
		return err
	}
	switch {
	case r.meta.ResetKeys != nil:
		// Both restored, and the peer's key is the smaller: its offer
		// wins if it was live. Ours stays until the peer either uses this
		// session (its offer was live) or answers ours (it was a replay
		// of an offer it no longer holds), spec/session.md §13.3.
		r.meta.Yielded = true
	case r.meta.Restored:
		r.meta.Restored = false
		if err := r.e.flushHeld(r.tx, ns, r.chat.ID, r.meta); err != nil {
			return err
		}
	}
	return r.notice(restoreNotice(r.peerName()))
}

// requeueOutbox seals again on the new session ns what the chat's outbox
// holds, sealed by the session the reset replaced (spec/client.md §13.3):
// our messages still queued, with their current text, then the edits and
// deletions of our earlier messages, as their current state, in their
// order. Deleted messages are not sent again; other items (receipts,
// control messages) are dropped; our own reset offer, if one is
// outstanding, stays.
func (r *rx) requeueOutbox(ns *ratchet.Session) error {
	items, err := r.tx.Outbox()
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, it := range items {
		if it.ChatID != r.chat.ID || ratchet.IsReset(it.Payload) {
			continue
		}
		if err := r.tx.DeleteOutbox(it.ID); err != nil {
			return err
		}
		id := it.MessageID
		if id == "" {
			id = it.Changes
		}
		if id == "" || done[id] {
			continue
		}
		m, err := r.tx.Message(r.chat.ID, id)
		if errors.Is(err, vault.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if m.Direction != vault.Outgoing {
			continue
		}
		done[id] = true
		switch {
		case it.MessageID != "" && m.Deleted:
			// Never delivered: nothing to send, nor to delete.
		case it.MessageID != "":
			err = r.e.requeue(r.tx, ns, &m)
		default:
			w, _ := outgoingWireID(m.ID)
			env := &format.Envelope{Type: format.EnvEdit, ID: w, Text: string(m.Body)}
			if m.Deleted {
				env = &format.Envelope{Type: format.EnvDelete, ID: w}
			}
			err = r.e.queueChange(r.tx, ns, r.chat.ID, m.ID, env)
			if errors.Is(err, ratchet.ErrTooLong) {
				err = nil // an edit too long for an initial message is lost
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// settleYield ends a tie we yielded (spec/session.md §13.3): the peer
// used the session we answered, so its offer was live and ours is
// dropped; our held messages go on that session.
func (r *rx) settleYield(s *ratchet.Session) error {
	if rp, err := ratchet.ParseResetPrivate(r.meta.ResetKeys); err == nil {
		rp.Wipe()
	}
	r.meta.ResetKeys, r.meta.Yielded, r.meta.Restored = nil, false, false
	if err := dropOffer(r.tx, r.chat.ID); err != nil {
		return err
	}
	return r.e.flushHeld(r.tx, s, r.chat.ID, r.meta)
}

// dropOffer deletes our reset offer for chat from the outbox, if it is
// still there: the reset it offered is settled.
func dropOffer(tx *vault.Tx, chat string) error {
	items, err := tx.Outbox()
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.ChatID == chat && ratchet.IsReset(it.Payload) {
			if err := tx.DeleteOutbox(it.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// resetAnswer completes our pending reset with the peer's answer, an
// initial message (spec/client.md §13.4). It reports false when body is
// not that answer; the caller then treats it as any other message.
func (r *rx) resetAnswer(body []byte, cur *ratchet.Session) (bool, error) {
	rp, err := ratchet.ParseResetPrivate(r.meta.ResetKeys)
	if err != nil {
		return false, fmt.Errorf("client: stored reset keys: %w", err)
	}
	defer rp.Wipe()
	self, err := ratchet.ParseIdentity(r.ct.OurIdentity)
	if err != nil {
		return false, fmt.Errorf("client: stored identity key: %w", err)
	}
	defer self.Wipe()
	ns, pt, err := ratchet.CompleteReset(r.e.rcfg, self, cur.Remote(), rp, body)
	if err != nil {
		return false, nil
	}
	r.sess, r.authed = ns, true
	r.meta.ResetKeys, r.meta.Yielded, r.meta.Restored = nil, false, false
	reannouncePQ(r.meta, ns)
	// Every offer of the peer made before now is stale: refuse a late or
	// replayed one (spec/session.md §13.3 rule 1).
	r.meta.PeerResetTime = max(r.meta.PeerResetTime, rp.Time, r.e.now().UnixMilli())
	if err := dropOffer(r.tx, r.chat.ID); err != nil {
		return false, err
	}
	if env, err := format.ParseEnvelope(pt); err == nil {
		if err := r.apply(env); err != nil {
			return false, err
		}
	}
	// A reply at once ends the answerer's initial phase (spec/client.md
	// §13.4).
	if err := r.e.queue(r.tx, ns, r.chat.ID, "", &format.Envelope{Type: format.EnvSession, Kind: format.SessionRestarted}); err != nil {
		return false, err
	}
	if err := r.e.flushHeld(r.tx, ns, r.chat.ID, r.meta); err != nil {
		return false, err
	}
	return true, r.notice(restoreNotice("You"))
}

// reannouncePQ readies a chat whose reset made a session that is off
// (version 0x01) to turn it on through FEATURES (spec/client.md §13.2):
// bit 2 as announced on the replaced session leaves sent_features, so
// that it is announced again on the new one, and peer_features, until
// the peer announces it there. The session itself is not turned on.
func reannouncePQ(m *chatMeta, ns *ratchet.Session) {
	if !ns.PQ().On {
		m.SentFeatures &^= format.FeaturePQ
		m.PeerFeatures &^= format.FeaturePQ
	}
}

// oldCopy tries a message that the current session cur refused on the
// other session the chat keeps after a reset of the peer
// (spec/client.md §13.5). It reports whether body opened there, and then
// handles it:
//
//   - the other session is the reset's, set aside: the offerer uses it
//     after all, and it becomes the chat's session again;
//   - cur is the reset's session and the offerer has never used it: the
//     peer did not take our answer (a late or replayed offer, or a copy
//     still catching up), so the chat goes back to the other session and
//     keeps the reset's aside;
//   - otherwise an out-of-date copy of the peer's profile sent it: it is
//     dropped, the user warned, and that copy told on its own session
//     that it is out of date.
func (r *rx) oldCopy(body []byte, cur *ratchet.Session) (bool, error) {
	if r.meta.Superseded == nil {
		return false, nil
	}
	if !r.e.now().Before(r.meta.SupersededUntil) {
		forgetSuperseded(r.meta)
		return false, nil
	}
	old, err := ratchet.ParseSession(r.e.rcfg, r.meta.Superseded)
	if err != nil {
		return false, fmt.Errorf("client: stored superseded session: %w", err)
	}
	pt, err := old.Decrypt(body)
	if err != nil {
		old.Wipe()
		return false, nil
	}
	r.authed = true
	if r.meta.SupersededNewer || cur.AwaitingReply() {
		r.meta.Superseded, r.meta.SupersededNewer = cur.Marshal(), !r.meta.SupersededNewer
		r.sess = old
		env, perr := format.ParseEnvelope(pt)
		if perr != nil {
			r.event(Event{Type: EventWarning, Err: "dropped a malformed message"})
			return true, nil
		}
		return true, r.apply(env)
	}
	defer old.Wipe()
	if err := r.e.queue(r.tx, old, r.chat.ID, "", &format.Envelope{Type: format.EnvSession, Kind: format.SessionOutdated}); err != nil {
		return false, err
	}
	r.meta.Superseded = old.Marshal()
	r.event(Event{Type: EventWarning, Err: "dropped a message from an out-of-date copy of " + r.peerName() + "'s profile: they restored veil from a backup but still use the old copy too, which can no longer reach you; it has been told"})
	return true, nil
}

// sweepSuperseded forgets every session a reset replaced whose 21 days
// are over (spec/client.md §13.3).
func (e *Engine) sweepSuperseded(ctx context.Context, now time.Time) error {
	return e.v.Update(ctx, func(tx *vault.Tx) error {
		chats, err := tx.Chats()
		if err != nil {
			return err
		}
		for _, c := range chats {
			if c.Kind != vault.ChatDirect {
				continue
			}
			m, err := getMeta(tx, c.ID)
			if err != nil {
				return err
			}
			if m.Superseded == nil || now.Before(m.SupersededUntil) {
				continue
			}
			forgetSuperseded(&m)
			if err := putMeta(tx, c.ID, &m); err != nil {
				return err
			}
		}
		return nil
	})
}

// forgetSuperseded drops the session a reset replaced (secret).
func forgetSuperseded(m *chatMeta) {
	clear(m.Superseded) // best effort: Go may have copied it
	m.Superseded, m.SupersededUntil, m.SupersededNewer = nil, time.Time{}, false
}

// outdated marks this copy out of date after the peer said so on our own
// session (spec/client.md §13.5), unless this is a restored copy whose
// reset is not through.
func (r *rx) outdated() error {
	if r.meta.Outdated || r.meta.ResetKeys != nil || r.meta.Restored {
		// A restored copy's own reset is not through: "outdated" sealed
		// on its stale session says only that the peer saw the original.
		return nil
	}
	r.meta.Outdated = true
	r.event(Event{Type: EventWarning, Err: ErrOutdated.Error()})
	return r.notice("This copy of the profile is out of date: " + r.peerName() + " now talks to a copy restored from a backup. This copy can no longer send or read in this chat.")
}

// restoredGroup queues an update of our keys in a group of a restored
// profile, once, before its first send (spec/client.md §13.7): our sender
// chain is the backup's, which the original may have used past.
func restoredGroup(tx *vault.Tx, chat string, g *groupState) error {
	meta, err := getMeta(tx, chat)
	if err != nil || !meta.Restored {
		return err
	}
	if g.cur.roster == nil || g.gone {
		return nil
	}
	g.propose(groupIntent{Change: format.ChangeUpdate})
	meta.Restored = false
	return putMeta(tx, chat, &meta)
}
