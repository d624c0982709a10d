package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
	"veil/vault"
)

// Moving one of our mailboxes to a fresh one, on the same relay
// (rotation) or another (move), in band (spec/client.md §7.6): we make
// the new mailbox and offer it with MOVE; the peer sends MOVED only
// there, which proves it works for the peer's capability, and switches
// the slot once the relay took it; the MOVED (or any message on the new
// mailbox) tells us, and the old mailbox is deleted after a grace.

// ErrMoveUnsupported is returned for a move in a chat whose peer has not
// said it understands MOVE.
var ErrMoveUnsupported = errors.New("client: the peer's veil cannot move mailboxes (it has not announced the feature)")

// ErrMoveInProgress is returned while an earlier move of the chat waits
// for the peer.
var ErrMoveInProgress = errors.New("client: a move of this chat is still waiting for the peer")

// relayNew makes a mailbox on the relay of c (NEW). Every new 1:1
// mailbox is made here, so that the relay's password is looked up in one
// place.
func (e *Engine) relayNew(ctx context.Context, c *conn.Conn, relay string, key crypto.SignPrivate) (rid, sid crypto.ID, err error) {
	pws, err := e.passwordsFor(ctx, relay)
	if err != nil {
		return rid, sid, err
	}
	err = pws.try(func(pw wire.Password) (err error) {
		rid, sid, err = c.New(ctx, key, pw)
		return err
	})
	if err != nil {
		return rid, sid, err
	}
	return rid, sid, e.savePasswords(ctx, pws)
}

// ourMailbox is a mailbox of ours made for a slot, secured with the
// capability we hand to the peer.
type ourMailbox struct {
	relay string
	rid   crypto.ID
	sid   crypto.ID
	key   crypto.SignPrivate
	cap   [wire.CapSize]byte
}

// newSecuredMailbox makes a mailbox on relay and secures it with a fresh
// capability (as a joiner does, spec/client.md §4.2).
func (e *Engine) newSecuredMailbox(ctx context.Context, relay string) (*ourMailbox, error) {
	c, err := e.pool.get(ctx, relay)
	if err != nil {
		return nil, err
	}
	m := &ourMailbox{relay: relay}
	if m.key, err = crypto.GenerateSign(e.cfg.Rand); err != nil {
		return nil, err
	}
	if err := e.random(m.cap[:]); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	if m.rid, m.sid, err = e.relayNew(cctx, c, relay, m.key); err != nil {
		return nil, fmt.Errorf("client: creating a mailbox: %w", relayErr(relay, err))
	}
	// Until the caller records the mailbox (and drops this task in the
	// same transaction, unqueueDel), a DEL task stands for it: a client
	// stopped in between leaves no mailbox behind (spec/client.md §7.6).
	// It is held while the caller may still record the mailbox.
	if err := e.v.Update(ctx, func(tx *vault.Tx) error {
		return addTasks(tx, task{Kind: "del", Relay: relay, ID: m.rid[:], Key: m.key.Seed(), Setup: e.now()})
	}); err != nil {
		_ = c.Delete(cctx, m.rid, m.key)
		return nil, err
	}
	if err := c.SecureSender(cctx, m.sid, &m.cap); err != nil {
		_ = c.Delete(cctx, m.rid, m.key)
		return nil, fmt.Errorf("client: securing a mailbox: %w", relayErr(relay, err))
	}
	return m, nil
}

// unqueueDel drops the DEL task newSecuredMailbox stored for mailbox
// rid, which the transaction tx records.
func unqueueDel(tx *vault.Tx, rid crypto.ID) error {
	ts, err := getTasks(tx)
	if err != nil {
		return err
	}
	keep := ts[:0]
	for _, t := range ts {
		if t.Kind != "del" || string(t.ID) != string(rid[:]) {
			keep = append(keep, t)
		}
	}
	if len(keep) == len(ts) {
		return nil
	}
	return putTasks(tx, keep)
}

func (m *ourMailbox) slotCap(slot uint8) format.SlotCap {
	return format.SlotCap{Slot: slot, SID: m.sid, Cap: m.cap, Relay: m.relay}
}

// rotateAt returns when a mailbox made at t is next replaced:
// 7 days ± 12 hours, uniformly.
func (e *Engine) rotateAt(t time.Time) time.Time {
	return t.Add(rotateEvery - rotateJitter + e.randDuration(2*rotateJitter))
}

