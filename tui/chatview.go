package tui

import (
	"fmt"
	"image"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"veil/client"
)

// chatView is one chat's scrollback: day separators, timestamps, delivery
// and read marks, edited and deleted marks, countdowns on disappearing
// messages, and search highlights.
type chatView struct {
	st     styles
	keys   keyMap
	vp     viewport.Model
	chat   client.ChatInfo
	msgs   []client.MessageInfo
	query  string
	match  int   // index into matchLines of the current match
	lines  []int // first content line of each message
	hits   []int // indexes of messages matching query
	now    func() time.Time
	loc    *time.Location
	w, h   int
	loaded bool
	group  bool   // messages carry their sender's nickname
	jumpTo string // a message to scroll to once the chat is loaded (search)
	// selID is the selected message (reply, react, its arrival time),
	// selecting whether the arrows move it (selection.go); reply is the
	// message the next send quotes.
	selID     string
	selecting bool
	reply     string
	// images holds the size of each ready image file read so far, by
	// message ID (files.go).
	images map[string]image.Point
}

func newChatView(st styles, keys keyMap, now func() time.Time, loc *time.Location) chatView {
	vp := viewport.New(1, 1)
	vp.KeyMap = viewport.KeyMap{
		PageUp:   keys.PageUp,
		PageDown: keys.PageDown,
	}
	vp.MouseWheelEnabled = true
	return chatView{st: st, keys: keys, vp: vp, now: now, loc: loc}
}

func (v *chatView) SetSize(w, h int) {
	v.w, v.h = w, h
	v.vp.Width, v.vp.Height = max(1, w), max(1, h-1)
	v.render(false)
}

func (v chatView) ShortHelp() []key.Binding {
	return []key.Binding{v.keys.PageUp, v.keys.PageDown, v.keys.Search}
}
func (v chatView) FullHelp() [][]key.Binding { return [][]key.Binding{v.ShortHelp()} }

// set shows a chat's messages; it stays at the bottom if it was there.
func (v *chatView) set(c client.ChatInfo, msgs []client.MessageInfo) {
	same := v.chat.ID == c.ID && v.loaded
	bottom := v.vp.AtBottom() || !same
	v.chat, v.msgs, v.loaded = c, msgs, true
	if !same {
		v.query, v.hits = "", nil
		v.selID, v.selecting, v.reply = "", false, ""
	}
	v.render(bottom)
	if v.jumpTo != "" {
		v.jump(v.jumpTo)
		v.jumpTo = ""
	}
}

func (v *chatView) clear() {
	*v = chatView{st: v.st, keys: v.keys, vp: v.vp, now: v.now, loc: v.loc, w: v.w, h: v.h, images: v.images}
	v.vp.SetContent("")
}

func (v chatView) Update(msg tea.Msg) (chatView, tea.Cmd) {
	var cmd tea.Cmd
	v.vp, cmd = v.vp.Update(msg)
	return v, cmd
}

// search sets the query and moves to the newest match; again moves to the
// next older one.
func (v *chatView) search(q string, again bool) {
	q = strings.ToLower(q)
	if q != v.query || !again {
		v.query = q
		v.hits = v.hits[:0]
		for i, m := range v.msgs {
			if q != "" && !m.Deleted && strings.Contains(strings.ToLower(client.Sanitize(m.Text)), q) {
				v.hits = append(v.hits, i)
			}
		}
		v.match = len(v.hits) - 1
	} else if len(v.hits) > 0 {
		v.match = (v.match - 1 + len(v.hits)) % len(v.hits)
	}
	v.render(false)
	if v.match >= 0 && v.match < len(v.hits) {
		v.vp.SetYOffset(max(0, v.lines[v.hits[v.match]]-v.vp.Height/2))
	}
}

func (v *chatView) searchStatus() string {
	if v.query == "" {
		return ""
	}
	if len(v.hits) == 0 {
		return "no match"
	}
	return fmt.Sprintf("match %d of %d", len(v.hits)-v.match, len(v.hits))
}

// hasCountdown reports whether a message shows a countdown, so the view
// must be drawn again as time passes.
func (v *chatView) hasCountdown() bool {
	for _, m := range v.msgs {
		if !m.Expires.IsZero() {
			return true
		}
	}
	return false
}

