package client

import (
	"context"
	"errors"
	"time"

	"veil/crypto"
	"veil/vault"
)

// Sweep applies every timer that has run out (spec/client.md §8): chats
// past their deadline and invites past theirs are erased with their keys
// and mailboxes, and disappearing messages are deleted. Open calls it, and
// Run calls it every SweepEvery.
func (e *Engine) Sweep(ctx context.Context) error {
	now := e.now()
	type doomed struct {
		id, name string
		ev       EventType
	}
	var ds []doomed
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		chats, err := tx.Chats()
		if err != nil {
			return err
		}
		for _, c := range chats {
			if c.Kind != vault.ChatDirect {
				// A group's deadline is applied by its sync, except for a
				// group we were removed from, which has none.
				if c.Kind == vault.ChatGroup && !c.Deadline.IsZero() && !now.Before(c.Deadline) {
					if m, err := getMeta(tx, c.ID); err == nil && m.Removed {
						ds = append(ds, doomed{c.ID, c.Name, EventChatExpired})
					}
				}
				continue
			}
			m, err := getMeta(tx, c.ID)
			if err != nil {
				return err
			}
			_, cerr := tx.Contact(c.ContactID)
			switch {
			case !c.Deadline.IsZero() && !now.Before(c.Deadline):
				ds = append(ds, doomed{c.ID, c.Name, EventChatExpired})
			case m.Pending && !m.InviteUntil.IsZero() && !now.Before(m.InviteUntil):
				ds = append(ds, doomed{c.ID, c.Name, EventInviteExpired})
			case errors.Is(cerr, vault.ErrNotFound):
				ds = append(ds, doomed{c.ID, c.Name, ""}) // an interrupted burn
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, d := range ds {
		if err := e.eraseChat(ctx, d.id); err != nil {
			return err
		}
		if d.ev != "" {
			e.emit(ctx, Event{Type: d.ev, Chat: d.id, Name: SanitizeLine(d.name)})
		}
	}
	e.stopExpiredUploads(ctx, now)
	if err := e.expireOffers(ctx, now); err != nil {
		return err
	}
	if _, err = e.v.SweepExpired(ctx); err != nil {
		return err
	}
	if err := e.sweepSuperseded(ctx, now); err != nil {
		return err
	}
	return e.checkVerified(ctx)
}

// eraseChat erases a chat at once: its contact (keys, ratchet state) and
// metadata go in one transaction that also queues the deletion of our
// mailbox on the relay; then the vault deletes the chat's key, which makes
// every stored body unreadable (spec/vault.md §6, spec/client.md §8.3).
func (e *Engine) eraseChat(ctx context.Context, chat string, extra ...task) error {
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		ct, err := tx.Contact(chat)
		if errors.Is(err, vault.ErrNotFound) {
			return deleteMeta(tx, chat)
		}
		if err != nil {
			return err
		}
		if len(extra) > 0 {
			if err := addTasks(tx, extra...); err != nil {
				return err
			}
		}
		return e.forgetChatTx(tx, &ct)
	})
	if err != nil {
		return err
	}
	release := e.holdChatTransfers(chat) // none restarts before the chat is gone
	err = e.v.DeleteChat(ctx, chat)
	release()
	if err != nil && !errors.Is(err, vault.ErrNotFound) {
		return err
	}
	e.kickOutbox()
	return nil
}

// forgetChatTx deletes a contact, its chat metadata and its queued messages,
// and queues the deletion of our mailbox. The caller deletes the chat
// itself with Vault.DeleteChat after the commit.
func (e *Engine) forgetChatTx(tx *vault.Tx, ct *vault.Contact) error {
	// The chunks of the chat's files go from the relays too (cdel).
	fts, err := fileTasks(tx, ct.ID, false)
	if err != nil {
		return err
	}
	if err := addTasks(tx, fts...); err != nil {
		return err
	}
	for _, rc := range recvCaps(ct) {
		if err := addTasks(tx, task{Kind: "del", Relay: rc.Address, ID: rc.RecvID, Key: rc.RecvKey}); err != nil {
			return err
		}
	}
	items, err := tx.Outbox()
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.ChatID == ct.ID {
			if err := tx.DeleteOutbox(it.ID); err != nil {
				return err
			}
		}
	}
	if err := deleteMeta(tx, ct.ID); err != nil {
		return err
	}
	return tx.DeleteContact(ct.ID)
}

