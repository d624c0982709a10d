package client

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
	"veil/vault"
)

// Open group invites (spec/client.md §4.6): an admin's invites that no
// joiner has used yet, listed, shown again and cancelled like 1:1 ones.
// Each is named CHAT.TAG: the group's chat ID and the first 4 bytes of
// its exchange log ID in hex; a group's chat alone names its only open
// invite.

// groupInviteTagLen is the length of TAG in hex digits.
const groupInviteTagLen = 8

func groupInviteID(chatID string, inv *groupInviteRec) string {
	return chatID + "." + hex.EncodeToString(inv.LogID[:groupInviteTagLen/2])
}

// openGroupInvite reports whether inv can still serve a join.
func (e *Engine) openGroupInvite(g *groupState, inv *groupInviteRec) bool {
	return !g.gone && g.isAdmin() && !inv.Served && !inv.Answered && e.now().Before(inv.Until) &&
		len(inv.LogID) >= groupInviteTagLen/2
}

// groupInvites lists the open invites of every group we administer.
func (e *Engine) groupInvites(tx *vault.Tx, chats []vault.Chat) ([]InviteInfo, error) {
	var out []InviteInfo
	for _, c := range chats {
		if c.Kind != vault.ChatGroup {
			continue
		}
		grp, err := tx.Group(c.GroupID)
		if err != nil {
			return nil, err
		}
		g, rec, err := e.loadGroup(tx, c.GroupID, &grp)
		if err != nil {
			return nil, err
		}
		for i := range rec.Invites {
			inv := &rec.Invites[i]
			if !e.openGroupInvite(g, inv) {
				continue
			}
			out = append(out, InviteInfo{ID: groupInviteID(c.ID, inv), Chat: c.ID, Name: SanitizeLine(c.Name), Group: true,
				Created: inv.Created, Until: inv.Until,
				Leaked: len(inv.AlarmLog) == 0, HasKey: true})
		}
	}
	return out, nil
}

// splitGroupInviteRef splits CHAT.TAG; ok is false for anything else.
func splitGroupInviteRef(ref string) (chatRef, tag string, ok bool) {
	i := strings.LastIndexByte(ref, '.')
	if i <= 0 || len(ref)-i-1 != groupInviteTagLen {
		return "", "", false
	}
	if _, err := hex.DecodeString(ref[i+1:]); err != nil {
		return "", "", false
	}
	return ref[:i], strings.ToLower(ref[i+1:]), true
}

// groupInviteRef resolves ref to a group's chat and, when ref names one,
// the tag of one of its invites ("" for the group's only open invite).
// found is false when ref names no group (a 1:1 invite, or nothing).
func (e *Engine) groupInviteRef(ctx context.Context, ref string) (chat vault.Chat, tag string, found bool) {
	_ = e.v.View(ctx, func(tx *vault.Tx) error {
		chat, tag, found = groupInviteRefTx(tx, ref)
		return nil
	})
	return chat, tag, found
}

func groupInviteRefTx(tx *vault.Tx, ref string) (chat vault.Chat, tag string, found bool) {
	if cr, t, ok := splitGroupInviteRef(ref); ok {
		if c, err := resolveChat(tx, cr); err == nil && c.Kind == vault.ChatGroup {
			return c, t, true
		}
	}
	if c, err := resolveChat(tx, ref); err == nil && c.Kind == vault.ChatGroup {
		return c, "", true
	}
	return vault.Chat{}, "", false
}

// pickGroupInvite returns the index in rec.Invites of the open invite
// named by tag (or the only open one for tag "").
func (e *Engine) pickGroupInvite(g *groupState, rec *groupRecord, chatID, tag string) (int, error) {
	var open []int
	for i := range rec.Invites {
		inv := &rec.Invites[i]
		if !e.openGroupInvite(g, inv) {
			continue
		}
		if tag == "" || hex.EncodeToString(inv.LogID[:groupInviteTagLen/2]) == tag {
			open = append(open, i)
		}
	}
	switch {
	case len(open) == 1:
		return open[0], nil
	case len(open) == 0:
		return 0, ErrNotPending
	}
	ids := make([]string, len(open))
	for j, i := range open {
		ids[j] = groupInviteID(chatID, &rec.Invites[i])
	}
	return 0, badInput("this group has %d open invites: name one of %s", len(open), strings.Join(ids, ", "))
}

