package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
)

// relayList is a --relay flag given up to twice.
type relayList []string

func (r *relayList) String() string { return strings.Join(*r, ",") }

func (r *relayList) Set(v string) error {
	if len(*r) == 2 {
		return errors.New("at most two relays")
	}
	*r = append(*r, v)
	return nil
}

const chatUsage = "move CHAT --slot N [--relay URL] | rotate CHAT"

func cmdChat(ctx context.Context, g *globals, io *stdio, argv []string) error {
	if len(argv) > 0 && (argv[0] == "-h" || argv[0] == "-help" || argv[0] == "--help") {
		fmt.Fprintf(io.err, "usage: veil chat %s\n\n\"veil chat SUBCOMMAND --help\" explains a subcommand's flags.\n", chatUsage)
		return flag.ErrHelp
	}
	if len(argv) == 0 || argv[0] != "move" && argv[0] != "rotate" {
		return usagef("usage: veil chat %s", chatUsage)
	}
	sub := argv[0]
	fs := newFlags(g, io, "chat "+sub, "CHAT [--slot N --relay URL]",
		"Move one mailbox of a 1:1 chat to a relay (slot 1 adds a second relay), or rotate every mailbox; the peer switches in band")
	slot := fs.Int("slot", 0, "the slot `N` to move: 0, or 1 (a chat's second relay)")
	relayURL := fs.String("relay", "", "the relay `URL` to move the slot to (default: its own relay)")
	pos, err := parse(fs, argv[1:], 1, 1)
	if err != nil {
		return err
	}
	return withAPI(ctx, g, io, apiUse{flush: true}, func(ctx context.Context, c *api) error {
		if sub == "rotate" {
			if err := c.Call(ctx, "chat.rotate", map[string]any{"chat": pos[0]}, nil); err != nil {
				return err
			}
			fmt.Fprintln(io.err, "new mailboxes offered; the old ones are deleted once the other side switched")
			return nil
		}
		if err := c.Call(ctx, "chat.move", map[string]any{"chat": pos[0], "slot": *slot, "relay": *relayURL}, nil); err != nil {
			return err
		}
		fmt.Fprintln(io.err, "new mailbox offered; the old one is deleted once the other side switched")
		return nil
	})
}