// render rebuilds the content; the countdowns change every second.
func (v *chatView) render(bottom bool) {
	if !v.loaded {
		return
	}
	now := v.now()
	width := max(10, v.vp.Width)
	var b strings.Builder
	v.lines = v.lines[:0]
	line := 0
	var lastDay string
	isHit := map[int]bool{}
	for _, h := range v.hits {
		isHit[h] = true
	}
	peer := chatTitle(v.chat) // the name we gave them, else their nickname
	for i, m := range v.msgs {
		t := sentOf(m).In(v.loc)
		if day := dayLabel(t, now.In(v.loc)); day != lastDay {
			lastDay = day
			sep := "── " + day + " "
			sep += strings.Repeat("─", max(0, width-lipgloss.Width(sep)))
			b.WriteString(v.st.DaySep.Render(sep) + "\n")
			line++
		}
		v.lines = append(v.lines, line)
		selected := m.ID == v.selID && v.selID != ""
		stamp := t.Format("15:04")
		if m.SentUnsure {
			stamp = "≈" + t.Format("15:04")
		}
		if m.Kind == "timer" || m.Kind == "relays" {
			tl := m.Text
			if m.Kind == "timer" {
				tl = timerLineText(m, peer, v.group)
			}
			tl = truncate(client.SanitizeLine(tl), max(4, width-len(stamp)-3))
			l := v.st.Faint.Render(stamp + " ⏱ " + tl)
			if selected {
				l = v.st.Selected.Render(stamp) + v.st.Faint.Render(" ⏱ "+tl)
			}
			b.WriteString(l + "\n")
			line++
			continue
		}
		from := peer
		if v.group {
			from = client.SanitizeLine(m.From)
		}
		who := v.st.Peer.Render(truncate(from, 16))
		if m.Outgoing {
			who = v.st.Me.Render("you")
		}
		stampR := v.st.Faint.Render(stamp)
		if selected {
			stampR = v.st.Selected.Render(stamp)
		}
		head := stampR + " " + who + " "
		text := client.Sanitize(m.Text)
		if m.File != nil && !m.Deleted {
			text = fileLineText(m.File, v.images[m.ID])
		}
		hit := isHit[i] && v.query != ""
		if m.Deleted {
			text = v.st.Deleted.Render("message deleted")
		} else if !selected && !hit && m.File == nil {
			text = v.clipLines(text)
		}
		if hit && !m.Deleted {
			text = highlight(text, v.query, v.st.Match)
		}
		var marks []string
		if m.Edited && !m.Deleted {
			marks = append(marks, "(edited)")
		}
		if !m.Expires.IsZero() {
			marks = append(marks, "⏱ "+countdown(m.Expires.Sub(now)))
		}
		if m.Outgoing {
			marks = append(marks, statusMark(m.Status))
		}
		tail := ""
		if len(marks) > 0 {
			tail = " " + v.st.Mark.Render(strings.Join(marks, " "))
			if m.Status == "read" && m.Outgoing {
				tail = " " + v.st.Read.Render(strings.Join(marks, " "))
			}
		}
		indent := lipgloss.Width(head)
		pad := strings.Repeat(" ", indent)
		bodyW := max(4, width-indent)
		if q := quoteLine(m, peer, v.group); q != "" && !m.Deleted {
			b.WriteString(head + v.st.Faint.Render(truncate(q, bodyW)) + "\n")
			line++
			head = pad
		}
		body := lipgloss.NewStyle().Width(bodyW).Render(text + tail)
		body = strings.ReplaceAll(body, "\n", "\n"+pad)
		b.WriteString(head + body + "\n")
		line += strings.Count(body, "\n") + 1
		if r := reactionsLine(m.Reactions); r != "" && !m.Deleted {
			b.WriteString(pad + v.st.Mark.Render(truncate(r, bodyW)) + "\n")
			line++
		}
		if selected {
			b.WriteString(pad + v.st.Faint.Render(truncate(selectedInfo(m, v.loc, v.group), bodyW)) + "\n")
			line++
		}
	}
	if len(v.msgs) == 0 {
		b.WriteString(v.st.Faint.Render(emptyChatHint(v.chat)) + "\n")
	}
	if v.chat.Removed || (v.chat.Notice != "" && !v.chat.Waiting) { // removed or cut off
		b.WriteString(v.st.Faint.Render(client.SanitizeLine(v.chat.Notice)) + "\n")
	}
	if v.chat.VerifyLost {
		b.WriteString(lipgloss.NewStyle().Width(width).Render(v.st.Error.Render(verifyLostLine)) + "\n")
	}
	v.vp.SetContent(strings.TrimRight(b.String(), "\n"))
	if bottom {
		v.vp.GotoBottom()
	}
}

