package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
	"veil/vault"
)

// receive decrypts one message from a contact's mailbox and applies it:
// the message, the new ratchet state and any reply (receipts) are stored
// in one vault transaction before the relay is acked (spec/client.md §7.4).
// It reports whether the relay copy may be acked: true when the message was
// stored, or was a duplicate or garbage that will never decrypt; false when
// the vault failed, so the relay delivers it again.
func (e *Engine) receive(ctx context.Context, contact string, body []byte) bool {
	return e.receiveOn(ctx, contact, crypto.ID{}, body)
}

// receiveOn is receive for a message that came from our mailbox rid. A
// copy already received (through the chat's other mailbox, or replayed by
// a relay) is dropped by its delivery ID before decryption
// (spec/client.md §7.5).
func (e *Engine) receiveOn(ctx context.Context, contact string, rid crypto.ID, body []byte) bool {
	var evs []Event
	var burned bool
	var rxs *rx
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		evs, burned, rxs = nil, false, nil
		ct, err := tx.Contact(contact)
		if errors.Is(err, vault.ErrNotFound) {
			return nil // burned or expired: drop
		}
		if err != nil {
			return err
		}
		chat, err := tx.Chat(contact)
		if errors.Is(err, vault.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		meta, err := getMeta(tx, contact)
		if err != nil {
			return err
		}
		for _, rc := range recvCaps(&ct) {
			if !rc.Retire.IsZero() && crypto.ID(rc.RecvID) == rid {
				e.health.drained(rid, e.now())
			}
		}
		did := format.DeliveryID(body)
		if seen, err := tx.SeenDelivery(contact, did); err != nil || seen {
			// A copy of a message that authenticated shows nothing: a
			// relay can replay an old body onto any mailbox, so it
			// neither confirms an offer nor marks a mailbox heard.
			return err
		}
		r := &rx{e: e, tx: tx, ct: &ct, chat: &chat, meta: &meta}
		rxs = r
		if len(ct.Ratchet) == 0 {
			if !meta.Pending || !ratchet.IsInitial(body) {
				return nil
			}
			ok, err := r.hello(body)
			if err != nil || !ok {
				evs = r.evs
				return err
			}
		} else {
			sess, err := e.ratchetOf(&ct)
			if err != nil {
				return err
			}
			if err := r.established(sess, body); err != nil {
				return err
			}
			evs = r.evs
			if r.authed && !r.burned {
				if !r.moved {
					confirmOn(e, &ct, rid)
				}
				heardOn(&ct, rid, r.moved)
			}
		}
		// Only a body that authenticated is recorded (spec/client.md
		// §7.5), so that a relay cannot fill the vault with garbage; a
		// MOVED is not, so that its copy sent again after a lost reply is
		// never taken for a message on the new mailbox.
		if r.authed && !r.moved {
			if err := tx.PutDelivery(contact, did, e.now().Add(deliveryExpiry)); err != nil {
				return err
			}
		}
		if r.sess == nil {
			return nil // dropped; nothing changed
		}
		if r.burned {
			burned = true
			evs = r.evs
			return e.forgetChatTx(tx, &ct)
		}
		ct.Ratchet = r.sess.Marshal()
		if err := tx.PutContact(&ct); err != nil {
			return err
		}
		if err := tx.PutChat(&chat); err != nil {
			return err
		}
		if err := putMeta(tx, chat.ID, &meta); err != nil {
			return err
		}
		evs = r.evs
		return nil
	})
	if err != nil {
		e.emit(ctx, Event{Type: EventWarning, Chat: contact, Err: "could not store a message, it stays on the relay: " + err.Error()})
		return false
	}
	if burned {
		if err := e.v.DeleteChat(ctx, contact); err != nil && !errors.Is(err, vault.ErrNotFound) {
			e.emit(ctx, Event{Type: EventWarning, Chat: contact, Err: err.Error()})
		}
	}
	if rxs != nil {
		for _, a := range rxs.changed {
			e.mailboxesChanged(a)
		}
	}
	for _, ev := range evs {
		e.emit(ctx, ev)
	}
	if len(evs) > 0 || rxs != nil && len(rxs.changed) > 0 {
		e.kickOutbox()
		e.kickTransfers()
	}
	if burned {
		e.stopTransfers(contact)
	}
	return true
}

