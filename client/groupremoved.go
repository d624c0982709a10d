package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/relay/conn"
	"veil/vault"
)

// A member an admin removed keeps the history it already had, read-only
// (spec/groups.md §7.4): the group record (its keys, logs and queue) is
// erased, the chat and its messages stay, and the chat's metadata says
// who removed us. Burn, the chat's deadline and each message's timer
// erase the rest as for any chat.

// removedError is the error of a command on a group we were removed from.
type removedError struct{ name, by, moved string }

func (r *removedError) Error() string {
	return "client: " + removedNotice(r.name, r.by, r.moved)
}

func (r *removedError) Is(target error) bool { return target == ErrGroupRemoved }

// removedNotice says what happened and what the user can do; name and by
// are sanitised here. moved, when set, names the relays of a move we did
// not follow (spec/groups.md §3.5).
func removedNotice(name, by, moved string) string {
	name, by = SanitizeLine(name), SanitizeLine(by)
	if moved != "" {
		s := "an admin"
		if by != "" {
			s = by
		}
		return s + " moved " + name + " to " + SanitizeLine(moved) + ", which only this machine or network can reach: " +
			"your client did not follow (such an address can point at devices on your network); its history is kept read-only until you burn it"
	}
	s := "you were removed from " + name
	if by != "" {
		s += " by " + by
	}
	return s + "; its history is kept read-only until you burn it"
}

// removedErr returns the error for a group chat we were removed from, or
// nil.
func removedErr(tx *vault.Tx, chat *vault.Chat) error {
	m, err := getMeta(tx, chat.ID)
	if err != nil {
		return err
	}
	if m.Removed {
		return &removedError{name: chat.Name, by: m.RemovedBy, moved: m.RefusedMove}
	}
	return nil
}

// signerNick is the nickname of the member of r whose signing key is s, or
// "" (spec/groups.md §6.3: the signer is an admin of the old roster).
func signerNick(r *format.Roster, s crypto.SignPublic) string {
	if i := r.Index(s); i >= 0 {
		return r.Members[i].Nick
	}
	return ""
}

// storeRemoved stores what the last read brought (messages before the
// removal included), erases the group record with every key in it, and
// marks the chat read-only. Our messages still queued can never be sent:
// they are marked failed.
func (e *Engine) storeRemoved(ctx context.Context, g *groupState, chat *vault.Chat, evs []Event) error {
	now := e.now()
	for i := range evs {
		evs[i].Chat, evs[i].Name = chat.ID, SanitizeLine(chat.Name)
		if evs[i].Type == EventGroupRemoved && evs[i].From == "" {
			evs[i].Text = removedNotice(chat.Name, g.removedBy, g.refusedMove)
		}
	}
	var status []Event
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		status = nil
		c, err := tx.Chat(chat.ID)
		if err != nil {
			return err
		}
		warns, err := e.putGroupMessages(tx, &c, evs, now)
		if err != nil {
			return err
		}
		status = append(status, warns...)
		for _, id := range outMessages(g.out) {
			var ev *Event
			if err := e.setStatus(tx, &vault.OutboxItem{ChatID: c.ID, MessageID: id}, vault.StatusFailed, &ev); err != nil {
				return err
			}
			if ev != nil {
				status = append(status, *ev)
			}
		}
		ups, err := e.failUploadsTx(tx, c.ID, "you were removed from the group")
		if err != nil {
			return err
		}
		status = append(status, ups...)
		m, err := getMeta(tx, c.ID)
		if err != nil {
			return err
		}
		m.Removed, m.RemovedBy, m.RefusedMove = true, g.removedBy, g.refusedMove
		if err := putMeta(tx, c.ID, &m); err != nil {
			return err
		}
		if err := deleteGroup(tx, c.GroupID); err != nil && !errors.Is(err, vault.ErrNotFound) {
			return err
		}
		*chat = c
		return tx.PutChat(&c)
	})
	if err != nil {
		return err
	}
	g.out = nil
	e.cancelUploads(chat.ID) // not waited for: an upload's end takes e.groups
	for _, ev := range append(evs, status...) {
		e.emit(ctx, ev)
	}
	return nil
}

// eraseRemoved erases a group chat we were removed from, here only: there
// is nobody to tell.
func (e *Engine) eraseRemoved(ctx context.Context, chat string) error {
	if err := e.v.Update(ctx, func(tx *vault.Tx) error { return deleteMeta(tx, chat) }); err != nil {
		return err
	}
	if err := e.v.DeleteChat(ctx, chat); err != nil && !errors.Is(err, vault.ErrNotFound) {
		return err
	}
	return nil
}