// randDuration returns a uniform duration in [0, d).
func (e *Engine) randDuration(d time.Duration) time.Duration {
	var b [8]byte
	if e.random(b[:]) != nil || d <= 0 {
		return d / 2
	}
	n := new(big.Int).SetBytes(b[:])
	return time.Duration(n.Mod(n, big.NewInt(int64(d))).Int64())
}

// MoveChat offers the peer a new mailbox of ours for slot on relay (the
// slot's own relay when empty: a rotation). Slot 1 of a chat on one relay
// adds a second relay. The old mailbox is deleted once the peer switched.
func (e *Engine) MoveChat(ctx context.Context, ref string, slot int, relay string) error {
	if slot < 0 || slot >= format.MaxSlots {
		return badInput("a chat has slots 0 and 1")
	}
	var chatID string
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		c, err := resolveChat(tx, ref)
		if err != nil {
			return err
		}
		if c.Kind != vault.ChatDirect {
			return badInput("only a 1:1 chat moves this way")
		}
		chatID = c.ID
		return nil
	})
	if err != nil {
		return err
	}
	if relay != "" {
		if relay, err = e.pickRelay(ctx, relay); err != nil {
			return err
		}
	}
	return e.move(ctx, chatID, uint8(slot), relay)
}

// RotateChat replaces every mailbox of ours in the chat by a fresh one on
// the same relay, one slot after the other: the first now, the next once
// the peer switched to the first (Run's timers).
func (e *Engine) RotateChat(ctx context.Context, ref string) error {
	var chatID string
	var first = -1
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		c, err := resolveChat(tx, ref)
		if err != nil {
			return err
		}
		ct, err := tx.Contact(c.ContactID)
		if err != nil {
			return err
		}
		chatID = c.ID
		now := e.now()
		for _, rc := range liveRecv(&ct) {
			if first < 0 {
				first = int(rc.Slot)
			}
			rc.RotateAt = now
		}
		return tx.PutContact(&ct)
	})
	if err != nil {
		return err
	}
	if first < 0 {
		return ErrNotJoined
	}
	return e.move(ctx, chatID, uint8(first), "")
}

// envelopeRelay refuses a relay whose address is too long for the
// envelopes that name our mailboxes (HELLO, HELLO2, MOVE: spec/client.md
// §5.12), though the relay would take it: checked before any NEW.
func envelopeRelay(addr string) error {
	if len(addr) > format.MaxAddressSize {
		return badInput("the relay address %s is %d bytes long; a chat's relay address may be at most %d bytes", shortRelay(addr), len(addr), format.MaxAddressSize)
	}
	return nil
}

// move makes the new mailbox and queues the MOVE that offers it.
func (e *Engine) move(ctx context.Context, chatID string, slot uint8, relay string) error {
	e.moveMu.Lock()
	defer e.moveMu.Unlock()
	var meta chatMeta
	err := e.viewChat(ctx, chatID, func(tx *vault.Tx, _ *vault.Chat) error {
		ct, err := tx.Contact(chatID)
		if err != nil {
			return err
		}
		if len(ct.Ratchet) == 0 {
			return ErrNotJoined
		}
		if meta, err = getMeta(tx, chatID); err != nil {
			return err
		}
		for _, rc := range recvCaps(&ct) {
			if rc.Offer != nil {
				return ErrMoveInProgress
			}
		}
		var cur *vault.RelayCap
		for _, rc := range liveRecv(&ct) {
			if rc.Slot == slot {
				cur = rc
			}
		}
		if relay == "" {
			if cur == nil {
				return badInput("the chat has no slot %d: name its relay", slot)
			}
			relay = cur.Address
		}
		return nil
	})
	if err != nil {
		return err
	}
	if meta.PeerFeatures&format.FeatureMove == 0 || (slot > 0 && meta.PeerFeatures&format.FeatureTwoSlots == 0) {
		return ErrMoveUnsupported
	}
	if meta.ResetKeys != nil || meta.Outdated {
		return errors.New("client: the chat's session is restarting; move it afterwards")
	}
	if err := envelopeRelay(relay); err != nil {
		return err
	}
	m, err := e.newSecuredMailbox(ctx, relay)
	if err != nil {
		return err
	}
	var id format.MoveID
	if err := e.random(id[:]); err != nil {
		return err
	}
	now := e.now()
	err = e.withSession(ctx, chatID, func(tx *vault.Tx, s *txSession) error {
		if err := unqueueDel(tx, m.rid); err != nil {
			return err
		}
		s.ct.Relays = append(s.ct.Relays, vault.RelayCap{Address: relay, RecvID: m.rid[:], RecvKey: m.key.Seed(),
			Slot: slot, Created: now, Offer: id[:]})
		env := &format.Envelope{Type: format.EnvMove, Move: id, Slots: []format.SlotCap{m.slotCap(slot)}}
		return e.queue(tx, s.sess, chatID, "", env)
	})
	if err != nil {
		if c, cerr := e.pool.get(ctx, relay); cerr == nil {
			_ = c.Delete(ctx, m.rid, m.key)
		}
		return err
	}
	e.mailboxesChanged(relay)
	e.kickOutbox()
	return nil
}

