package tui

import (
	"context"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"veil/client"
	"veil/internal/qr"
)

// The verified mark (spec/client.md §4.5) in the list, the header and the
// chat, and the safety-code dialog with its QR code.

// verifyLostLine is the line a chat shows once its safety code changed
// after the user compared it.
const verifyLostLine = "⚠ The safety code changed after you verified it: the other side has a new identity key. Compare the code again (/verify) before trusting this chat."

// listVerifyBadge is the chat list's mark: ✓ verified, ⚠ code changed.
func listVerifyBadge(c client.ChatInfo) string {
	switch {
	case c.VerifyLost:
		return "⚠"
	case c.Verified:
		return "✓"
	}
	return ""
}

// verifyBadges are the header's words for the mark.
func verifyBadges(st styles, c client.ChatInfo) []string {
	switch {
	case c.VerifyLost:
		return []string{st.Error.Render("⚠ SAFETY CODE CHANGED")}
	case c.Verified:
		return []string{"✓ verified"}
	}
	return nil
}

// inviteState is the header's words for an open invite.
func inviteState(c client.ChatInfo, now time.Time, loc *time.Location) string {
	if c.InviteUntil.IsZero() {
		return "invite pending"
	}
	return "invite pending until " + shortTime(c.InviteUntil, now, loc)
}

// safetyDialog shows a chat's safety code as digits and as a QR code, and
// marks the chat verified on "m" (unmarks on "u").
type safetyDialog struct {
	st       styles
	keys     keyMap
	code     string
	verified bool
	mark     func(on bool) tea.Cmd
}

func (d *safetyDialog) SetSize(int, int) {}
func (d *safetyDialog) ShortHelp() []key.Binding {
	b := key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "they match: mark verified"))
	if d.verified {
		b = key.NewBinding(key.WithKeys("u"), key.WithHelp("u", "remove the mark"))
	}
	return []key.Binding{b, d.keys.Close}
}
func (d *safetyDialog) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }

func (d *safetyDialog) Update(msg tea.Msg) (dialog, tea.Cmd) {
	if km, ok := msg.(tea.KeyMsg); ok {
		switch {
		case km.Type == tea.KeyEnter || km.String() == "q":
			return d, closeDialog
		case km.String() == "m" && !d.verified:
			return d, tea.Batch(closeDialog, d.mark(true))
		case km.String() == "u" && d.verified:
			return d, tea.Batch(closeDialog, d.mark(false))
		}
	}
	return d, nil
}

// View is used only where the App cannot give the whole screen.
func (d *safetyDialog) View() string { return d.FullView(76, 20) }

// FullView draws the code's digits beside its QR code when both fit in
// w×h, else the digits alone with a hint.
func (d *safetyDialog) FullView(w, h int) string {
	const textW = 36
	text := func(width int) []string {
		out := []string{d.st.Title.Render("Safety code"), ""}
		out = append(out, strings.Split(d.st.Bold.Render(groupDigits(d.code)), "\n")...)
		out = append(out, "")
		intro := "Compare these digits with the other person, in person or on a call, or let them scan the code. If they match, nobody sits between you."
		out = append(out, strings.Split(lipgloss.NewStyle().Width(width).Render(intro), "\n")...)
		out = append(out, "")
		if d.verified {
			out = append(out, "✓ You marked this chat verified.")
		} else {
			out = append(out, "Press m once they match.")
		}
		return out
	}
	var view string
	m, err := qr.Encode(strings.Join(strings.Fields(d.code), ""))
	cols, rows := 0, h+1
	if err == nil {
		cols, rows = qr.RenderSize(m)
	}
	if rows <= h && cols+2+textW <= w {
		code := strings.TrimRight(qr.Render(m, !d.st.noColor), "\n")
		view = lipgloss.JoinHorizontal(lipgloss.Top, code, "  ", strings.Join(text(textW), "\n"))
	} else {
		lines := text(max(10, w-2))
		hint := lipgloss.NewStyle().Width(max(10, w-2)).Render("A larger terminal (80×24) shows the QR code; veil verify CHAT --qr prints it.")
		lines = append(lines, "", d.st.Faint.Render(hint))
		view = strings.Join(lines, "\n")
	}
	return lipgloss.NewStyle().MaxWidth(w).Height(h).MaxHeight(h).Render(view)
}

// markCmd records or removes the verified mark of chat.
func markCmd(eng *client.Engine, chat string) func(on bool) tea.Cmd {
	return func(on bool) tea.Cmd {
		note := "marked verified: veil warns if this chat's safety code ever changes"
		if !on {
			note = "verified mark removed"
		}
		return action(note, true, localTimeout, func(ctx context.Context) error { return eng.MarkVerified(ctx, chat, on) })
	}
}
