package client

import (
	"encoding/hex"
	"time"

	"veil/client/internal/format"
	"veil/vault"
)

// Receiving the conversation envelopes of a 1:1 chat (spec/client.md
// §5.9, §5.10).

// EventReaction reports that someone reacted to a message of the chat, or
// took a reaction back (Text empty); Message is the target's local ID.
const EventReaction EventType = "reaction"

// EventTimer reports that the peer set the chat's disappearing timer;
// Text says it in words.
const EventTimer EventType = "timer"

// react applies the peer's reaction to a message of this chat; one naming
// no message here, or not one grapheme, is dropped.
func (r *rx) react(env *format.Envelope) error {
	m, ok, err := findTarget(r.tx, r.chat.ID, env.ID)
	if err != nil || !ok || m.Deleted {
		return err
	}
	reaction := ""
	if env.Reaction != "" {
		var good bool
		if reaction, good = checkReaction(env.Reaction); !good {
			r.event(Event{Type: EventWarning, Err: "dropped a reaction that is not one character"})
			return nil
		}
	}
	if !applyReaction(&m, peerKey, reaction) {
		return nil
	}
	r.event(Event{Type: EventReaction, Message: m.ID, Text: reaction})
	return r.tx.PutMessage(&m)
}

// applyReaction sets who's reaction to m (empty: none) and reports
// whether anything changed; a new reactor beyond MaxReactions is refused.
func applyReaction(m *vault.Message, who, reaction string) bool {
	mm := metaOf(m)
	old, had := mm.Reacts[who]
	switch {
	case reaction == "" && !had, reaction != "" && had && old == reaction:
		return false
	case reaction == "":
		delete(mm.Reacts, who)
	default:
		if !had && len(mm.Reacts) >= MaxReactions {
			return false
		}
		if mm.Reacts == nil {
			mm.Reacts = map[string]string{}
		}
		mm.Reacts[who] = reaction
	}
	setMeta(m, &mm)
	return true
}

// timer applies the peer's new timer for the chat and stores its line.
func (r *rx) timer(env *format.Envelope) error {
	now := r.e.now()
	secs := min(env.TTL, format.MaxTimer)
	r.chat.MessageTTL = time.Duration(secs) * time.Second
	sent, unsure := sentTime(env.ID, now, r.chat.Created)
	m := vault.Message{ID: r.e.incomingID(env.ID), ChatID: r.chat.ID, Direction: vault.Incoming, Sender: r.ct.ID,
		Sent: sent, Received: now, Read: now, Status: vault.StatusDelivered}
	setMeta(&m, &msgMeta{Timer: &secs, SentUnsure: unsure})
	r.chat.LastActive = now
	r.event(Event{Type: EventTimer, Message: m.ID, Text: timerText(SanitizeLine(r.ct.Nickname), secs)})
	return r.tx.PutMessage(&m)
}

// groupReaction applies a member's reaction read from the group's log to
// the message it names in chat c, by the name we show for the member
// (spec/groups.md §6.3); one that applies to nothing is not emitted.
func groupReaction(ix *targetIndex, ev *Event) error {
	ev.drop = true
	m, ok, err := ix.find(hex.EncodeToString(ev.wire[:]))
	if err != nil || !ok || m.Deleted {
		return err
	}
	reaction := ""
	if ev.Text != "" {
		var good bool
		if reaction, good = checkReaction(ev.Text); !good {
			*ev = Event{Type: EventWarning, From: ev.From, Err: "dropped a reaction that is not one character"}
			return nil
		}
	}
	if !applyReaction(&m, reactorKey(ev.From), reaction) {
		return nil
	}
	ev.drop, ev.Message, ev.Text = false, m.ID, reaction
	ix.put(&m)
	return ix.tx.PutMessage(&m)
}

// reactorKey is a group member's key in a message's reactions: its name,
// apart from our own key ("") and a 1:1 peer's.
func reactorKey(name string) string { return "m:" + name }

// groupTimerLine stores the line saying that an admin changed a group's
// timer, which its settings commit does (spec/groups.md §6.3, §7.5).
func (e *Engine) groupTimerLine(tx *vault.Tx, c *vault.Chat, now time.Time) error {
	id, err := e.newID()
	if err != nil {
		return err
	}
	secs := uint32(c.MessageTTL / time.Second)
	m := vault.Message{ID: id, ChatID: c.ID, Direction: vault.Incoming, Sender: "an admin",
		Sent: now, Received: now, Read: now, Status: vault.StatusDelivered}
	setMeta(&m, &msgMeta{Timer: &secs})
	return tx.PutMessage(&m)
}
