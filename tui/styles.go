package tui

import (
	"os"

	"github.com/charmbracelet/lipgloss"
)

// styles are every style the TUI draws with. With NO_COLOR set, colours
// are dropped and only bold, faint and reverse remain.
type styles struct {
	noColor bool

	Title, Faint, Bold, Error, Notice       lipgloss.Style
	Selected, Unread, Badge, Me, Peer       lipgloss.Style
	Mark, Read, Deleted, DaySep, Match      lipgloss.Style
	Pane, FocusPane, Dialog, StatusBar, Key lipgloss.Style
}

func newStyles() styles {
	noColor := os.Getenv("NO_COLOR") != ""
	c := func(s lipgloss.Style, col string) lipgloss.Style {
		if noColor {
			return s
		}
		return s.Foreground(lipgloss.Color(col))
	}
	border := lipgloss.NormalBorder()
	return styles{
		noColor:   noColor,
		Title:     c(lipgloss.NewStyle().Bold(true), "12"),
		Faint:     lipgloss.NewStyle().Faint(true),
		Bold:      lipgloss.NewStyle().Bold(true),
		Error:     c(lipgloss.NewStyle().Bold(true), "9"),
		Notice:    c(lipgloss.NewStyle(), "11"),
		Selected:  lipgloss.NewStyle().Reverse(true),
		Unread:    c(lipgloss.NewStyle().Bold(true), "10"),
		Badge:     c(lipgloss.NewStyle(), "13"),
		Me:        c(lipgloss.NewStyle().Bold(true), "14"),
		Peer:      c(lipgloss.NewStyle().Bold(true), "13"),
		Mark:      lipgloss.NewStyle().Faint(true),
		Read:      c(lipgloss.NewStyle(), "12"),
		Deleted:   lipgloss.NewStyle().Italic(true).Faint(true),
		DaySep:    lipgloss.NewStyle().Faint(true),
		Match:     lipgloss.NewStyle().Reverse(true),
		Pane:      lipgloss.NewStyle().Border(border, false, true, false, false).BorderForeground(lipgloss.Color("8")),
		FocusPane: lipgloss.NewStyle().Border(border, false, true, false, false),
		Dialog:    lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).Padding(0, 1),
		StatusBar: lipgloss.NewStyle().Reverse(true),
		Key:       lipgloss.NewStyle().Bold(true),
	}
}
