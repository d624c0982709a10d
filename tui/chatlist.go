package tui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/lipgloss"

	"veil/client"
)

// chatList is the left pane: every chat, unread first, then by last
// activity, with unread counts, the time of the last message and badges
// for disappearing timers (⏱) and chat deadlines (⌛).
type chatList struct {
	st     styles
	keys   keyMap
	chats  []client.ChatInfo
	groups map[string]bool // chat IDs that are groups
	cursor int
	focus  bool
	w, h   int
	now    func() time.Time
	loc    *time.Location
}

func (l *chatList) SetSize(w, h int) { l.w, l.h = w, h }

func (l chatList) ShortHelp() []key.Binding {
	return []key.Binding{l.keys.Up, l.keys.Down, l.keys.Open, l.keys.Jump}
}
func (l chatList) FullHelp() [][]key.Binding { return [][]key.Binding{l.ShortHelp()} }

// chatTitle is a chat's display name, sanitised again here: whatever the
// engine promises, nothing from a peer reaches the screen unfiltered.
func chatTitle(c client.ChatInfo) string {
	switch {
	case c.Name != "":
		return client.SanitizeLine(c.Name)
	case c.Peer != "":
		return client.SanitizeLine(c.Peer)
	case c.Pending:
		return "invite " + shortID(c.ID)
	}
	return shortID(c.ID)
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// set replaces the chats, keeping the cursor on the same chat.
func (l *chatList) set(chats []client.ChatInfo) {
	cur := l.selectedID()
	sort.SliceStable(chats, func(i, j int) bool {
		a, b := chats[i], chats[j]
		if (a.Unread > 0) != (b.Unread > 0) {
			return a.Unread > 0
		}
		if !a.LastActive.Equal(b.LastActive) {
			return a.LastActive.After(b.LastActive)
		}
		return a.ID < b.ID
	})
	l.chats = chats
	l.cursor = 0
	for i, c := range chats {
		if c.ID == cur {
			l.cursor = i
		}
	}
}

func (l *chatList) selectedID() string {
	if l.cursor < 0 || l.cursor >= len(l.chats) {
		return ""
	}
	return l.chats[l.cursor].ID
}

func (l *chatList) selectID(id string) {
	for i, c := range l.chats {
		if c.ID == id {
			l.cursor = i
		}
	}
}

func (l *chatList) move(d int) {
	if len(l.chats) == 0 {
		return
	}
	l.cursor = min(max(l.cursor+d, 0), len(l.chats)-1)
}

func (l chatList) View() string {
	var rows []string
	inner := max(1, l.w-1)
	title := l.st.Bold.Render("Chats")
	rows = append(rows, title)
	if len(l.chats) == 0 {
		rows = append(rows, l.st.Faint.Width(inner).Render("none yet: /invite or /join KEY"))
	}
	top := 0
	if visible := l.h - 1; visible > 0 && l.cursor >= visible {
		top = l.cursor - visible + 1
	}
	for i := top; i < len(l.chats) && len(rows) < l.h; i++ {
		c := l.chats[i]
		num := "  "
		if i < 9 {
			num = fmt.Sprintf("%d ", i+1)
		}
		var badges string
		if l.groups[c.ID] {
			badges += "#"
		}
		if c.MessageTTL > 0 {
			badges += "⏱"
		}
		if !c.Deadline.IsZero() {
			badges += "⌛"
		}
		if c.Leaked {
			badges += "!"
		}
		badges += listVerifyBadge(c)
		right := ""
		switch {
		case c.Pending && !c.InviteUntil.IsZero():
			right = "until " + shortTime(c.InviteUntil, l.now(), l.loc)
		case c.Unread > 0:
			right = fmt.Sprintf("(%d)", c.Unread)
		case !c.LastActive.IsZero():
			right = shortTime(c.LastActive, l.now(), l.loc)
		}
		name := chatTitle(c)
		avail := inner - lipgloss.Width(num) - lipgloss.Width(right) - lipgloss.Width(badges) - 2
		name = truncate(name, max(1, avail))
		pad := max(1, inner-lipgloss.Width(num)-lipgloss.Width(name)-lipgloss.Width(badges)-lipgloss.Width(right)-1)
		line := num + name + " " + l.st.Badge.Render(badges) + strings.Repeat(" ", pad) + right
		line = lipgloss.NewStyle().MaxWidth(inner).Render(line)
		switch {
		case i == l.cursor && l.focus:
			line = l.st.Selected.Render(line)
		case i == l.cursor:
			line = l.st.Bold.Render(line)
		case c.Pending:
			line = l.st.Faint.Render(line) // an invite, not a chat yet
		case c.Unread > 0:
			line = l.st.Unread.Render(line)
		}
		rows = append(rows, line)
	}
	return lipgloss.NewStyle().Width(inner).Height(l.h).MaxHeight(l.h).Render(strings.Join(rows, "\n"))
}

// shortTime is a clock time today, else a date.
func shortTime(t, now time.Time, loc *time.Location) string {
	t, now = t.In(loc), now.In(loc)
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04")
	}
	if t.Year() == now.Year() {
		return t.Format("Jan 2")
	}
	return t.Format("2006-01")
}

// truncate cuts s to w cells, ending in … when it was cut.
func truncate(s string, w int) string {
	if lipgloss.Width(s) <= w {
		return s
	}
	if w <= 1 {
		return "…"
	}
	return lipgloss.NewStyle().MaxWidth(w-1).Render(s) + "…"
}
