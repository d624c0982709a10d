package tui

import (
	"fmt"
	"strings"
	"time"

	"veil/client"
)

// Drawing conversations: day separators by the sender's local day,
// quoted replies, reactions, timer lines and what the selected message
// shows besides (spec/client.md §5.8–§5.10, §6).

// sentOf is when a message's sender sent it (spec/client.md §6); a
// message without one is shown at its arrival.
func sentOf(m client.MessageInfo) time.Time {
	if m.Sent.IsZero() {
		return m.Time
	}
	return m.Sent
}

// dayLabel names t's day for a separator: Today, Yesterday, else the date,
// both in the same location as now.
func dayLabel(t, now time.Time) string {
	y, m, d := t.Date()
	ny, nm, nd := now.Date()
	if y == ny && m == nm && d == nd {
		return "Today"
	}
	py, pm, pd := now.AddDate(0, 0, -1).Date()
	if y == py && m == pm && d == pd {
		return "Yesterday"
	}
	return t.Format("Mon 2 Jan 2006")
}

// quoteLine is the line a reply shows above its text: who wrote the
// quoted message and its first line, or that it is not available.
func quoteLine(m client.MessageInfo, peer string, group bool) string {
	if m.Reply == nil {
		return ""
	}
	q := m.Reply
	if q.Missing {
		return "↳ " + client.SanitizeLine(q.Text)
	}
	who := "you"
	if !q.Outgoing {
		who = peer
		if group {
			who = client.SanitizeLine(q.From)
		}
	}
	return "↳ " + truncate(who, 16) + ": " + client.SanitizeLine(q.Text)
}

// reactionsLine counts a message's reactions: "👍 2  ❤ 1".
func reactionsLine(rs []client.Reaction) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s %d", client.SanitizeLine(r.Reaction), r.Count))
	}
	return strings.Join(parts, "  ")
}

// selectedInfo is the line under the selected message: when it arrived
// (and when its sender sent it), and in a group who gave each reaction.
func selectedInfo(m client.MessageInfo, loc *time.Location, group bool) string {
	at := m.Time.In(loc).Format("Mon 2 Jan 15:04:05")
	info := "arrived " + at
	if m.Outgoing {
		info = "sent " + at
	} else if !m.Sent.IsZero() {
		info = "sent " + m.Sent.In(loc).Format("15:04:05") + " · " + info
		if m.SentUnsure {
			info = "sender's clock off · " + "arrived " + at
		}
	}
	if group {
		for _, r := range m.Reactions {
			who := make([]string, 0, len(r.From)+1)
			if r.Mine {
				who = append(who, "you")
			}
			for _, f := range r.From {
				who = append(who, client.SanitizeLine(f))
			}
			info += " · " + client.SanitizeLine(r.Reaction) + " " + strings.Join(who, ", ")
		}
	}
	return info
}

// timerLineText says who set the chat's timer to what, naming a 1:1 peer
// as the chat list does (spec/client.md §5.10).
func timerLineText(m client.MessageInfo, peer string, group bool) string {
	if m.Timer == nil {
		return client.SanitizeLine(m.Text)
	}
	who := "you"
	if !m.Outgoing {
		who = peer
		if group {
			who = client.SanitizeLine(m.From)
		}
	}
	if *m.Timer == 0 {
		return who + " turned disappearing messages off"
	}
	return who + " set messages to disappear after " + client.FormatDuration(time.Duration(*m.Timer)*time.Second)
}
