package tui

import (
	"context"

	tea "github.com/charmbracelet/bubbletea"
)

// SetupChecker is what a Profile may also do so that the first-run screen
// checks each answer as it is entered, with the error beside the field and
// nothing to type again; without it the answers are checked by Create.
// Errors are sentences in the user's words.
type SetupChecker interface {
	// CheckPIN reports why pin cannot be a PIN or a duress PIN (too
	// short), or nil. pin must be kept secret and is not kept.
	CheckPIN(pin []byte) error
	// CheckRelay parses a relay address and tries to reach it, within
	// ctx's deadline.
	CheckRelay(ctx context.Context, addr string) error
}

// relayCheckedMsg is the outcome of checking the first-run relay address.
type relayCheckedMsg struct {
	addr string
	err  error
}

func checkRelay(c SetupChecker, addr string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), relayCheckTimeout)
		defer cancel()
		return relayCheckedMsg{addr: addr, err: c.CheckRelay(ctx, addr)}
	}
}

// checkPIN asks the Profile, when it can tell, whether pin is long enough.
func (g *gate) checkPIN(pin []byte) string {
	if c, ok := g.p.(SetupChecker); ok {
		if err := c.CheckPIN(pin); err != nil {
			return userErr(err)
		}
	}
	return ""
}
