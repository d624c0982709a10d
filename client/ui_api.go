package client

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"veil/vault"
)

// maxChatName bounds a chat's local name, in bytes.
const maxChatName = 64

// Rename sets the name we call a chat by locally (empty: none). The peer
// never sees it. It is stored as SanitizeLine leaves it, trimmed. A group
// chat keeps it whatever the group's roster says; without one it shows
// the group's own name (spec/client.md §4.7).
func (e *Engine) Rename(ctx context.Context, ref, name string) error {
	name = strings.TrimSpace(SanitizeLine(name))
	if len(name) > maxChatName || !utf8.ValidString(name) {
		return badInput("a chat name is at most %d bytes", maxChatName)
	}
	return e.v.Update(ctx, func(tx *vault.Tx) error {
		c, err := resolveChat(tx, ref)
		if err != nil {
			return err
		}
		c.Name, c.NameLocal = name, name != ""
		if name == "" && c.Kind == vault.ChatGroup {
			c.Name = c.GroupName
		}
		return tx.PutChat(&c)
	})
}

// SetDeadline sets the moment at which this side erases the whole chat
// (spec/client.md §8: Sweep erases a chat past its deadline); the zero time
// removes the deadline. The peer's copy keeps its own deadline. A deadline
// in the past takes effect at the next Sweep.
func (e *Engine) SetDeadline(ctx context.Context, ref string, at time.Time) error {
	return e.v.Update(ctx, func(tx *vault.Tx) error {
		c, err := resolveChat(tx, ref)
		if err != nil {
			return err
		}
		c.Deadline = at.Truncate(time.Second)
		return tx.PutChat(&c)
	})
}

// GroupIDs returns the IDs of the chats that are groups, for display (a
// badge, the sender's nickname on each message).
func (e *Engine) GroupIDs(ctx context.Context) (map[string]bool, error) {
	ids := map[string]bool{}
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		chats, err := tx.Chats()
		if err != nil {
			return err
		}
		for _, c := range chats {
			if c.Kind == vault.ChatGroup {
				ids[c.ID] = true
			}
		}
		return nil
	})
	return ids, err
}
