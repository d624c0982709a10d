package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"veil/client"
	"veil/daemon"
)

// groupUsage is the usage line of `veil group`.
const groupUsage = "create NAME [--as NICK] [--timer DUR] [--expires DUR] [--relay URL [--relay URL]] | invite GROUP [--expires DUR] [--local] | members GROUP [--json] | remove GROUP MEMBER | promote GROUP MEMBER | set GROUP [--timer DUR] [--expires DUR] [--relay URL [--relay URL]] | rekey GROUP | leave GROUP | verify GROUP | sync"

// cmdGroup runs the group subcommands (spec/groups.md). A group is a chat:
// send, read, burn and watch take its id or name like any other.
func cmdGroup(ctx context.Context, g *globals, io *stdio, argv []string) error {
	if len(argv) == 0 {
		return usagef("usage: veil group %s", groupUsage)
	}
	sub, rest := argv[0], argv[1:]
	if sub == "-h" || sub == "-help" || sub == "--help" {
		fmt.Fprintf(io.err, "usage: veil group %s\n\n\"veil group SUBCOMMAND --help\" explains a subcommand's flags.\n", groupUsage)
		return flag.ErrHelp
	}
	switch sub {
	case "create":
		return cmdGroupCreate(ctx, g, io, rest)
	case "invite":
		return cmdGroupInvite(ctx, g, io, rest)
	case "members":
		return cmdGroupMembers(ctx, g, io, rest)
	case "remove", "promote":
		return cmdGroupChange(ctx, g, io, sub, rest)
	case "set":
		return cmdGroupSet(ctx, g, io, rest)
	case "leave":
		return cmdGroupLeave(ctx, g, io, rest)
	case "verify":
		return cmdGroupVerify(ctx, g, io, rest)
	case "sync":
		return cmdGroupSync(ctx, g, io, rest)
	case "rekey":
		return cmdGroupRekey(ctx, g, io, rest)
	}
	return usagef("unknown group command %q; usage: veil group %s", sub, groupUsage)
}

func cmdGroupCreate(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "group create", "NAME [--as NICK] [--timer DUR] [--expires DUR] [--relay URL [--relay URL]]",
		"Create a secret group with you as its admin and print its chat id")
	as := fs.String("as", "", "your nickname in this group (random by default)")
	timer := durationFlag(fs, "timer", 0, "every member's copy of a message disappears `DUR` after it arrives (0: off)")
	expires := durationFlag(fs, "expires", 0, "the group erases itself for every member `DUR` from now (0: never)")
	var relays groupRelayFlag
	fs.Var(&relays, "relay", "relay `URL` for the group's logs (default: the profile's default relay); twice: the group lives on both, the first ordering its changes")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	params := map[string]any{"name": pos[0], "as": *as, "timer": seconds(*timer), "expires": seconds(*expires)}
	switch len(relays) {
	case 0:
	case 1:
		params["relay"] = relays[0]
	default:
		params["relays"] = []string(relays)
	}
	return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
		var r daemon.ChatResult
		if err := c.Call(ctx, "group.create", params, &r); err != nil {
			return err
		}
		fmt.Fprintln(io.out, r.Chat)
		return nil
	})
}

func cmdGroupInvite(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "group invite", "GROUP [--expires DUR] [--qr] [--local]",
		"Create a one-time key that lets one person join the group (veil join KEY); your client admits them while it runs (veil watch)")
	expires := durationFlag(fs, "expires", 24*time.Hour, "the key dies unused after `DUR` (at most 168h)")
	qr := fs.Bool("qr", false, "also print the key as a QR code")
	local := fs.Bool("local", false, "the key is for this machine or network: no warning when the group's relay is a loopback or private address")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
		var r daemon.KeyResult
		if err := c.Call(ctx, "group.invite", map[string]any{"chat": pos[0], "expires": seconds(*expires)}, &r); err != nil {
			return err
		}
		fmt.Fprintln(io.out, r.Key)
		warnReach(io, "group invite", r.Key, *local)
		if *qr {
			return printQR(io, r.Key)
		}
		return nil
	})
}

func cmdGroupMembers(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "group members", "GROUP [--json]", "List the group's members by the nickname each chose")
	asJSON := fs.Bool("json", false, "JSON output")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
		var r daemon.MembersResult
		if err := c.Call(ctx, "group.members", map[string]any{"chat": pos[0]}, &r); err != nil {
			return err
		}
		return printMembers(io, r.Members, r.Epoch, *asJSON)
	})
}

