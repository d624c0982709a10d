package main

import (
	"context"
	"fmt"
	"strings"

	"veil/client"
)

func cmdReact(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "react", "CHAT MSGID EMOJI | CHAT MSGID --remove", "React to a message (yours or theirs; MSGID as veil read prints it) with one emoji or character; a new reaction replaces yours")
	remove := fs.Bool("remove", false, "take your reaction back")
	pos, err := parse(fs, argv, 2, 3)
	if err != nil {
		return err
	}
	reaction := ""
	switch {
	case *remove && len(pos) == 3:
		return usagef("give an emoji or --remove, not both")
	case !*remove && len(pos) == 2:
		return usagef("give an emoji (such as 👍) or --remove")
	case len(pos) == 3:
		reaction = pos[2]
	}
	return withAPI(ctx, g, io, apiUse{flush: true}, func(ctx context.Context, c *api) error {
		return c.Call(ctx, "react", map[string]any{"chat": pos[0], "id": pos[1], "reaction": reaction}, nil)
	})
}

// printMessage prints one message of veil read: its ID, the time its
// sender sent it ("≈" when the sender's clock could not be believed and
// the arrival time stands in), who, the text, and under it the quote it
// replies to and its reactions, each on an indented line of its own.
func printMessage(io *stdio, m *client.MessageInfo) {
	when := m.Sent
	if when.IsZero() {
		when = m.Time
	}
	stamp := when.Local().Format("2006-01-02 15:04:05")
	if m.SentUnsure {
		stamp = "≈" + stamp
	}
	if m.Kind == "timer" || m.Kind == "relays" {
		fmt.Fprintf(io.out, "%s  %s  -- %s\n", m.ID, stamp, client.SanitizeLine(m.Text))
		return
	}
	who := "me"
	if !m.Outgoing {
		who = orDash(m.From)
	}
	text := m.Text
	if m.File != nil && !m.Deleted {
		text = fmt.Sprintf("[file] %s (%s, %s)", client.SanitizeLine(m.File.Name), client.FormatSize(m.File.Size), fileState(*m.File))
	}
	if m.Deleted {
		text = "(deleted)"
	} else if m.Edited {
		text += " (edited)"
	}
	status := ""
	if m.Outgoing {
		status = " [" + m.Status + "]"
	}
	fmt.Fprintf(io.out, "%s  %s  %s: %s%s\n", m.ID, stamp, who, indent(text), status)
	if m.Reply != nil {
		from := "me"
		if !m.Reply.Outgoing {
			from = orDash(m.Reply.From)
		}
		if m.Reply.Missing {
			fmt.Fprintf(io.out, "    ↳ reply to: %s\n", client.SanitizeLine(m.Reply.Text))
		} else {
			fmt.Fprintf(io.out, "    ↳ reply to %s: %s\n", client.SanitizeLine(from), client.SanitizeLine(m.Reply.Text))
		}
	}
	if len(m.Reactions) > 0 {
		var parts []string
		for _, r := range m.Reactions {
			parts = append(parts, fmt.Sprintf("%s %d", client.SanitizeLine(r.Reaction), r.Count))
		}
		fmt.Fprintf(io.out, "    reactions: %s\n", strings.Join(parts, "  "))
	}
}
