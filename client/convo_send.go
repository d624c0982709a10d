package client

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"veil/client/internal/format"
	"veil/ratchet"
	"veil/relay/conn"
	"veil/vault"
)

// Sending replies, reactions and timer changes (spec/client.md §5.8–§5.10,
// spec/groups.md §6.3).

// replyTarget returns the wire ID of the chat's message msgID, which a
// reply may quote or a reaction name: it must exist, not be deleted, and
// not be a timer line.
func replyTarget(tx *vault.Tx, chat, msgID string) (format.WireID, error) {
	m, err := tx.Message(chat, msgID)
	if errors.Is(err, vault.ErrNotFound) {
		return format.WireID{}, ErrNoMessage
	}
	if err != nil {
		return format.WireID{}, err
	}
	mm := metaOf(&m)
	w, ok := wireOf(&m, &mm)
	if !ok || m.Deleted {
		return format.WireID{}, ErrNoMessage
	}
	id, ok := outgoingWireID(w)
	if !ok {
		return format.WireID{}, ErrNoMessage
	}
	// A peer can give two messages one wire ID; a quote or reaction names
	// the message the receiving rule picks (findTarget), so msgID must be
	// that one, or the other side would see us answer a text we never
	// chose.
	c, err := tx.Chat(chat)
	if err != nil {
		return format.WireID{}, err
	}
	var t vault.Message
	if c.Kind == vault.ChatGroup {
		ix := targetIndex{tx: tx, chat: chat}
		t, ok, err = ix.find(w)
	} else {
		t, ok, err = findTarget(tx, chat, id)
	}
	if err != nil {
		return format.WireID{}, err
	}
	if !ok || t.ID != m.ID {
		return format.WireID{}, errReusedWireID
	}
	return id, nil
}

// errReusedWireID refuses to quote or react to a message whose wire ID
// another message of the chat carries.
var errReusedWireID = badInput("this message cannot be quoted or reacted to: the other side gave its ID to another message too")

// checkReplyLen refuses a reply's text that a REPLY in sess's next
// message cannot carry (spec/client.md §5.7).
func checkReplyLen(text string, sess *ratchet.Session) error {
	limit := MaxReplyText
	if sess.MaxPlaintext() < ratchet.MaxPlaintext {
		limit = MaxInitialText - format.ReplyOverhead
	}
	if len(text) > limit {
		return tooLong(len(text), limit)
	}
	return nil
}

// React sets our reaction to a message of the chat (ours or the peer's;
// msgID as Messages gives it) and tells the peer, or every member of a
// group; an empty reaction takes ours back (spec/client.md §5.9). A
// reaction must be one character or emoji.
func (e *Engine) React(ctx context.Context, ref, msgID, reaction string) error {
	if reaction != "" {
		clean, ok := checkReaction(reaction)
		if !ok {
			return badInput("a reaction is one emoji or character (at most %d bytes), such as 👍", MaxReaction)
		}
		reaction = clean
	}
	if e.isGroup(ctx, ref) {
		return e.groupReact(ctx, ref, msgID, reaction)
	}
	err := e.withSession(ctx, ref, func(tx *vault.Tx, s *txSession) error {
		if err := sessionUsable(tx, s.chat.ID); err != nil {
			return err
		}
		w, err := replyTarget(tx, s.chat.ID, msgID)
		if err != nil {
			return err
		}
		m, err := tx.Message(s.chat.ID, msgID)
		if err != nil {
			return err
		}
		if !applyReaction(&m, "", reaction) {
			return nil
		}
		if err := e.queue(tx, s.sess, s.chat.ID, "", &format.Envelope{Type: format.EnvReact, ID: w, Reaction: reaction}); err != nil {
			return err
		}
		return tx.PutMessage(&m)
	})
	if err == nil {
		e.kickOutbox()
	}
	return err
}

// timerLine stores our own line saying we set the chat's timer.
func (e *Engine) timerLine(tx *vault.Tx, chat string, id string, secs uint32) error {
	now := e.now()
	m := vault.Message{ID: id, ChatID: chat, Direction: vault.Outgoing, Sent: now, Status: vault.StatusPending}
	setMeta(&m, &msgMeta{Timer: &secs})
	return tx.PutMessage(&m)
}

