package client

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"veil/client/internal/format"
	"veil/vault"
)

// Conversation limits, spec/client.md §5.8–§5.10 and §6.
const (
	// MaxReaction bounds a reaction in bytes (§5.9).
	MaxReaction = format.MaxReaction
	// MaxReactions bounds the reactions one message keeps, one per
	// sender (§5.9).
	MaxReactions = 64
	// MaxReplyText is the longest text of a 1:1 reply (§5.7): a REPLY
	// carries the target's wire ID besides what a TEXT carries.
	MaxReplyText = MaxText - format.ReplyOverhead
	// MaxGroupReplyText is the longest text of a group reply.
	MaxGroupReplyText = format.MaxGroupReplyText
	// maxClockAhead is how far a sender's clock may run ahead of the
	// arrival, or its sent time precede the chat, before the arrival
	// time is shown instead (§6).
	maxClockAhead = 10 * time.Minute
)

// notAvailable is what a reply shows for a target that is unknown,
// deleted or gone.
const notAvailable = "message not available"

// msgMeta is a message's client data, sealed beside its body in
// vault.Message.Meta (spec/vault.md §6.1).
type msgMeta struct {
	Wire       string            `json:"w,omitempty"`  // an incoming group message's wire ID, hex
	Reply      string            `json:"r,omitempty"`  // the wire ID this message quotes, hex
	Reacts     map[string]string `json:"x,omitempty"`  // who → reaction; "" is us
	SentUnsure bool              `json:"su,omitempty"` // the sender's clock was out of bounds (§6)
	Timer      *uint32           `json:"t,omitempty"`  // a timer line: the chat's new timer in seconds
	Relays     string            `json:"rl,omitempty"` // a relays line: the group's new relays (relaysText)
	File       *fileMeta         `json:"f,omitempty"`  // a file message (files_meta.go)
}

// metaOf decodes m's client data; what does not decode counts as none.
func metaOf(m *vault.Message) msgMeta {
	var mm msgMeta
	if len(m.Meta) > 0 {
		_ = json.Unmarshal(m.Meta, &mm)
	}
	return mm
}

// setMeta stores mm in m, nothing when it is empty.
func setMeta(m *vault.Message, mm *msgMeta) {
	if mm.Wire == "" && mm.Reply == "" && len(mm.Reacts) == 0 && !mm.SentUnsure && mm.Timer == nil && mm.Relays == "" && mm.File == nil {
		m.Meta = nil
		return
	}
	m.Meta, _ = json.Marshal(mm) // plain strings and numbers: cannot fail
}

// sentTime reads the sender's clock from the first 8 bytes of a wire ID
// (spec/client.md §6) and bounds it: a time more than maxClockAhead after
// the arrival, or before the chat existed, gives the arrival time and
// unsure.
func sentTime(w format.WireID, received, created time.Time) (time.Time, bool) {
	ns := binary.BigEndian.Uint64(w[:8])
	if ns == 0 || ns > 1<<62 {
		return received, true
	}
	t := time.Unix(0, int64(ns))
	if t.After(received.Add(maxClockAhead)) || (!created.IsZero() && t.Before(created.Add(-maxClockAhead))) {
		return received, true
	}
	return t, false
}

// wireOf returns the wire ID that names m in its chat: our own messages'
// local IDs are their wire IDs, a 1:1 incoming ID ends in it, an incoming
// group message keeps it in its meta (spec/client.md §6, spec/groups.md
// §6.5). Timer and relays lines are never named.
func wireOf(m *vault.Message, mm *msgMeta) (string, bool) {
	if mm.Timer != nil || mm.Relays != "" {
		return "", false
	}
	if m.Direction == vault.Outgoing {
		if _, ok := outgoingWireID(m.ID); ok {
			return m.ID, true
		}
		return "", false
	}
	if _, w, ok := strings.Cut(m.ID, "-"); ok {
		return w, true
	}
	return mm.Wire, mm.Wire != ""
}

// findTarget finds the message of the 1:1 chat that wire ID w names, as a
// reply's quote or a reaction's target does (spec/client.md §5.8): one of
// ours, else the earliest stored message that carries it. Only this
// chat's messages are searched. A group's messages carry their wire IDs
// in their client data: a targetIndex finds them.
func findTarget(tx *vault.Tx, chat string, w format.WireID) (vault.Message, bool, error) {
	want := hex.EncodeToString(w[:])
	if m, err := tx.Message(chat, want); err == nil && m.Direction == vault.Outgoing {
		if mm := metaOf(&m); mm.Timer == nil {
			return m, true, nil
		}
	}
	// An incoming 1:1 message's local ID ends in "-" and its wire ID
	// (spec/client.md §6), so the IDs alone find it: nothing is opened
	// but the message found, whatever a peer's REACT names.
	ids, err := tx.MessageIDs(chat)
	if err != nil {
		return vault.Message{}, false, err
	}
	for _, id := range ids {
		if strings.HasSuffix(id, "-"+want) {
			m, err := tx.Message(chat, id)
			if errors.Is(err, vault.ErrNotFound) {
				return vault.Message{}, false, nil
			}
			return m, err == nil, err
		}
	}
	return vault.Message{}, false, nil
}

// targetIndex maps the wire IDs of one chat's messages to the message
// each names (findTarget's rule), built at its first use.
type targetIndex struct {
	tx     *vault.Tx
	chat   string
	byWire map[string]vault.Message
	err    error
}