// confirmOn confirms our offered mailbox rid, if it is one: a new
// authenticated message of the peer's arrived there, so the peer switched
// to it (spec/client.md §7.6). It reports whether anything changed.
func confirmOn(e *Engine, ct *vault.Contact, rid crypto.ID) bool {
	for _, rc := range recvCaps(ct) {
		if rc.Offer != nil && crypto.ID(rc.RecvID) == rid {
			confirmOffer(e, ct, rc)
			return true
		}
	}
	return false
}

// heardOn marks our live mailbox rid heard (vault.RelayCap.Heard) unless
// moved (the message was a MOVED), and reports whether that changed
// anything.
func heardOn(ct *vault.Contact, rid crypto.ID, moved bool) bool {
	if moved {
		return false
	}
	for _, rc := range liveRecv(ct) {
		if crypto.ID(rc.RecvID) == rid && !rc.Heard {
			rc.Heard = true
			return true
		}
	}
	return false
}

// established handles a message for a chat whose session exists: a
// session reset and its answer (spec/client.md §13), then the Double
// Ratchet. It leaves r.sess nil when the message is dropped and nothing is
// to be stored.
func (r *rx) established(sess *ratchet.Session, body []byte) error {
	if ratchet.IsReset(body) {
		return r.resetOffer(body, sess)
	}
	if r.meta.ResetKeys != nil && ratchet.IsInitial(body) {
		ok, err := r.resetAnswer(body, sess)
		if err != nil || ok {
			return err
		}
	}
	pt, err := sess.Decrypt(body)
	switch {
	case errors.Is(err, ratchet.ErrDuplicate):
		return nil
	case err != nil && r.peerRestarted(body):
		// spec/client.md §13.5: not authenticated, so only a warning.
		r.event(Event{Type: EventWarning, Err: r.peerName() + " restarted this chat's session with another copy of this profile, restored from a backup: this copy may be out of date"})
		return nil
	case errors.Is(err, ratchet.ErrConflictingInitial):
		// spec/session.md §8: a second, different handshake for an
		// existing session. Unauthenticated, so it proves nothing,
		// but the user should compare safety codes now.
		r.event(Event{Type: EventWarning, Err: "a second, different handshake arrived for this chat: the invite may have been intercepted; compare safety codes (veil verify)"})
		return nil
	case err != nil:
		r.sess = sess
		had := r.meta.Superseded != nil
		if ok, oerr := r.oldCopy(body, sess); oerr != nil || ok {
			return oerr
		}
		if !had || r.meta.Superseded != nil {
			r.sess = nil // nothing changed: store nothing
		}
		r.event(Event{Type: EventWarning, Err: "dropped a message that does not authenticate"})
		return nil
	}
	r.sess, r.authed = sess, true
	if r.meta.Yielded {
		if err := r.settleYield(sess); err != nil {
			return err
		}
	}
	env, perr := format.ParseEnvelope(pt)
	if perr != nil {
		r.event(Event{Type: EventWarning, Err: "dropped a malformed message"})
		return nil
	}
	return r.apply(env)
}

// peerRestarted reports whether body is an initial message that claims
// the peer's own identity key: the peer answered a reset of another copy
// of this profile (spec/client.md §13.5).
func (r *rx) peerRestarted(body []byte) bool {
	id, ok := ratchet.InitialIdentity(body)
	return ok && bytes.Equal(id.Bytes(), r.ct.TheirIdentity)
}

// rx is the state of one receive transaction.
type rx struct {
	e      *Engine
	tx     *vault.Tx
	ct     *vault.Contact
	chat   *vault.Chat
	meta   *chatMeta
	sess   *ratchet.Session
	evs    []Event
	burned bool
	// authed is set once the message authenticated (a session's, a
	// HELLO's or a signed restart); moved when it was a MOVED.
	authed bool
	moved  bool
	// changed holds relays on which mailboxes of ours were dropped.
	changed []string
}

func (r *rx) event(ev Event) {
	ev.Chat, ev.Name = r.chat.ID, SanitizeLine(r.chat.Name)
	if ev.From == "" && r.ct.Nickname != "" {
		ev.From = SanitizeLine(r.ct.Nickname)
	}
	r.evs = append(r.evs, ev)
}

