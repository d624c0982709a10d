package client

import (
	"context"
	"errors"
	"sort"
	"time"

	"veil/client/internal/format"
	"veil/relay/wire"
	"veil/vault"
)

// InviteInfo describes one of our invites that nobody has used yet
// (spec/client.md §4.6). It holds no secret: InviteKey returns the key.
type InviteInfo struct {
	// ID names the invite for InviteKey and CancelInvite: the chat's ID
	// for a 1:1 invite, CHAT.TAG for a group's (groupinvites.go).
	ID      string    `json:"id"`
	Chat    string    `json:"chat"`
	Group   bool      `json:"group,omitempty"`
	Name    string    `json:"name,omitempty"`
	As      string    `json:"as,omitempty"`
	Created time.Time `json:"created"`
	Until   time.Time `json:"until"`
	Leaked  bool      `json:"leaked,omitempty"`
	// HasKey is false for an invite made before the key was kept: it can
	// be cancelled but not shown again.
	HasKey bool `json:"has_key"`
}

// ErrNotPending is returned for an invite action on a chat that is not an
// open invite of ours.
var ErrNotPending = errors.New("client: this chat is not an open invite")

// errInviteLeakedShow refuses to show again a key that already leaked.
var errInviteLeakedShow = badInput("this invite key leaked: cancel it and make a new one")

// Invites lists our open invites, oldest first.
func (e *Engine) Invites(ctx context.Context) ([]InviteInfo, error) {
	var out []InviteInfo
	err := e.v.View(ctx, func(tx *vault.Tx) error {
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
			if !m.Pending {
				continue
			}
			out = append(out, InviteInfo{ID: c.ID, Chat: c.ID, Name: SanitizeLine(c.Name), As: SanitizeLine(m.As),
				Created: c.Created, Until: m.InviteUntil, Leaked: m.Leaked, HasKey: m.InviteKey != ""})
		}
		gi, err := e.groupInvites(tx, chats)
		out = append(out, gi...)
		return err
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, err
}

// pendingInvite returns the chat and metadata of our open invite ref.
func pendingInvite(tx *vault.Tx, ref string) (vault.Chat, chatMeta, error) {
	c, err := resolveChat(tx, ref)
	if err != nil {
		return c, chatMeta{}, err
	}
	m, err := getMeta(tx, c.ID)
	if err != nil {
		return c, m, err
	}
	if c.Kind != vault.ChatDirect || !m.Pending {
		return c, m, ErrNotPending
	}
	return c, m, nil
}

// InviteKey returns the key of our open invite ref again, to hand to the
// same person once more. It is secret: whoever holds it can join.
func (e *Engine) InviteKey(ctx context.Context, ref string) (string, error) {
	if chat, tag, ok := e.groupInviteRef(ctx, ref); ok {
		return e.groupInviteKeyOf(ctx, chat, tag)
	}
	var key string
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		_, m, err := pendingInvite(tx, ref)
		if err != nil {
			return err
		}
		switch {
		case m.Leaked:
			return errInviteLeakedShow
		case m.InviteKey == "":
			return badInput("this invite was made before veil kept invite keys: cancel it and make a new one")
		}
		key = m.InviteKey
		return nil
	})
	return key, err
}

// CancelInviteResult says what cancelling reached.
type CancelInviteResult struct {
	// BlobLeft is set when the relay could not be told: the invite's blob
	// stays there, unusable by us, until its own deadline.
	BlobLeft bool `json:"blob_left,omitempty"`
	// Taken is set when the blob was already gone before its deadline:
	// someone used the key (the person it was for, whose join may still
	// be on its way, or whoever else got the key).
	Taken bool `json:"taken,omitempty"`
}

// CancelInvite withdraws our open invite ref (spec/client.md §4.6): it
// takes the invite's blob back from the relay (a one-time blob is deleted
// by its first TAKE, so the key dies), deletes the alarm log, and erases
// the chat with its keys, queueing the deletion of the reply mailbox. The
// local erasure happens even when the relay cannot be reached.
func (e *Engine) CancelInvite(ctx context.Context, ref string) (_ CancelInviteResult, err error) {
	defer e.reportErase(ctx, ref, "", &err)()
	if chat, tag, ok := e.groupInviteRef(ctx, ref); ok {
		return e.cancelGroupInvite(ctx, chat, tag)
	}
	var res CancelInviteResult
	var chatID, key, relayAddr string
	var m chatMeta
	err = e.v.View(ctx, func(tx *vault.Tx) error {
		c, meta, err := pendingInvite(tx, ref)
		if err != nil {
			return err
		}
		chatID, key, m = c.ID, meta.InviteKey, meta
		if ct, err := tx.Contact(c.ContactID); err == nil {
			if rc := recvCap(&ct); rc != nil {
				relayAddr = rc.Address
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	gone, taken := e.takeOwnBlob(ctx, key, &m)
	res.BlobLeft, res.Taken = !gone, taken && e.now().Before(m.InviteUntil)
	if err := e.eraseChat(ctx, chatID); err != nil {
		return res, err
	}
	e.mailboxesChanged(relayAddr)
	return res, nil
}

// takeOwnBlob takes our invite's blob back and deletes its alarm log; it
// reports whether the blob is gone from the relay, and whether it was
// gone already (taken by someone, or expired).
func (e *Engine) takeOwnBlob(ctx context.Context, key string, m *chatMeta) (gone, taken bool) {
	if key == "" {
		return false, false
	}
	k, err := format.ParseInviteKey(key)
	if err != nil {
		return false, false
	}
	d := format.DeriveInvite(k)
	defer clear(d.BlobKey[:]) // best effort: Go cannot guarantee the copy is gone
	c, err := e.pool.get(ctx, k.Relay.String())
	if err != nil {
		return false, false
	}
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	_, err = c.Take(cctx, d.BlobID)
	taken = isCode(err, wire.CodeNotFound)
	if len(m.AlarmLog) == len(k.AlarmLog) {
		dropAlarmLog(ctx, c, k.AlarmLog, m.AlarmWrite)
	}
	return err == nil || taken, taken
}