// ---- the peer's side: a MOVE arrives ----

// peerMove takes the peer's MOVE: the new mailbox waits as pending, and
// MOVED goes there alone; the slot switches once the relay took it
// (movedSent). At most one MOVE per slot an hour is taken.
func (r *rx) peerMove(env *format.Envelope) error {
	sc := env.Slots[0]
	// A mailbox on a relay only this machine or network can reach, in a
	// chat that uses none such, would make us connect where the peer
	// points inside our own network: refused (spec/client.md §7.6).
	if reach := peerRelayReach(sc.Relay, chatRelays(r.ct)...); !sc.Drop() && reach != "" {
		r.moveIgnored(sc.Slot, r.peerName()+" asked to move a mailbox to "+shortRelay(sc.Relay)+
			", a relay only "+reach+" can reach: ignored")
		return nil
	}
	// Nothing goes out on a stale session (spec/client.md §13.2), so no
	// MOVED could confirm it: the offer is not taken, and the peer offers
	// again after its 21 days.
	if r.meta.ResetKeys != nil || r.meta.Outdated {
		r.moveIgnored(sc.Slot, r.peerName()+" asked to move a mailbox while this chat's session restarts: ignored")
		return nil
	}
	key := fmt.Sprint(sc.Slot)
	now := r.e.now()
	if last, ok := r.meta.LastMove[key]; ok && now.Sub(time.Unix(last, 0)) < peerMoveEvery && !now.Before(time.Unix(last, 0)) {
		r.moveIgnored(sc.Slot, r.peerName()+" moved a mailbox again within the hour: ignored")
		return nil
	}
	if r.meta.LastMove == nil {
		r.meta.LastMove = map[string]int64{}
	}
	r.meta.LastMove[key] = now.Unix()
	if sc.Drop() {
		if len(sendSlots(r.ct)) < 2 {
			return nil // the last mailbox is never dropped
		}
		removeRelays(r.ct, func(rc *vault.RelayCap) bool { return len(rc.SendID) > 0 && rc.Slot == sc.Slot })
		return nil
	}
	removeRelays(r.ct, func(rc *vault.RelayCap) bool { return rc.Pending != nil && rc.Slot == sc.Slot })
	r.ct.Relays = append(r.ct.Relays, vault.RelayCap{Address: sc.Relay, SendID: sc.SID[:], SendCred: sc.Cap[:], Slot: sc.Slot, Pending: env.Move[:]})
	moved := &format.Envelope{Type: format.EnvMoved, Move: env.Move, Slot: sc.Slot}
	return r.e.queueItem(r.tx, r.sess, &vault.OutboxItem{ChatID: r.chat.ID, Route: moveRoute(env.Move)}, moved)
}

// moveIgnored warns that a MOVE for slot was ignored, at most once per
// slot per peerMoveEvery: a peer cannot flood us with warnings.
func (r *rx) moveIgnored(slot uint8, text string) {
	key := fmt.Sprint(slot)
	now := r.e.now()
	if last, ok := r.meta.MoveWarned[key]; ok && now.Sub(time.Unix(last, 0)) < peerMoveEvery && !now.Before(time.Unix(last, 0)) {
		return
	}
	if r.meta.MoveWarned == nil {
		r.meta.MoveWarned = map[string]int64{}
	}
	r.meta.MoveWarned[key] = now.Unix()
	r.event(Event{Type: EventWarning, Err: text})
}