// hello completes our invite with the joiner's first message
// (spec/client.md §4.3). It reports false when the message is not a valid
// HELLO (the invite then stays open), and an error when the vault fails.
func (r *rx) hello(body []byte) (bool, error) {
	bp, err := ratchet.ParseBundlePrivate(r.ct.OurIdentity)
	if err != nil {
		return false, fmt.Errorf("client: stored invite keys: %w", err)
	}
	defer bp.Wipe()
	sess, pt, err := ratchet.Respond(r.e.rcfg, bp, body)
	if err != nil {
		return false, nil
	}
	env, err := format.ParseEnvelope(pt)
	if err != nil || env.Type != format.EnvHello && env.Type != format.EnvHello2 {
		return false, nil
	}
	r.sess, r.authed = sess, true
	var relays []vault.RelayCap
	for _, rc := range recvCaps(r.ct) {
		relays = append(relays, *rc)
	}
	if len(relays) == 0 {
		return false, errors.New("client: pending invite without a mailbox")
	}
	// A mailbox on a relay only this machine or network can reach is
	// refused unless the invite's relay is one such (spec/client.md
	// §4.1); a HELLO left with none is not taken.
	inviteRelay := relays[0].Address
	var theirs []vault.RelayCap
	var refused []string
	if env.Type == format.EnvHello {
		env.Slots = []format.SlotCap{{SID: env.SID, Cap: env.Cap, Relay: env.Relay}}
	}
	for _, sc := range env.Slots {
		if reach := peerRelayReach(sc.Relay, inviteRelay); reach != "" {
			refused = append(refused, shortRelay(sc.Relay)+" (only "+reach+" can reach it)")
			continue
		}
		theirs = append(theirs, vault.RelayCap{Address: sc.Relay, SendID: sc.SID[:], SendCred: sc.Cap[:], Slot: sc.Slot})
	}
	for _, rr := range refused {
		r.event(Event{Type: EventWarning, Err: "the joiner's mailbox on " + rr + " is ignored"})
	}
	if len(theirs) == 0 {
		r.sess, r.authed = nil, false
		return false, nil
	}
	if env.Type == format.EnvHello {
		// A version 1 answer: our other reply mailboxes are deleted on
		// their relays (DEL tasks).
		for _, rc := range relays[1:] {
			if err := addTasks(r.tx, task{Kind: "del", Relay: rc.Address, ID: rc.RecvID, Key: rc.RecvKey}); err != nil {
				return false, err
			}
			r.changed = append(r.changed, rc.Address)
		}
		relays = relays[:1]
	} else {
		// HELLO2 answers a version 2 blob, which carried our features
		// (recorded with the invite; an invite made by a version that did
		// not record them carried MOVE and two slots).
		r.meta.PeerFeatures = env.Features
		if r.meta.SentFeatures == 0 {
			r.meta.SentFeatures = format.FeatureMove | format.FeatureTwoSlots
		}
		if err := r.enablePQ(env.Features); err != nil {
			return false, err
		}
	}
	relays = append(relays, theirs...)
	r.ct.Relays = relays
	r.ct.Nickname = env.Nick
	r.ct.TheirIdentity = sess.Remote().Bytes()
	// The one-time keys are used up (ratchet.Respond); the identity key
	// stays, for a session reset (spec/client.md §13).
	r.ct.OurIdentity = bp.Identity.Marshal()
	r.meta.Pending, r.meta.InviteKey = false, ""
	r.chat.LastActive = r.e.now()
	r.event(Event{Type: EventContactJoined})
	// The receipt is the inviter's first message: it ends the joiner's
	// initial phase.
	return true, r.queueReceipt(format.ReceiptDelivered, env.ID)
}

func (r *rx) queueReceipt(kind byte, ids ...format.WireID) error {
	if r.meta.ResetKeys != nil || r.meta.Outdated {
		return nil // nothing goes out on a stale session (spec/client.md §13.2)
	}
	return r.e.queue(r.tx, r.sess, r.chat.ID, "", &format.Envelope{Type: format.EnvReceipt, Kind: kind, IDs: ids})
}

