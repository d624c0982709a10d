package client

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
	"veil/relay/conn"
	"veil/relay/wire"
	"veil/vault"
)

// maxTaskTries bounds how often a task (spec/client.md §7.3) is retried
// before it is given up: the relay's own expiry cleans up after it.
const maxTaskTries = 200

// setupStale is how long a task standing for a step under way is held
// (task.Setup): far longer than the step's few relay commands take.
const setupStale = 10 * time.Minute

// cdelTimeout bounds one run of a cdel task: its CDELs are pipelined.
const cdelTimeout = 5 * time.Minute

// queue encrypts env as the session's next message and stores it in the
// outbox, inside the caller's transaction: the new ratchet state (which the
// caller stores), the message and the outbox item commit together
// (spec/client.md §7.3).
func (e *Engine) queue(tx *vault.Tx, sess *ratchet.Session, chat, msgID string, env *format.Envelope) error {
	return e.queueItem(tx, sess, &vault.OutboxItem{ChatID: chat, MessageID: msgID}, env)
}

// queueChange is queue for an edit or deletion of our message msgID,
// which a session reset seals again (spec/client.md §13.3).
func (e *Engine) queueChange(tx *vault.Tx, sess *ratchet.Session, chat, msgID string, env *format.Envelope) error {
	return e.queueItem(tx, sess, &vault.OutboxItem{ChatID: chat, Changes: msgID}, env)
}

func (e *Engine) queueItem(tx *vault.Tx, sess *ratchet.Session, it *vault.OutboxItem, env *format.Envelope) error {
	pt, err := env.Marshal()
	if err != nil {
		return err
	}
	ct, err := sess.Encrypt(pt)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	id, err := e.newID()
	if err != nil {
		return err
	}
	now := e.now()
	it.ID, it.Payload, it.Created, it.NextTry = id, ct, now, now
	return tx.PutOutbox(it)
}

// kickOutbox wakes Run's outbox loop, if it is running.
func (e *Engine) kickOutbox() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.outKick != nil {
		select {
		case e.outKick <- struct{}{}:
		default:
		}
	}
}

// QueuedCount returns how many of our messages wait to be handed to a
// relay, over every chat and group: 1:1 messages in the outbox (receipts
// and other control messages are not counted) and group entries not yet
// appended to their log.
func (e *Engine) QueuedCount(ctx context.Context) (int, error) {
	n := 0
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		items, err := tx.Outbox()
		if err != nil {
			return err
		}
		for _, it := range items {
			if it.MessageID != "" {
				n++
			}
		}
		g, err := groupQueued(tx)
		n += g
		return err
	})
	return n, err
}

// groupQueued counts the group entries not yet appended to their logs.
func groupQueued(tx *vault.Tx) (int, error) {
	groups, err := tx.Groups()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, g := range groups {
		if isRosterID(g.ID) {
			continue // a roster stored apart, not a group
		}
		var rec struct {
			Out []json.RawMessage `json:"out"`
		}
		if err := json.Unmarshal(g.State, &rec); err != nil {
			return 0, errors.New("client: corrupt group record")
		}
		n += len(rec.Out)
	}
	return n, nil
}

// dest is where a chat's messages go: one mailbox of the peer's per
// slot, and the mailboxes its MOVEs offered, by route.
type dest struct {
	slots    []slotDest
	route    map[string]slotDest // Route → a mailbox offered by the peer's MOVE
	needSKey bool
	skeyDone uint8 // slots secured while needSKey (spec/client.md §4.2)
	joining  bool  // our first message to an inviter is not yet in (spec/client.md §4.2)
}

// slotDest is one mailbox of the peer's.
type slotDest struct {
	slot  uint8
	relay string
	sid   crypto.ID
	cap   [wire.CapSize]byte
}

func toSlotDest(rc *vault.RelayCap) slotDest {
	sd := slotDest{slot: rc.Slot, relay: rc.Address}
	copy(sd.sid[:], rc.SendID)
	copy(sd.cap[:], rc.SendCred)
	return sd
}

// targets returns the mailboxes an item goes to: every slot, or only
// the mailbox of its route.
func (d *dest) targets(it *vault.OutboxItem) []slotDest {
	if it.Route == "" {
		return d.slots
	}
	if sd, ok := d.route[it.Route]; ok {
		return []slotDest{sd}
	}
	if s, ok := routeSlot(it.Route); ok {
		for _, sd := range d.slots {
			if sd.slot == s {
				return []slotDest{sd}
			}
		}
	}
	return nil
}