// groupInviteKey rebuilds the text form of an open group invite's key.
func groupInviteKey(rec *groupRecord, inv *groupInviteRec, pw wire.Password) (string, error) {
	if len(inv.AlarmLog) == 0 {
		return "", errInviteLeakedShow
	}
	a, err := wire.ParseAddress(rec.Relay)
	if err != nil {
		return "", err
	}
	alarm, err := crypto.ParseID(inv.AlarmLog)
	if err != nil {
		return "", err
	}
	k := &format.InviteKey{Relay: wire.Credentialed{Address: a, Password: pw}, HasAlarm: true, AlarmLog: alarm}
	if len(inv.Secret) != len(k.Secret) {
		return "", fmt.Errorf("client: stored group invite: bad secret")
	}
	copy(k.Secret[:], inv.Secret)
	defer clear(k.Secret[:])
	return k.String(), nil
}

// groupInviteKeyOf is InviteKey for a group invite.
func (e *Engine) groupInviteKeyOf(ctx context.Context, chat vault.Chat, tag string) (string, error) {
	var key string
	err := e.viewChat(ctx, chat.ID, func(tx *vault.Tx, _ *vault.Chat) error {
		grp, err := tx.Group(chat.GroupID)
		if err != nil {
			return err
		}
		g, rec, err := e.loadGroup(tx, chat.GroupID, &grp)
		if err != nil {
			return err
		}
		i, err := e.pickGroupInvite(g, rec, chat.ID, tag)
		if err != nil {
			return err
		}
		key, err = groupInviteKey(rec, &rec.Invites[i], relayPassword(tx, rec.Relay))
		return err
	})
	return key, err
}

// cancelGroupInvite is CancelInvite for a group invite: it takes the
// invite's blob back (the key dies), deletes its alarm and exchange logs,
// and forgets it. The group itself is untouched.
func (e *Engine) cancelGroupInvite(ctx context.Context, chat vault.Chat, tag string) (CancelInviteResult, error) {
	var res CancelInviteResult
	err := e.withGroup(ctx, chat.ID, func(g *groupState, rec *groupRecord, c *conn.Conn, _ *vault.Chat) ([]Event, error) {
		i, err := e.pickGroupInvite(g, rec, chat.ID, tag)
		if err != nil {
			return nil, err
		}
		inv := rec.Invites[i]
		c, err = g.connFor(ctx, c, inv.Relay)
		if err != nil {
			return nil, err
		}
		gone, taken := e.takeGroupBlob(ctx, c, rec, &inv)
		res.BlobLeft, res.Taken = !gone, taken
		e.endInvite(ctx, c, &inv)
		rec.Invites = append(rec.Invites[:i:i], rec.Invites[i+1:]...)
		return nil, nil
	})
	return res, err
}

// takeGroupBlob takes a group invite's blob back from the relay and
// reports whether it is gone, and whether it was gone already.
func (e *Engine) takeGroupBlob(ctx context.Context, c *conn.Conn, rec *groupRecord, inv *groupInviteRec) (gone, taken bool) {
	a, err := wire.ParseAddress(rec.Relay)
	if err != nil || len(inv.Secret) == 0 {
		return false, false
	}
	k := &format.InviteKey{Relay: wire.Credentialed{Address: a}}
	copy(k.Secret[:], inv.Secret)
	d := format.DeriveInvite(k)
	clear(k.Secret[:])
	defer clear(d.BlobKey[:])
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	_, err = c.Take(cctx, d.BlobID)
	taken = isCode(err, wire.CodeNotFound)
	return err == nil || taken, taken
}
