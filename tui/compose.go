package tui

import (
	"sort"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textarea"
	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
)

// compose is the multi-line message box with an in-memory input history
// (never written to disk) and /command completion.
type compose struct {
	keys    keyMap
	ta      textarea.Model
	history []string
	hpos    int
}

func newCompose(keys keyMap) compose {
	ta := textarea.New()
	ta.Placeholder = "message, or /help"
	ta.ShowLineNumbers = false
	ta.Prompt = "│ "
	// The engine checks the limit in bytes (spec/client.md §5.7); a
	// character is at least one byte, so every text it accepts fits.
	ta.CharLimit = client.MaxText
	ta.MaxHeight = 0
	ta.KeyMap.InsertNewline = keys.Newline
	ta.Focus()
	return compose{keys: keys, ta: ta}
}

func (c *compose) SetSize(w, h int) {
	c.ta.SetWidth(max(10, w))
	c.ta.SetHeight(max(1, h))
}

func (c *compose) setKeys(k keyMap) {
	c.keys = k
	c.ta.KeyMap.InsertNewline = k.Newline
}

func (c compose) ShortHelp() []key.Binding {
	return []key.Binding{c.keys.Send, c.keys.Newline, c.keys.History, c.keys.Complete}
}
func (c compose) FullHelp() [][]key.Binding { return [][]key.Binding{c.ShortHelp()} }

func (c compose) value() string { return c.ta.Value() }

// take returns the text to send and empties the box, remembering it.
func (c *compose) take() string {
	v := c.ta.Value()
	c.ta.Reset()
	if strings.TrimSpace(v) != "" {
		c.history = append(c.history, v)
		if len(c.history) > historyLen {
			c.history = c.history[1:]
		}
	}
	c.hpos = len(c.history)
	return v
}

func (c *compose) recall(d int) {
	if len(c.history) == 0 {
		return
	}
	c.hpos = min(max(c.hpos+d, 0), len(c.history))
	if c.hpos == len(c.history) {
		c.ta.Reset()
		return
	}
	c.ta.SetValue(c.history[c.hpos])
}

// complete completes a /command name: the unique match, or the list.
func (c *compose) complete() (candidates []string) {
	v := c.ta.Value()
	if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " \n") {
		return nil
	}
	for _, cmd := range commandTable() {
		if strings.HasPrefix("/"+cmd.name, v) {
			candidates = append(candidates, "/"+cmd.name)
		}
	}
	sort.Strings(candidates)
	if len(candidates) == 1 {
		c.ta.SetValue(candidates[0] + " ")
	}
	return candidates
}

func (c compose) Update(msg tea.Msg) (compose, tea.Cmd) {
	if km, ok := msg.(tea.KeyMsg); ok && key.Matches(km, c.keys.History) {
		if km.String() == "ctrl+p" {
			c.recall(-1)
		} else {
			c.recall(1)
		}
		return c, nil
	}
	var cmd tea.Cmd
	c.ta, cmd = c.ta.Update(msg)
	return c, cmd
}

func (c compose) View() string { return c.ta.View() }