// apply applies one envelope of an established session.
func (r *rx) apply(env *format.Envelope) error {
	now := r.e.now()
	switch env.Type {
	case format.EnvText, format.EnvReply:
		id := r.e.incomingID(env.ID)
		sent, unsure := sentTime(env.ID, now, r.chat.Created) // spec/client.md §6
		m := vault.Message{ID: id, ChatID: r.chat.ID, Direction: vault.Incoming, Sender: r.ct.ID,
			Body: []byte(env.Text), Sent: sent, Received: now, Status: vault.StatusDelivered}
		mm := msgMeta{SentUnsure: unsure}
		if env.Type == format.EnvReply {
			mm.Reply = hex.EncodeToString(env.Target[:]) // resolved when shown, §5.8
		}
		setMeta(&m, &mm)
		if env.TTL > 0 {
			if r.meta.TTLs == nil {
				r.meta.TTLs = map[string]int64{}
			}
			r.meta.TTLs[id] = int64(min(time.Duration(env.TTL)*time.Second, maxTTL) / time.Second)
		}
		if err := r.tx.PutMessage(&m); err != nil {
			return err
		}
		r.chat.Unread++
		r.chat.LastActive = now
		r.event(Event{Type: EventMessage, Message: id, Text: Sanitize(env.Text), Sent: sent})
		return r.queueReceipt(format.ReceiptDelivered, env.ID)
	case format.EnvFile:
		return r.file(env, now)
	case format.EnvEdit, format.EnvDelete:
		m, ok, err := r.findIncoming(env.ID)
		if err != nil || !ok || m.Deleted {
			return err
		}
		if env.Type == format.EnvEdit {
			m.Body, m.Edited = []byte(env.Text), now
			r.event(Event{Type: EventEdited, Message: m.ID, Text: Sanitize(env.Text)})
		} else {
			if fm, _ := fileOf(&m); fm != nil {
				if err := dropFileTx(r.tx, r.chat.ID, &m, fm, false); err != nil {
					return err
				}
			}
			m.Body, m.Deleted = nil, true
			delete(r.meta.TTLs, m.ID)
			r.event(Event{Type: EventDeleted, Message: m.ID})
		}
		return r.tx.PutMessage(&m)
	case format.EnvReceipt:
		st := vault.StatusDelivered
		if env.Kind == format.ReceiptRead {
			st = vault.StatusRead
		}
		for _, w := range env.IDs {
			id := hex.EncodeToString(w[:])
			m, err := r.tx.Message(r.chat.ID, id)
			if errors.Is(err, vault.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if m.Direction != vault.Outgoing || m.Status >= st && m.Status != vault.StatusFailed {
				continue
			}
			m.Status = st
			if err := r.tx.PutMessage(&m); err != nil {
				return err
			}
			r.event(Event{Type: EventStatus, Message: id, Status: statusName(st)})
		}
	case format.EnvReact:
		return r.react(env)
	case format.EnvTimer:
		return r.timer(env)
	case format.EnvBurn:
		r.burned = true
		r.event(Event{Type: EventChatBurned})
	case format.EnvHello:
		// A repeated HELLO on an established session changes nothing.
	case format.EnvHello2:
		// Nor does a repeated HELLO2, but for the KEM ratchet it announces.
		return r.enablePQ(env.Features)
	case format.EnvFeatures:
		if r.meta.PeerFeatures&format.FeatureMove != 0 && env.Features&format.FeatureMove == 0 {
			// Said once, when the bit goes: our mailboxes stop rotating.
			r.event(Event{Type: EventWarning, Err: r.peerName() + "'s veil no longer announces moving mailboxes: this chat's mailboxes stop rotating"})
		}
		r.meta.PeerFeatures = env.Features
		return r.enablePQ(env.Features)
	case format.EnvMove:
		return r.peerMove(env)
	case format.EnvMoved:
		r.moved = true
		if rc := offered(r.ct, env.Move[:]); rc != nil && rc.Slot == env.Slot {
			r.confirmOffer(rc)
		}
	case format.EnvSession:
		if env.Kind == format.SessionOutdated {
			return r.outdated()
		}
	}
	return nil
}

// findIncoming finds the peer's message with wire ID w (spec/client.md §6).
func (r *rx) findIncoming(w format.WireID) (vault.Message, bool, error) {
	suffix := "-" + hex.EncodeToString(w[:])
	ms, err := r.tx.Messages(r.chat.ID, 0)
	if err != nil {
		return vault.Message{}, false, err
	}
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Direction == vault.Incoming && strings.HasSuffix(ms[i].ID, suffix) {
			return ms[i], true, nil
		}
	}
	return vault.Message{}, false, nil
}

func statusName(s vault.Status) string {
	switch s {
	case vault.StatusPending:
		return "queued"
	case vault.StatusSent:
		return "sent"
	case vault.StatusDelivered:
		return "delivered"
	case vault.StatusRead:
		return "read"
	case vault.StatusFailed:
		return "failed"
	}
	return "unknown"
}

// enablePQ turns on the KEM ratchet of the chat's session when the peer
// announced it in features (spec/client.md §5.13); the caller stores the
// session in the transaction that takes the message. A session that is on
// stays on, whatever the peer announces later.
func (r *rx) enablePQ(features uint16) error {
	if features&format.FeaturePQ == 0 || r.sess == nil {
		return nil
	}
	if err := r.sess.EnablePQ(); err != nil {
		return fmt.Errorf("client: turning on post-quantum healing: %w", err)
	}
	return nil
}