// routeMove returns the move ID of an item's route.
func routeMove(route string) ([]byte, bool) {
	const p = "move:"
	if len(route) <= len(p) || route[:len(p)] != p {
		return nil, false
	}
	id, err := hex.DecodeString(route[len(p):])
	return id, err == nil && len(id) == format.MoveIDSize
}

// movedSent: the peer's new mailbox took our MOVED, so it works: it
// replaces the slot's old one.
func (e *Engine) movedSent(ctx context.Context, it *vault.OutboxItem) error {
	id, _ := routeMove(it.Route)
	return e.v.Update(ctx, func(tx *vault.Tx) error {
		if err := tx.DeleteOutbox(it.ID); err != nil {
			return err
		}
		ct, err := tx.Contact(it.ChatID)
		if errors.Is(err, vault.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		p := pendingSend(&ct, id)
		if p == nil {
			return nil
		}
		slot := p.Slot
		p.Pending = nil
		removeRelays(&ct, func(rc *vault.RelayCap) bool {
			return len(rc.SendID) > 0 && rc.Pending == nil && rc.Slot == slot && rc != p
		})
		// One message on the new mailbox alone, so that the peer hears
		// from us there even in a quiet chat and can delete the old one
		// (spec/client.md §7.6).
		meta, err := getMeta(tx, it.ChatID)
		if err != nil {
			return err
		}
		if meta.ResetKeys == nil && !meta.Outdated && len(ct.Ratchet) > 0 {
			sess, err := e.ratchetOf(&ct)
			if err != nil {
				return err
			}
			env := &format.Envelope{Type: format.EnvFeatures, Features: format.Features}
			if err := e.queueItem(tx, sess, &vault.OutboxItem{ChatID: it.ChatID, Route: slotRoute(slot)}, env); err != nil {
				return err
			}
			ct.Ratchet = sess.Marshal()
		}
		return tx.PutContact(&ct)
	})
}

// movedFailed: the peer's new mailbox refused our MOVED (or stayed
// unreachable): the old one is kept.
func (e *Engine) movedFailed(ctx context.Context, it *vault.OutboxItem) error {
	id, _ := routeMove(it.Route)
	nick := ""
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		if err := tx.DeleteOutbox(it.ID); err != nil {
			return err
		}
		ct, err := tx.Contact(it.ChatID)
		if errors.Is(err, vault.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		nick = SanitizeLine(ct.Nickname)
		removeRelays(&ct, func(rc *vault.RelayCap) bool { return rc.Pending != nil && string(rc.Pending) == string(id) })
		return tx.PutContact(&ct)
	})
	if err == nil {
		if nick == "" {
			nick = "the peer"
		}
		e.emit(ctx, Event{Type: EventWarning, Chat: it.ChatID, Err: nick + "'s new mailbox does not work; keeping the old one"})
	}
	return err
}

// ---- our side: the peer confirms ----

// confirmOffer makes our offered mailbox the slot's; the one it replaces
// drains for retireGrace, then is deleted (rotateDue).
func (r *rx) confirmOffer(rc *vault.RelayCap) { confirmOffer(r.e, r.ct, rc) }

func confirmOffer(e *Engine, ct *vault.Contact, rc *vault.RelayCap) {
	now := e.now()
	for _, old := range liveRecv(ct) {
		if old.Slot == rc.Slot {
			old.Retire = now.Add(retireGrace)
		}
	}
	rc.Offer = nil
	rc.RotateAt = e.rotateAt(now)
}

// ---- Run's timers ----

