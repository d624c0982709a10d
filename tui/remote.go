package tui

import tea "github.com/charmbracelet/bubbletea"

// Requests from outside the terminal (cmd/veil sends them with
// tea.Program.Send when the local API asks, spec/api.md).
type (
	// LockMsg locks the TUI exactly as its lock key does.
	LockMsg struct{}
	// EraseMsg erases the profile exactly as the panic command does; the
	// TUI then exits. Profile.Erase says when the erase is done.
	EraseMsg struct{}
)

// onErase starts the panic erase unless one is under way.
func (a *App) onErase() tea.Cmd {
	if a.screen == scrErased {
		return nil
	}
	return a.panicErase()
}