// sendTimer sets a 1:1 chat's timer and announces it to the peer with a
// TIMER (spec/client.md §5.10); a chat nobody joined yet changes here only.
func (e *Engine) sendTimer(ctx context.Context, ref string, ttl time.Duration) error {
	secs := uint32((ttl + time.Second - 1) / time.Second)
	sent := false
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		sent = false
		c, err := resolveChat(tx, ref)
		if err != nil {
			return err
		}
		if c.Kind == vault.ChatGroup {
			return ErrGroupTimer
		}
		if c.MessageTTL == ttl {
			return nil
		}
		c.MessageTTL = ttl
		meta, err := getMeta(tx, c.ID)
		if err != nil {
			return err
		}
		ct, err := tx.Contact(c.ContactID)
		if err != nil || meta.Pending || len(ct.Ratchet) == 0 {
			return tx.PutChat(&c)
		}
		if err := sessionUsable(tx, c.ID); err != nil {
			return err
		}
		sess, err := e.ratchetOf(&ct)
		if err != nil {
			return err
		}
		id, err := e.newID()
		if err != nil {
			return err
		}
		w, _ := outgoingWireID(id)
		if err := e.queue(tx, sess, c.ID, id, &format.Envelope{Type: format.EnvTimer, ID: w, TTL: secs}); err != nil {
			return err
		}
		if err := e.timerLine(tx, c.ID, id, secs); err != nil {
			return err
		}
		ct.Ratchet = sess.Marshal()
		if err := tx.PutContact(&ct); err != nil {
			return err
		}
		c.LastActive = e.now()
		sent = true
		return tx.PutChat(&c)
	})
	if sent {
		e.kickOutbox()
	}
	return err
}

// groupReact sets our reaction to a group message and appends a REACT to
// the group's log, queued as a message is (spec/groups.md §6.2, §6.3).
func (e *Engine) groupReact(ctx context.Context, ref, msgID, reaction string) error {
	e.groups.Lock()
	var chatID string
	changed := false
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		changed = false
		chat, grp, err := groupOf(tx, ref)
		if err != nil {
			return err
		}
		chatID = chat.ID
		w, err := replyTarget(tx, chat.ID, msgID)
		if err != nil {
			return err
		}
		m, err := tx.Message(chat.ID, msgID)
		if err != nil {
			return err
		}
		if !applyReaction(&m, "", reaction) {
			return nil
		}
		g, rec, err := e.loadGroup(tx, chat.GroupID, &grp)
		if err != nil {
			return err
		}
		if g.cur.epoch == nil {
			return ErrGroupWaiting
		}
		// A restored member's first group write queues its key update, as
		// a message does (spec/client.md §13.7).
		if err := restoredGroup(tx, chat.ID, g); err != nil {
			return err
		}
		g.deferUploads = true
		if err := g.append(ctx, nil, &format.GroupEnvelope{Type: format.GenvReact, ID: w, Reaction: reaction}); err != nil {
			return err
		}
		if err := putGroup(tx, chat.GroupID, g, rec); err != nil {
			return err
		}
		changed = true
		return tx.PutMessage(&m)
	})
	e.groups.Unlock()
	if err != nil || !changed {
		return err
	}
	e.mu.Lock()
	running := e.groupKick != nil
	e.mu.Unlock()
	if running {
		e.groupsChanged()
		return nil
	}
	_ = e.withGroup(ctx, chatID, func(*groupState, *groupRecord, *conn.Conn, *vault.Chat) ([]Event, error) { return nil, nil })
	return nil
}

// resendEnvelope is the envelope that sends our stored message m again
// with ttl left: a FILE from its stored descriptor, a TIMER, a REPLY or a
// TEXT. A file whose keys are gone has no envelope (an error).
func resendEnvelope(m *vault.Message, w format.WireID, ttl uint32) (*format.Envelope, error) {
	mm := metaOf(m)
	if mm.File != nil {
		d, err := descriptor(mm.File)
		if err != nil {
			return nil, err
		}
		return &format.Envelope{Type: format.EnvFile, ID: w, TTL: ttl, File: d}, nil
	}
	if mm.Timer != nil {
		return &format.Envelope{Type: format.EnvTimer, ID: w, TTL: *mm.Timer}, nil
	}
	env := &format.Envelope{Type: format.EnvText, ID: w, TTL: ttl, Text: string(m.Body)}
	if t, err := hex.DecodeString(mm.Reply); err == nil && len(t) == format.WireIDSize {
		env.Type = format.EnvReply
		copy(env.Target[:], t)
	}
	return env, nil
}