// Flush tries once to hand every queued message and task to its relay,
// whatever its back-off says. It returns how many remain queued and the
// first connection error, if any. Run flushes on its own; Flush is for
// one-shot use.
func (e *Engine) Flush(ctx context.Context) (int, error) {
	return e.flush(ctx, true)
}

func (e *Engine) flush(ctx context.Context, force bool) (int, error) {
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	var items []vault.OutboxItem
	var tasks []task
	dests := map[string]*dest{}
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		var err error
		if items, err = tx.Outbox(); err != nil {
			return err
		}
		if tasks, err = getTasks(tx); err != nil {
			return err
		}
		for _, it := range items {
			if _, ok := dests[it.ChatID]; ok {
				continue
			}
			dests[it.ChatID] = nil
			ct, err := tx.Contact(it.ChatID)
			if errors.Is(err, vault.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			ss := sendSlots(&ct)
			if len(ss) == 0 {
				continue
			}
			meta, err := getMeta(tx, it.ChatID)
			if err != nil {
				return err
			}
			d := &dest{needSKey: meta.NeedSKey, skeyDone: meta.SKeyDone, joining: meta.JoinKey != "", route: map[string]slotDest{}}
			for _, sc := range ss {
				d.slots = append(d.slots, toSlotDest(sc))
			}
			for i := range ct.Relays {
				if rc := &ct.Relays[i]; rc.Pending != nil && len(rc.Pending) == format.MoveIDSize {
					d.route[moveRoute(format.MoveID(rc.Pending))] = toSlotDest(rc)
				}
			}
			dests[it.ChatID] = d
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	now := e.now()
	down := map[string]error{}
	var firstErr error
	left := 0
	for i := range items {
		it := &items[i]
		d := dests[it.ChatID]
		var targets []slotDest
		if d != nil {
			targets = d.targets(it)
		}
		if len(targets) == 0 {
			// The chat is gone (burned, expired), or the mailbox a
			// MOVED was for: nothing to send to.
			if err := e.v.Update(ctx, func(tx *vault.Tx) error { return tx.DeleteOutbox(it.ID) }); err != nil {
				return left, err
			}
			continue
		}
		if !force && it.NextTry.After(now) {
			left++
			continue
		}
		var want, broken uint8
		var permErr, tempErr error
		for _, sd := range targets {
			bit := uint8(1) << sd.slot
			want |= bit
			if it.Done&bit != 0 || down[sd.relay] != nil {
				continue
			}
			err := e.sendSlot(ctx, it, d, &sd)
			switch {
			case err == nil:
				it.Done |= bit
				for _, chat := range e.health.ok(sd.relay) {
					e.emit(ctx, Event{Type: EventChatRelayUp, Chat: chat, Relay: shortRelay(sd.relay)})
				}
				if d.joining {
					d.joining = false
					e.joinAccepted(ctx, it.ChatID)
				}
			case isCode(err, wire.CodeNotSecured) && it.Route == "":
				d.needSKey = true
				d.skeyDone &^= bit
				e.setNeedSKey(ctx, it.ChatID, true, d.skeyDone)
				tempErr = err
			case sendRefused(err, it.Route != ""):
				// Permanent: the peer's mailbox is gone or was secured by
				// someone else. Retrying cannot help.
				if d.joining && isCode(err, wire.CodeAuth) {
					d.joining = false
					e.joinRefused(ctx, it.ChatID)
				}
				broken |= bit
				permErr = err
			default:
				tempErr = err
				if !heldBack(err) {
					e.health.failed(sd.relay, now, e.cfg.SlotDownAfter)
				}
				if isConnErr(err) {
					down[sd.relay] = err
				}
				if firstErr == nil {
					firstErr = err
				}
			}
		}
		missing := want &^ (it.Done | broken)
		if broken != 0 && broken != want {
			e.slotRefused(ctx, it.ChatID, targets, broken, permErr)
		}
		switch {
		case missing == 0 && it.Done != 0:
			if err := e.sent(ctx, it); err != nil {
				return left, err
			}
		case missing == 0:
			if err := e.failed(ctx, it, permErr); err != nil {
				return left, err
			}
		case e.slotsDown(ctx, it.ChatID, targets, missing, now) && it.Done != 0:
			// The other slot took it; the copies for a relay down this
			// long are given up (spec/client.md §7.3).
			if err := e.sent(ctx, it); err != nil {
				return left, err
			}
		case it.Route != "" && now.Sub(it.Created) >= offerGiveUp:
			// A MOVED is retried while the peer may still wait for it:
			// the relay may have stored one whose reply was lost, and the
			// peer then leaves the old mailbox (spec/client.md §7.6).
			if err := e.failed(ctx, it, tempErr); err != nil {
				return left, err
			}
		default:
			left++
			if err := e.retry(ctx, it, tempErr); err != nil {
				return left, err
			}
		}
	}
	n, err := e.runTasks(ctx, tasks, force, down)
	if firstErr == nil {
		firstErr = err
	}
	if force {
		// Run's group loop appends queued group entries on its own.
		g, err := e.flushGroups(ctx)
		if firstErr == nil {
			firstErr = err
		}
		n += g
	}
	return left + n, firstErr
}

// sendRefused reports whether a SEND's error is permanent
// (spec/client.md §7.3): the peer's mailbox is gone or secured by someone
// else, or the item can never be taken. NOT_SECURED is permanent only for
// a MOVED (route): otherwise the client secures the mailbox again.
func sendRefused(err error, route bool) bool {
	switch {
	case isCode(err, wire.CodeAuth), isCode(err, wire.CodeNotFound), isCode(err, wire.CodeBadSize),
		isCode(err, wire.CodeMalformed), isCode(err, wire.CodeUnknown):
		return true
	}
	return route && isCode(err, wire.CodeNotSecured)
}

// heldBack reports whether err is our own routing holding an item back
// (spec/client.md §7.7), which says nothing of the relay's health: the
// item waits, and its copies are not given up as for a relay down.
func heldBack(err error) bool {
	return errors.Is(err, errNoForward) || errors.Is(err, errRouteHeld)
}

// sendSlot hands one item to one mailbox of the peer's, securing it
// first while the chat needs that.
func (e *Engine) sendSlot(ctx context.Context, it *vault.OutboxItem, d *dest, sd *slotDest) error {
	c, err := e.deliver(ctx, sd.relay, it.ChatID)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	if d.needSKey && it.Route == "" && d.skeyDone&(1<<sd.slot) == 0 {
		err = e.secure(cctx, c, it.ChatID, d, sd)
	}
	if err == nil {
		err = c.Send(cctx, sd.sid, &sd.cap, it.Payload)
	}
	if isConnErr(err) {
		c.drop()
	}
	return err
}

// slotRefused warns, once per relay and chat while the engine runs, that
// one of the peer's mailboxes refuses for good while another takes the
// messages.
func (e *Engine) slotRefused(ctx context.Context, chat string, targets []slotDest, broken uint8, cause error) {
	for _, sd := range targets {
		if broken&(1<<sd.slot) != 0 && e.health.refusedOnce(sd.relay, chat) {
			e.emit(ctx, Event{Type: EventWarning, Chat: chat, Relay: shortRelay(sd.relay),
				Err: "the peer's mailbox on " + shortRelay(sd.relay) + " refuses messages for good (" + cause.Error() + "); its other relay carries the chat"})
		}
	}
}

// slotsDown reports whether the relay of every slot in missing has been
// failing for at least SlotDownAfter, and tells the chat once per relay.
func (e *Engine) slotsDown(ctx context.Context, chat string, targets []slotDest, missing uint8, now time.Time) bool {
	all := true
	for _, sd := range targets {
		if missing&(1<<sd.slot) == 0 {
			continue
		}
		since := e.health.downSince(sd.relay, now, e.cfg.SlotDownAfter)
		if since.IsZero() {
			all = false
			continue
		}
		if len(targets) > 1 && e.health.tell(sd.relay, chat) {
			e.emit(ctx, Event{Type: EventChatRelayDown, Chat: chat, Relay: shortRelay(sd.relay), Since: since})
		}
	}
	return all
}

// flushGroups appends every group's queued entries (our messages sent
// while the group's relay was unreachable) and returns how many of our
// messages remain queued.
func (e *Engine) flushGroups(ctx context.Context) (int, error) {
	var ids []string
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		chats, err := tx.Chats()
		if err != nil {
			return err
		}
		for _, c := range chats {
			if c.Kind != vault.ChatGroup {
				continue
			}
			grp, err := tx.Group(c.GroupID)
			if err != nil {
				continue // removed: nothing queued
			}
			var rec struct {
				Out []json.RawMessage `json:"out"`
			}
			if json.Unmarshal(grp.State, &rec) == nil && len(rec.Out) > 0 {
				ids = append(ids, c.ID)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var firstErr error
	for _, id := range ids {
		err := e.withGroup(ctx, id, func(*groupState, *groupRecord, *conn.Conn, *vault.Chat) ([]Event, error) { return nil, nil })
		if err != nil && firstErr == nil && !errors.Is(err, ErrNoChat) {
			firstErr = err
		}
	}
	if len(ids) == 0 {
		return 0, firstErr
	}
	n := 0
	err = e.v.View(ctx, func(tx *vault.Tx) error {
		var err error
		n, err = groupQueued(tx)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, firstErr
}

// secure secures the peer's mailbox with our capability (the joiner's side
// of spec/client.md §4.2). ALREADY_SECURED may be our own earlier SKEY
// whose reply was lost; it is noted, and if it was someone else's, the
// SEND that follows fails with AUTH and joinRefused raises the alarm.
func (e *Engine) secure(ctx context.Context, c *courier, chat string, d *dest, sd *slotDest) error {
	err := c.SecureSender(ctx, sd.sid, &sd.cap)
	if err != nil && !isCode(err, wire.CodeAlreadySecured) {
		return err
	}
	if err != nil && d.joining {
		e.noteSKeyTaken(ctx, chat)
	}
	d.skeyDone |= 1 << sd.slot
	all := true
	for _, o := range d.slots {
		all = all && d.skeyDone&(1<<o.slot) != 0
	}
	if all {
		d.needSKey, d.skeyDone = false, 0
	}
	e.setNeedSKey(ctx, chat, d.needSKey, d.skeyDone)
	return nil
}

// setNeedSKey stores whether the peer's mailboxes still need our SKEY,
// and which slots have had it.
func (e *Engine) setNeedSKey(ctx context.Context, chat string, v bool, done uint8) {
	_ = e.v.Update(ctx, func(tx *vault.Tx) error {
		m, err := getMeta(tx, chat)
		if err != nil || m.NeedSKey == v && m.SKeyDone == done {
			return err
		}
		m.NeedSKey, m.SKeyDone = v, done
		return putMeta(tx, chat, &m)
	})
}

// sent records that the relay stored it durably.
func (e *Engine) sent(ctx context.Context, it *vault.OutboxItem) error {
	if _, ok := routeMove(it.Route); ok {
		return e.movedSent(ctx, it)
	}
	var ev *Event
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		ev = nil
		if err := tx.DeleteOutbox(it.ID); err != nil {
			return err
		}
		return e.setStatus(tx, it, vault.StatusSent, &ev)
	})
	if err == nil && ev != nil {
		e.emit(ctx, *ev)
	}
	return err
}

func (e *Engine) failed(ctx context.Context, it *vault.OutboxItem, cause error) error {
	if _, ok := routeMove(it.Route); ok {
		return e.movedFailed(ctx, it)
	}
	var ev *Event
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		ev = nil
		if err := tx.DeleteOutbox(it.ID); err != nil {
			return err
		}
		return e.setStatus(tx, it, vault.StatusFailed, &ev)
	})
	if err != nil {
		return err
	}
	if ev != nil {
		e.emit(ctx, *ev)
	}
	e.emit(ctx, Event{Type: EventWarning, Chat: it.ChatID, Err: "the relay refused a message for good (" + cause.Error() + "): the peer's mailbox is gone or was taken over"})
	return nil
}

// setStatus moves the item's message forward to st (never back), and
// reports the change in *ev.
func (e *Engine) setStatus(tx *vault.Tx, it *vault.OutboxItem, st vault.Status, ev **Event) error {
	if it.MessageID == "" {
		return nil
	}
	m, err := tx.Message(it.ChatID, it.MessageID)
	if errors.Is(err, vault.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if m.Status >= st && st != vault.StatusFailed {
		return nil
	}
	m.Status = st
	if err := tx.PutMessage(&m); err != nil {
		return err
	}
	*ev = &Event{Type: EventStatus, Chat: it.ChatID, Message: m.ID, Status: statusName(st)}
	return nil
}

// retry stores the item for another try after its back-off; once one
// slot took it, its message shows as sent.
func (e *Engine) retry(ctx context.Context, it *vault.OutboxItem, _ error) error {
	it.Attempts++
	it.NextTry = e.now().Add(retryDelay(it.Attempts))
	var ev *Event
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		ev = nil
		if err := tx.PutOutbox(it); err != nil {
			return err
		}
		if it.Done != 0 {
			return e.setStatus(tx, it, vault.StatusSent, &ev)
		}
		return nil
	})
	if err == nil && ev != nil {
		e.emit(ctx, *ev)
	}
	return err
}

// runTasks runs the tasks that outlive their chats: BURN messages and
// mailbox deletions (spec/client.md §7.3).
func (e *Engine) runTasks(ctx context.Context, tasks []task, force bool, down map[string]error) (int, error) {
	if len(tasks) == 0 {
		return 0, nil
	}
	now := e.now()
	var firstErr error
	// Results go back by identity: the list may have lost or gained
	// tasks anywhere while these ran.
	done := map[string]int{}
	changed := map[string][]task{}
	for _, t := range tasks {
		if t.held(now) || (!force && t.NextTry.After(now)) || now.Before(t.NotBefore) || down[t.Relay] != nil {
			continue
		}
		err := e.runTask(ctx, &t)
		switch {
		case err == nil, isCode(err, wire.CodeAuth), isCode(err, wire.CodeNotFound), isCode(err, wire.CodeBadSize), isCode(err, wire.CodeMalformed):
			done[t.key()]++ // finished, or can never succeed
		default:
			if isConnErr(err) {
				down[t.Relay] = err
			}
			if firstErr == nil {
				firstErr = err
			}
			t.Tries++
			t.NextTry = now.Add(retryDelay(t.Tries))
			if t.Tries > maxTaskTries {
				done[t.key()]++
			} else {
				changed[t.key()] = append(changed[t.key()], t)
			}
		}
	}
	if len(done) == 0 && len(changed) == 0 {
		return len(tasks) - timed(tasks, now), firstErr
	}
	left := 0
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		cur, err := getTasks(tx)
		if err != nil {
			return err
		}
		var keep []task
		for _, t := range cur {
			k := t.key()
			if done[k] > 0 {
				done[k]--
				continue
			}
			if cs := changed[k]; len(cs) > 0 {
				t, changed[k] = cs[0], cs[1:]
			}
			keep = append(keep, t)
		}
		left = len(keep) - timed(keep, now)
		return putTasks(tx, keep)
	})
	if err != nil {
		return len(tasks), err
	}
	return left, firstErr
}

