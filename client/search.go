package client

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"veil/vault"
)

// Search limits (spec/client.md §9.1).
const (
	// MaxQuery is the longest search query, in bytes.
	MaxQuery = 256
	// DefaultSearchLimit is the number of results when none is asked for.
	DefaultSearchLimit = 100
	// MaxSearchLimit is the most results one search returns.
	MaxSearchLimit = 1000
	// snippetRunes is the length of a result's snippet.
	snippetRunes = 80
)

// SearchHit is one message that matched a search. Peer-supplied strings
// are sanitised; Snippet is one line around the match.
type SearchHit struct {
	Chat     string    `json:"chat"`
	ChatName string    `json:"chat_name,omitempty"`
	Message  string    `json:"message"`
	Outgoing bool      `json:"outgoing"`
	From     string    `json:"from,omitempty"`
	Time     time.Time `json:"time"`
	Snippet  string    `json:"snippet"`
}

// Search finds messages whose text contains query, ignoring case, in one
// chat (chat, by ID or name) or in all: newest stored first, at most limit
// (DefaultSearchLimit when limit <= 0, never more than MaxSearchLimit).
// The query is plain text: no character in it has a special meaning.
// Deleted, burned and expired messages are never found: the vault's index
// follows every commit, and a message past its timer but not yet swept is
// skipped here. Searching changes nothing (no read receipt, no timer).
func (e *Engine) Search(ctx context.Context, query, chat string, limit int) ([]SearchHit, error) {
	if query == "" || !HasVisible(query) {
		return nil, badInput("search for at least one visible character")
	}
	if len(query) > MaxQuery || !utf8.ValidString(query) {
		return nil, badInput("a search is at most %d bytes of text", MaxQuery)
	}
	if limit <= 0 {
		limit = DefaultSearchLimit
	}
	limit = min(limit, MaxSearchLimit)
	chatID := ""
	if chat != "" {
		err := e.v.View(ctx, func(tx *vault.Tx) error {
			c, err := resolveChat(tx, chat)
			chatID = c.ID
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	hits, err := e.v.Search(ctx, query, chatID, 0)
	if err != nil {
		return nil, err
	}
	// Message IDs begin with the time they were stored (big-endian), so
	// this is newest first, and only as many messages as are shown get
	// opened.
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].MessageID != hits[j].MessageID {
			return hits[i].MessageID > hits[j].MessageID
		}
		return hits[i].ChatID < hits[j].ChatID
	})
	now := e.now()
	var out []SearchHit
	err = e.v.View(ctx, func(tx *vault.Tx) error {
		out = out[:0]
		chats := map[string]*searchChat{}
		for _, h := range hits {
			if len(out) == limit {
				break
			}
			sc, ok := chats[h.ChatID]
			if !ok {
				sc = loadSearchChat(tx, h.ChatID)
				chats[h.ChatID] = sc
			}
			if sc == nil {
				continue
			}
			m, err := tx.Message(h.ChatID, h.MessageID)
			if errors.Is(err, vault.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if m.Deleted || len(m.Body) == 0 || !m.Expires.IsZero() && !now.Before(m.Expires) {
				continue
			}
			hit := SearchHit{Chat: h.ChatID, ChatName: sc.name, Message: m.ID, Outgoing: m.Direction == vault.Outgoing,
				Time: m.Sent, Snippet: Snippet(string(m.Body), query, snippetRunes)}
			if !hit.Outgoing {
				hit.From, hit.Time = sc.peer, m.Received
				if sc.group {
					hit.From = SanitizeLine(m.Sender)
				}
			}
			out = append(out, hit)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// searchChat is what a result shows of its chat.
type searchChat struct {
	name, peer string
	group      bool
}

// loadSearchChat returns the chat's display strings, nil when it is gone.
func loadSearchChat(tx *vault.Tx, id string) *searchChat {
	c, err := tx.Chat(id)
	if err != nil {
		return nil
	}
	sc := &searchChat{name: SanitizeLine(c.Name), group: c.Kind == vault.ChatGroup}
	if ct, err := tx.Contact(c.ContactID); err == nil {
		sc.peer = SanitizeLine(ct.Nickname)
	}
	if sc.name == "" {
		sc.name = sc.peer
	}
	return sc
}

// Snippet returns one sanitised line of at most width runes from text,
// placed so that the first match of query shows when it survives
// sanitising; otherwise the text's start.
func Snippet(text, query string, width int) string {
	line := []rune(SanitizeLine(text))
	if len(line) <= width {
		return string(line)
	}
	at := 0
	if i := strings.Index(strings.ToLower(string(line)), strings.ToLower(SanitizeLine(query))); i >= 0 {
		at = utf8.RuneCountInString(strings.ToLower(string(line))[:i])
	}
	start := max(0, min(at-width/4, len(line)-width))
	s := string(line[start : start+width])
	if start > 0 {
		s = "…" + string(line[start+1:start+width])
	}
	if start+width < len(line) {
		r := []rune(s)
		s = string(r[:len(r)-1]) + "…"
	}
	return s
}