// eraseIfRemoved erases the group chat ref names if we were removed from
// it, and reports whether it did.
func (e *Engine) eraseIfRemoved(ctx context.Context, ref string) (bool, error) {
	e.groups.Lock()
	defer e.groups.Unlock()
	var chat string
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		c, _, err := groupOf(tx, ref)
		if errors.Is(err, ErrGroupRemoved) {
			chat = c.ID
		}
		return nil
	})
	if err != nil || chat == "" {
		return false, err
	}
	return true, e.eraseRemoved(ctx, chat)
}

// cutOffStatus says in words that a commit signed by the member called by
// cut us off (spec/groups.md §6.6).
func cutOffStatus(by string) string {
	if by == "" {
		by = "a member"
	}
	return "cut off: a change by " + SanitizeLine(by) + " holds no key this device can use, so it no longer reads the group; ask an admin to add you again"
}

// groupStatus is the state of a group chat in words when it is not plain
// membership: waiting for an admin (spec/groups.md §9.3), or removed
// (§7.4), or cut off (§6.6). It reads only the record's join and cut-off
// fields.
func groupStatus(tx *vault.Tx, c *vault.Chat, m *chatMeta) (waiting, removed bool, notice string) {
	if m.Removed {
		return false, true, removedNotice(c.Name, m.RemovedBy, m.RefusedMove)
	}
	grp, err := tx.Group(c.GroupID)
	if err != nil {
		return false, false, ""
	}
	var rec struct {
		Join     json.RawMessage `json:"join"`
		CutOff   bool            `json:"cut_off"`
		CutOffBy string          `json:"cut_off_by"`
	}
	if json.Unmarshal(grp.State, &rec) == nil && len(rec.Join) > 0 && string(rec.Join) != "null" {
		return true, false, "waiting for an admin to let you in"
	}
	if rec.CutOff {
		return false, false, cutOffStatus(rec.CutOffBy)
	}
	return false, false, ""
}

// adminPoll reads the group's log up to now before an admin command, so
// that the command commits on top of the newest epoch (spec/groups.md
// §3.4), and says why it cannot go on: we wait to be let in, were removed
// by what the poll read, or are not (or no longer) an admin.
func (e *Engine) adminPoll(ctx context.Context, g *groupState, c *conn.Conn, chat *vault.Chat) ([]Event, error) {
	if g.cur.roster == nil {
		return nil, ErrGroupWaiting
	}
	if c == nil {
		return nil, errPrimaryDown // commits wait for the primary (spec/groups.md §3.5)
	}
	name := SanitizeLine(chat.Name)
	wasAdmin := g.isAdmin()
	evs, err := g.poll(ctx, c)
	switch {
	case err != nil:
		return evs, err
	case g.removed:
		return evs, &removedError{name: chat.Name, by: g.removedBy}
	case g.gone:
		return evs, fmt.Errorf("client: %s was burned", name)
	case !g.isAdmin() && wasAdmin:
		return evs, notAllowed("you are no longer an admin of %s", name)
	case !g.isAdmin():
		return evs, notAllowed("you are not an admin of %s", name)
	}
	return evs, nil
}

// failUploadsTx fails every upload of ours in chat for why: its transfer
// record and blob go, and what it stored on the relay gets a cdel task
// (spec/client.md §8.5). It returns the transfer events to emit.
func (e *Engine) failUploadsTx(tx *vault.Tx, chat, why string) ([]Event, error) {
	ts, err := tx.Transfers()
	if err != nil {
		return nil, err
	}
	var evs []Event
	for _, t := range ts {
		if !t.Up || t.Chat != chat {
			continue
		}
		if err := tx.DeleteTransfer(t.ID); err != nil {
			return nil, err
		}
		m, err := tx.Message(chat, t.Message)
		if errors.Is(err, vault.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		fm, mm := fileOf(&m)
		if fm == nil {
			continue
		}
		if fm.State != FilePreparing {
			if tk, ok := cdelTask(fm, chat); ok {
				if err := addTasks(tx, tk); err != nil {
					return nil, err
				}
			}
		}
		if err := tx.DeleteFile(chat, m.ID); err != nil && !errors.Is(err, vault.ErrNotFound) {
			return nil, err
		}
		fm.State, fm.Err = FileFailed, why
		m.Status = vault.StatusFailed
		setMeta(&m, &mm)
		if err := tx.PutMessage(&m); err != nil {
			return nil, err
		}
		evs = append(evs, Event{Type: EventTransfer, Chat: chat, Message: m.ID, Status: FileFailed, Err: why, Total: fm.Chunks})
	}
	return evs, nil
}