// timed counts the tasks held back until a time (task.NotBefore): they
// wait for a timer, not for a relay, and are not reported as queued.
func timed(ts []task, now time.Time) int {
	n := 0
	for i := range ts {
		if now.Before(ts[i].NotBefore) {
			n++
		}
	}
	return n
}

// runTask runs t: a SEND to someone else's mailbox goes as every message
// does (its own connection, private routing), a DEL of ours on the
// receiving connection.
func (e *Engine) runTask(ctx context.Context, t *task) error {
	id, err := crypto.ParseID(t.ID)
	if err != nil {
		return &wire.Error{Code: wire.CodeMalformed}
	}
	if t.Kind == "cdel" {
		ctx, cancel := context.WithTimeout(ctx, cdelTimeout)
		defer cancel()
		return e.runCDel(ctx, t)
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	switch t.Kind {
	case "send":
		var capb [wire.CapSize]byte
		if len(t.Key) != len(capb) {
			return &wire.Error{Code: wire.CodeMalformed}
		}
		copy(capb[:], t.Key)
		iso := t.Chat
		if iso == "" {
			iso = hex.EncodeToString(t.ID) // a task stored before it named its chat
		}
		c, err := e.deliver(ctx, t.Relay, iso)
		if err != nil {
			return err
		}
		return c.Send(ctx, id, &capb, t.Payload)
	case "del":
		k, err := crypto.ParseSignPrivate(t.Key)
		if err != nil {
			return &wire.Error{Code: wire.CodeMalformed}
		}
		c, err := e.pool.get(ctx, t.Relay)
		if err != nil {
			return err
		}
		return c.Delete(ctx, id, k)
	}
	return &wire.Error{Code: wire.CodeMalformed}
}