// clipLines cuts a message of more lines than a screen holds to that
// many, saying how many more there are: every message is drawn again on
// each render (every second while one counts down), so a peer's message
// of thousands of short lines would otherwise make each render take
// seconds. The selected message, and a search hit, are drawn whole.
func (v *chatView) clipLines(text string) string {
	limit := max(minClipLines, v.vp.Height)
	cut, n := 0, 0
	for i := 0; i < len(text); i++ {
		if text[i] != '\n' {
			continue
		}
		n++
		if n == limit {
			cut = i
		}
	}
	if n < limit { // at most limit lines
		return text
	}
	more := n + 1 - limit
	if strings.HasSuffix(text, "\n") {
		more--
	}
	if more <= 0 {
		return text
	}
	return text[:cut] + "\n" + v.st.Faint.Render(fmt.Sprintf("… %d more lines: select the message to read it all", more))
}

// minClipLines is the fewest lines clipLines leaves a message.
const minClipLines = 10

func emptyChatHint(c client.ChatInfo) string {
	if c.Pending {
		return "Waiting for someone to join with this chat's invite key.\n" + inviteListHint(c)
	}
	if c.Waiting {
		return "Waiting for an admin to let you in."
	}
	return "No messages yet. Messages are end-to-end encrypted."
}

func (v chatView) View() string {
	if !v.loaded {
		return lipgloss.NewStyle().Width(v.w).Height(v.h).Render(v.st.Faint.Render("Select a chat, or /invite to start one. F1: help"))
	}
	head := v.st.Bold.Render(truncate(chatTitle(v.chat), max(1, v.w/2)))
	var info []string
	if v.group {
		info = append(info, "group")
	}
	if v.chat.MessageTTL > 0 {
		info = append(info, "⏱ "+client.FormatDuration(v.chat.MessageTTL))
	}
	if !v.chat.Deadline.IsZero() {
		info = append(info, "⌛ "+countdown(v.chat.Deadline.Sub(v.now())))
	}
	if v.chat.Pending {
		info = append(info, inviteState(v.chat, v.now(), v.loc))
	}
	if v.chat.Leaked {
		info = append(info, "INVITE LEAKED")
	}
	info = append(info, verifyBadges(v.st, v.chat)...)
	if p := v.chat.PQ; p != nil && !p.On {
		// spec/client.md §5.13: said only while the chat lacks it.
		info = append(info, "no post-quantum healing")
	}
	if r := relayBadge(v.chat, v.now()); r != "" {
		info = append(info, r)
	}
	switch {
	case v.chat.Waiting:
		info = append(info, "waiting for an admin to let you in")
	case v.chat.Removed:
		info = append(info, "removed: read-only")
	}
	if s := v.searchStatus(); s != "" {
		info = append(info, s)
	}
	if len(info) > 0 {
		head += " " + v.st.Faint.Render(strings.Join(info, " · "))
	}
	head = lipgloss.NewStyle().MaxWidth(v.w).Render(head)
	return head + "\n" + v.vp.View()
}

// highlight marks each occurrence of q (lower case) in s.
func highlight(s, q string, st lipgloss.Style) string {
	low := strings.ToLower(s)
	if len(low) != len(s) {
		return s // case folding changed lengths: no highlight, no garbling
	}
	var b strings.Builder
	for {
		i := strings.Index(low, q)
		if i < 0 || q == "" {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i] + st.Render(s[i:i+len(q)]))
		s, low = s[i+len(q):], low[i+len(q):]
	}
}

// statusMark is an outgoing message's delivery mark (spec/client.md §7).
func statusMark(status string) string {
	switch status {
	case "queued":
		return "◷ queued"
	case "sent":
		return "✓"
	case "delivered":
		return "✓✓"
	case "read":
		return "✓✓ read"
	}
	return client.SanitizeLine(status)
}

// countdown is a remaining time for a badge: 59s, 4m, 3h, 2d.
func countdown(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