// checkAlarms looks for the leak alarm of every invite still within its
// deadline (spec/client.md §4.4): a joiner who found the blob gone leaves
// it, so finding it means the invite key reached someone else. An alarm
// log whose invite has ended is deleted.
func (e *Engine) checkAlarms(ctx context.Context) {
	type alarm struct {
		chat, name, relay string
		id                crypto.ID
		read, write       []byte
		legacy, ended     bool
	}
	var as []alarm
	now := e.now()
	_ = e.v.View(ctx, func(tx *vault.Tx) error {
		chats, err := tx.Chats()
		if err != nil {
			return err
		}
		for _, c := range chats {
			m, err := getMeta(tx, c.ID)
			if err != nil {
				continue
			}
			ended := m.Leaked || !now.Before(m.InviteUntil)
			a := alarm{chat: c.ID, name: c.Name, read: m.AlarmRead, write: m.AlarmWrite, ended: ended}
			switch {
			case len(m.AlarmLog) == crypto.IDSize:
				a.id = crypto.ID(m.AlarmLog)
			case len(m.AlarmID) == crypto.IDSize && !ended:
				a.id, a.legacy = crypto.ID(m.AlarmID), true
			default:
				continue
			}
			ct, err := tx.Contact(c.ID)
			if err != nil {
				continue
			}
			rc := recvCap(&ct)
			if rc == nil {
				continue
			}
			a.relay = rc.Address
			as = append(as, a)
		}
		return nil
	})
	for _, a := range as {
		c, err := e.pool.get(ctx, a.relay)
		if err != nil {
			continue
		}
		fired := false
		switch {
		case a.ended:
			dropAlarmLog(ctx, c, a.id, a.write)
		case a.legacy:
			cctx, cancel := context.WithTimeout(ctx, commandTimeout)
			_, err = c.Take(cctx, a.id)
			cancel()
			fired = err == nil // NOT_FOUND: no alarm; anything else: try later
		default:
			fired, _ = alarmFired(ctx, c, a.id, a.read)
		}
		if !fired && !a.ended {
			continue
		}
		err = e.v.Update(ctx, func(tx *vault.Tx) error {
			m, err := getMeta(tx, a.chat)
			if err != nil {
				return err
			}
			if a.ended {
				m.AlarmLog, m.AlarmRead, m.AlarmWrite = nil, nil, nil
			} else {
				m.Leaked = true
			}
			return putMeta(tx, a.chat, &m)
		})
		if err == nil && fired {
			e.emit(ctx, Event{Type: EventInviteLeaked, Chat: a.chat, Name: SanitizeLine(a.name), Err: alarmLeakedText})
		}
	}
}

// timerLoop is owned by Run: it sweeps every SweepEvery and checks leak
// alarms every AlarmEvery, until ctx ends.
func (e *Engine) timerLoop(ctx context.Context) {
	sweep := time.NewTicker(e.cfg.SweepEvery)
	defer sweep.Stop()
	alarm := time.NewTicker(e.cfg.AlarmEvery)
	defer alarm.Stop()
	e.checkAlarms(ctx)
	for {
		select {
		case <-sweep.C:
			if err := e.Sweep(ctx); err != nil && ctx.Err() == nil {
				e.emit(ctx, Event{Type: EventWarning, Err: err.Error()})
			}
		case <-alarm.C:
			e.checkAlarms(ctx)
			e.rotateDue(ctx)
		case <-ctx.Done():
			return
		}
	}
}

// stopExpiredUploads stops the running uploads of our messages whose
// timer has run out, before the sweep deletes them, and queues the
// deletion of what they stored on the relay (spec/client.md §8.5).
func (e *Engine) stopExpiredUploads(ctx context.Context, now time.Time) {
	e.xfers.mu.Lock()
	var ups []*xfer
	for _, x := range e.xfers.m {
		if x.up {
			ups = append(ups, x)
		}
	}
	e.xfers.mu.Unlock()
	for _, x := range ups {
		var due bool
		_ = e.v.View(ctx, func(tx *vault.Tx) error {
			m, err := tx.Message(x.chat, x.msg)
			due = err == nil && !m.Expires.IsZero() && !now.Before(m.Expires)
			return nil
		})
		if !due {
			continue
		}
		release := e.holdTransfer(x.chat, x.msg) // no restart before the record goes
		_ = e.v.Update(ctx, func(tx *vault.Tx) error {
			m, err := tx.Message(x.chat, x.msg)
			if err != nil {
				return nil
			}
			fm, _ := fileOf(&m)
			if fm == nil || fm.State == FileFailed || fm.State == FilePreparing {
				return nil
			}
			if err := tx.DeleteTransfer(transferID(x.chat, x.msg)); err != nil && !errors.Is(err, vault.ErrNotFound) {
				return err
			}
			if tk, ok := cdelTask(fm, x.chat); ok {
				return addTasks(tx, tk)
			}
			return nil
		})
		release()
	}
}
