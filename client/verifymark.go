package client

import (
	"context"
	"errors"

	"veil/crypto"
	"veil/vault"
)

// The verified mark, spec/client.md §4.5: the user says they compared the
// safety code; the chat keeps a hash of that code, and the mark holds only
// while the chat's current code hashes the same. A changed code (a new
// identity after a re-handshake) clears the mark and raises an alarm.

// labelVerifiedCode separates the stored hash from every other use of the
// safety code.
const labelVerifiedCode = "veil-client/v1/verified safety code"

// alarmVerifyLostText is what the alarm says, on the event and in the UI.
const alarmVerifyLostText = "the safety code of this chat changed after you verified it: the other side has a new identity key; compare the code again before trusting this chat"

func verifiedHash(code string) []byte {
	h := crypto.Hash([]byte(labelVerifiedCode), []byte(code))
	return h[:]
}

// VerifyState is a chat's verified mark as ChatInfo shows it.
type VerifyState struct {
	Verified bool // the user compared the current safety code
	Lost     bool // the code changed after it was compared
}

// verifyState computes a chat's mark without changing anything: a stored
// hash that no longer matches the current code reads as lost.
func (e *Engine) verifyState(tx *vault.Tx, c *vault.Chat, m *chatMeta) VerifyState {
	if len(m.Verified) == 0 {
		return VerifyState{Lost: m.VerifyLost}
	}
	ok, err := e.codeMatches(tx, c, m.Verified)
	if err != nil || !ok {
		return VerifyState{Lost: true}
	}
	return VerifyState{Verified: true}
}

// codeMatches reports, in constant time, whether the chat's current safety
// code hashes to h.
func (e *Engine) codeMatches(tx *vault.Tx, c *vault.Chat, h []byte) (bool, error) {
	ct, err := tx.Contact(c.ContactID)
	if err != nil {
		return false, err
	}
	sess, err := e.ratchetOf(&ct)
	if err != nil {
		return false, err
	}
	return crypto.Equal(verifiedHash(sess.SafetyCode()), h), nil
}

// MarkVerified records (on) or removes (off) that the user compared the
// chat's safety code with the other side. Only a direct chat whose peer
// has joined can be marked; a group's verification code changes with
// every epoch, so it has no lasting mark (spec/groups.md §15).
func (e *Engine) MarkVerified(ctx context.Context, ref string, on bool) error {
	return e.v.Update(ctx, func(tx *vault.Tx) error {
		c, err := resolveChat(tx, ref)
		if err != nil {
			return err
		}
		if c.Kind == vault.ChatGroup {
			return badInput("a group's verification code changes with every membership change: compare it with veil group verify, it cannot stay marked")
		}
		m, err := getMeta(tx, c.ID)
		if err != nil {
			return err
		}
		m.Verified, m.VerifyLost = nil, false
		if on {
			ct, err := tx.Contact(c.ContactID)
			if err != nil {
				return err
			}
			sess, err := e.ratchetOf(&ct)
			if err != nil {
				return err
			}
			m.Verified = verifiedHash(sess.SafetyCode())
		}
		return putMeta(tx, c.ID, &m)
	})
}

// checkVerified clears the mark of every chat whose safety code no longer
// matches the one the user compared, and raises the alarm once for each:
// the chat shows it (ChatInfo.VerifyLost) until it is marked again or
// unmarked, and an EventVerifyLost is emitted. It runs at every sweep and
// may be called after anything that replaces a session.
func (e *Engine) checkVerified(ctx context.Context) error {
	type lost struct{ id, name string }
	var ls []lost
	found := false
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		chats, err := tx.Chats()
		if err != nil {
			return err
		}
		for i := range chats {
			if m, err := getMeta(tx, chats[i].ID); err == nil && len(m.Verified) > 0 {
				if ok, err := e.codeMatches(tx, &chats[i], m.Verified); !ok && !errors.Is(err, vault.ErrNotFound) {
					found = true
				}
			}
		}
		return nil
	})
	if err != nil || !found {
		return err
	}
	err = e.v.Update(ctx, func(tx *vault.Tx) error {
		ls = nil
		chats, err := tx.Chats()
		if err != nil {
			return err
		}
		for i := range chats {
			c := &chats[i]
			m, err := getMeta(tx, c.ID)
			if err != nil || len(m.Verified) == 0 {
				continue
			}
			ok, err := e.codeMatches(tx, c, m.Verified)
			if errors.Is(err, vault.ErrNotFound) {
				continue // an interrupted burn: the sweep erases it
			}
			if ok && err == nil {
				continue
			}
			m.Verified, m.VerifyLost = nil, true
			if err := putMeta(tx, c.ID, &m); err != nil {
				return err
			}
			ls = append(ls, lost{c.ID, c.Name})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, l := range ls {
		e.emit(ctx, Event{Type: EventVerifyLost, Chat: l.id, Name: SanitizeLine(l.name), Err: alarmVerifyLostText})
	}
	return nil
}