// put records m, just stored, in an index already built: a message new
// in this transaction can be named by a later reaction of it, and a
// message changed here is found as it now is.
func (ix *targetIndex) put(m *vault.Message) {
	if ix.byWire == nil {
		return
	}
	mm := metaOf(m)
	w, ok := wireOf(m, &mm)
	if !ok {
		return
	}
	if old, seen := ix.byWire[w]; !seen || old.ID == m.ID || old.Direction == vault.Incoming && m.Direction == vault.Outgoing {
		ix.byWire[w] = *m
	}
}

func (ix *targetIndex) find(w string) (vault.Message, bool, error) {
	if ix.byWire == nil && ix.err == nil {
		ix.byWire = map[string]vault.Message{}
		ms, err := ix.tx.Messages(ix.chat, 0)
		ix.err = err
		for i := range ms {
			mm := metaOf(&ms[i])
			got, ok := wireOf(&ms[i], &mm)
			if !ok {
				continue
			}
			if old, seen := ix.byWire[got]; !seen || old.Direction == vault.Incoming && ms[i].Direction == vault.Outgoing {
				ix.byWire[got] = ms[i]
			}
		}
	}
	if ix.err != nil {
		return vault.Message{}, false, ix.err
	}
	m, ok := ix.byWire[w]
	return m, ok, nil
}

// checkReaction sanitises a reaction and reports whether what remains is
// one grapheme (spec/client.md §5.9): one visible character followed only
// by combining marks and emoji skin-tone modifiers, or one flag (a pair
// of regional indicators).
func checkReaction(s string) (string, bool) {
	if len(s) > MaxReaction || !utf8.ValidString(s) {
		return "", false
	}
	clean := SanitizeLine(s)
	if clean != s || clean == "" {
		return "", false
	}
	rs := []rune(clean)
	if len(rs) == 2 && isRegional(rs[0]) && isRegional(rs[1]) {
		return clean, true
	}
	first := rs[0]
	if unicode.IsSpace(first) || unicode.Is(unicode.M, first) || isRegional(first) || first == 0x2800 || first == utf8.RuneError {
		return "", false
	}
	for _, r := range rs[1:] {
		if !unicode.Is(unicode.M, r) && (r < 0x1F3FB || r > 0x1F3FF) {
			return "", false
		}
	}
	return clean, true
}

func isRegional(r rune) bool { return r >= 0x1F1E6 && r <= 0x1F1FF }

// Reaction is one reaction shown under a message: how many gave it, and
// who (sanitised names; Mine when we did).
type Reaction struct {
	Reaction string   `json:"reaction"`
	Count    int      `json:"count"`
	From     []string `json:"from,omitempty"`
	Mine     bool     `json:"mine,omitempty"`
}

// Quote is what a reply shows of the message it quotes: the target's own
// first line, sanitised, or Missing when it is unknown, deleted or gone.
type Quote struct {
	ID       string `json:"id,omitempty"` // the target's local ID
	From     string `json:"from,omitempty"`
	Outgoing bool   `json:"outgoing,omitempty"`
	Text     string `json:"text"`
	Missing  bool   `json:"missing,omitempty"`
}

// reactionsOf counts a message's reactions, most given first. names maps
// a 1:1 peer's key to its nickname; a group's keys are names already.
func reactionsOf(mm *msgMeta, peer string) []Reaction {
	if len(mm.Reacts) == 0 {
		return nil
	}
	by := map[string]*Reaction{}
	for who, r := range mm.Reacts {
		r = SanitizeLine(r)
		x := by[r]
		if x == nil {
			x = &Reaction{Reaction: r}
			by[r] = x
		}
		x.Count++
		switch who {
		case "":
			x.Mine = true
		case peerKey:
			x.From = append(x.From, peer)
		default:
			x.From = append(x.From, SanitizeLine(strings.TrimPrefix(who, "m:")))
		}
	}
	out := make([]Reaction, 0, len(by))
	for _, x := range by {
		sort.Strings(x.From)
		out = append(out, *x)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Reaction < out[j].Reaction
	})
	return out
}

// peerKey is the 1:1 peer's key in a message's reactions.
const peerKey = "\x00peer"

// quoteOf resolves a reply's target for display.
func quoteOf(ix *targetIndex, c *vault.Chat, reply, peer string) Quote {
	m, ok, err := ix.find(reply)
	if err != nil || !ok || m.Deleted {
		return Quote{Text: notAvailable, Missing: true}
	}
	q := Quote{ID: m.ID, Outgoing: m.Direction == vault.Outgoing, Text: firstLine(Sanitize(string(m.Body)))}
	if !q.Outgoing {
		q.From = peer
		if c.Kind == vault.ChatGroup {
			q.From = SanitizeLine(m.Sender)
		}
	}
	return q
}

// firstLine is s's first non-empty line, cut to 80 characters.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(strings.ReplaceAll(l, "\t", " ")); l != "" {
			if r := []rune(l); len(r) > 80 {
				return string(r[:79]) + "…"
			}
			return l
		}
	}
	return ""
}

// timerText says in words who set a chat's timer to what (§5.10).
func timerText(who string, secs uint32) string {
	if secs == 0 {
		return who + " turned disappearing messages off"
	}
	return who + " set messages to disappear after " + FormatDuration(time.Duration(secs)*time.Second)
}