func printMembers(io *stdio, ms []client.MemberInfo, epoch uint64, asJSON bool) error {
	if asJSON {
		return writeJSON(io, struct {
			Epoch   uint64              `json:"epoch"`
			Members []client.MemberInfo `json:"members"`
		}{epoch, ms})
	}
	for _, m := range ms {
		line := m.Name
		if m.Admin {
			line += " (admin)"
		}
		if m.You {
			line += " (you)"
		}
		fmt.Fprintln(io.out, line)
	}
	return nil
}

func cmdGroupChange(ctx context.Context, g *globals, io *stdio, sub string, argv []string) error {
	summary := "Remove a member: the group moves to a new epoch whose keys and log the member never learns"
	if sub == "promote" {
		summary = "Make a member an admin"
	}
	summary += "; MEMBER is a nickname or, where two look alike, nick#key as group members shows it"
	fs := newFlags(g, io, "group "+sub, "GROUP MEMBER", summary)
	pos, err := parse(fs, argv, 2, 2)
	if err != nil {
		return err
	}
	return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
		return c.Call(ctx, "group."+sub, map[string]any{"chat": pos[0], "member": pos[1]}, nil)
	})
}

func cmdGroupSet(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "group set", "GROUP [--timer DUR] [--expires DUR] [--relay URL [--relay URL]]",
		"Change the group's disappearing timer, lifetime or relays for every member (admins only): a new epoch")
	timer := durationFlag(fs, "timer", 0, "every member's copy of a message disappears `DUR` after it arrives (0: off)")
	expires := durationFlag(fs, "expires", 0, "the group erases itself for every member `DUR` from now (0: never)")
	var relays groupRelayFlag
	fs.Var(&relays, "relay", "move the group to relay `URL` (given twice: to both, the first ordering its changes); members on an older veil stall")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	params := map[string]any{"chat": pos[0]}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "timer":
			params["timer"] = seconds(*timer)
		case "expires":
			params["expires"] = seconds(*expires)
		case "relay":
			params["relays"] = []string(relays)
		}
	})
	if len(params) == 1 {
		return usagef("usage: veil group set GROUP [--timer DUR] [--expires DUR] [--relay URL]: give at least one")
	}
	if _, ok := params["relays"]; ok {
		fmt.Fprintln(io.err, "Moving the group: members on a veil older than this one cannot follow and will stall until they update.")
	}
	return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
		return c.Call(ctx, "group.set", params, nil)
	})
}

func cmdGroupLeave(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "group leave", "GROUP", "Leave the group and erase it here; an admin's client then moves the others to a new epoch (a group you were removed from is only erased)")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	err = withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
		return c.Call(ctx, "group.leave", map[string]any{"chat": pos[0]}, nil)
	})
	if err == nil {
		fmt.Fprintf(io.err, "Left group %q and erased it here.\n", pos[0])
	}
	return err
}

func cmdGroupSync(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "group sync", "", "Read every group's log once (admit joiners, apply changes, store messages) and exit")
	if _, err := parse(fs, argv, 0, 0); err != nil {
		return err
	}
	return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error { return c.Call(ctx, "group.sync", nil, nil) })
}

func cmdGroupRekey(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "group rekey", "GROUP", "Replace your keys for the group with an update commit: a copy of your group state taken before reads nothing sent after (veil does this by itself every 7 days or 1,000 messages)")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
		return c.Call(ctx, "group.rekey", map[string]any{"chat": pos[0]}, nil)
	})
}

func cmdGroupVerify(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "group verify", "GROUP",
		"Print the group verification code of the current epoch; members who read the same digits to each other hold the same roster and keys")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
		var r daemon.CodeResult
		if err := c.Call(ctx, "group.verify", map[string]any{"chat": pos[0]}, &r); err != nil {
			return err
		}
		fmt.Fprintf(io.out, "%s\n(epoch %d: compare with members who see the same epoch)\n", r.Code, r.Epoch)
		return nil
	})
}

// groupRelayFlag is a repeatable --relay: the group's relays in order.
type groupRelayFlag []string

func (f *groupRelayFlag) String() string { return strings.Join(*f, " ") }

func (f *groupRelayFlag) Set(v string) error {
	if len(*f) == 2 {
		return errors.New("a group lives on at most 2 relays")
	}
	*f = append(*f, v)
	return nil
}