// rotateDue runs the moves that are due (spec/client.md §7.6): it sends
// our feature bits once per chat, schedules each mailbox's rotation,
// deletes retired mailboxes (past their grace and quiet for a minute) and
// offers that were never confirmed, and
// starts at most one rotation per chat.
func (e *Engine) rotateDue(ctx context.Context) {
	now := e.now()
	type due struct {
		chat string
		slot uint8
	}
	var rotate []due
	var feats []string
	changed := map[string]bool{}
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		rotate, feats = nil, nil
		clear(changed)
		cs, err := tx.Contacts()
		if err != nil {
			return err
		}
		for i := range cs {
			ct := &cs[i]
			if len(ct.Ratchet) == 0 {
				continue
			}
			meta, err := getMeta(tx, ct.ID)
			if err != nil {
				return err
			}
			if meta.Restored || meta.ResetKeys != nil || meta.Outdated {
				continue
			}
			if format.Features&^meta.SentFeatures != 0 {
				feats = append(feats, ct.ID)
			}
			dirty, busy := false, false
			// A retired mailbox goes only once the peer was heard on the
			// slot's new one: until then it may still be the peer's. Its
			// slot is not rotated meanwhile, so that a quiet chat keeps
			// at most one such per slot; it goes anyway retireGiveUp
			// after its grace.
			waiting := map[uint8]bool{}
			heard := map[uint8]bool{}
			for _, rc := range liveRecv(ct) {
				heard[rc.Slot] = heard[rc.Slot] || rc.Heard
			}
			var tasks []task
			removeRelays(ct, func(rc *vault.RelayCap) bool {
				if len(rc.RecvID) == 0 {
					return false
				}
				retired := !rc.Retire.IsZero() && !now.Before(rc.Retire)
				gone := retired && heard[rc.Slot] && e.health.quiet(crypto.ID(rc.RecvID), now) ||
					retired && !now.Before(rc.Retire.Add(retireGiveUp)) ||
					rc.Offer != nil && now.Sub(rc.Created) >= offerGiveUp
				waiting[rc.Slot] = waiting[rc.Slot] || !rc.Retire.IsZero() && !gone
				if gone {
					tasks = append(tasks, task{Kind: "del", Relay: rc.Address, ID: rc.RecvID, Key: rc.RecvKey})
					changed[rc.Address] = true
					dirty = true
				}
				busy = busy || rc.Offer != nil && !gone
				return gone
			})
			if len(tasks) > 0 {
				if err := addTasks(tx, tasks...); err != nil {
					return err
				}
			}
			var next *vault.RelayCap
			for _, rc := range liveRecv(ct) {
				if rc.RotateAt.IsZero() {
					// Never scheduled: somewhere in the next week, so
					// that chats made before do not rotate at once.
					rc.RotateAt = now.Add(e.randDuration(rotateEvery))
					dirty = true
				}
				if next == nil && !now.Before(rc.RotateAt) && !waiting[rc.Slot] {
					next = rc
				}
			}
			if next != nil && !busy && meta.PeerFeatures&format.FeatureMove != 0 {
				rotate = append(rotate, due{ct.ID, next.Slot})
			}
			if dirty {
				if err := tx.PutContact(ct); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			e.emit(ctx, Event{Type: EventWarning, Err: err.Error()})
		}
		return
	}
	for a := range changed {
		e.mailboxesChanged(a)
	}
	for _, chat := range feats {
		e.sendFeatures(ctx, chat)
	}
	for _, d := range rotate {
		if err := e.move(ctx, d.chat, d.slot, ""); err != nil && ctx.Err() == nil && !isConnErr(err) {
			e.emit(ctx, Event{Type: EventWarning, Chat: d.chat, Err: "could not rotate a mailbox: " + err.Error()})
		}
	}
	if len(changed) > 0 || len(feats) > 0 {
		e.kickOutbox()
	}
}

// sendFeatures queues FEATURES in a chat where our current feature bits
// exceed those we last announced there (spec/client.md §5.13).
func (e *Engine) sendFeatures(ctx context.Context, chatID string) {
	_ = e.withSession(ctx, chatID, func(tx *vault.Tx, s *txSession) error {
		meta, err := getMeta(tx, chatID)
		if err != nil || format.Features&^meta.SentFeatures == 0 {
			return err
		}
		meta.SentFeatures = format.Features
		if err := putMeta(tx, chatID, &meta); err != nil {
			return err
		}
		return e.queue(tx, s.sess, chatID, "", &format.Envelope{Type: format.EnvFeatures, Features: format.Features})
	})
}

// chatRelays returns the addresses of ct's relays, ours and the peer's.
func chatRelays(ct *vault.Contact) []string {
	out := make([]string, 0, len(ct.Relays))
	for _, rc := range ct.Relays {
		out = append(out, rc.Address)
	}
	return out
}
