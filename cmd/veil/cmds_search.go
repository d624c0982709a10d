package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	"veil/client"
	"veil/daemon"
)

// Commands for open invites, search and the verified mark
// (spec/client.md §4.5, §4.6, §9.1).

func cmdInvites(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "invites", "[--json] [--show ID [--qr] [--out FILE]] [--cancel ID]",
		"List your open invites, 1:1 and group (nobody joined yet), with their IDs and deadlines; show one's key again or cancel it")
	asJSON := fs.Bool("json", false, "one JSON object a line")
	show := fs.String("show", "", "print the key of the open invite `ID` again (a 1:1 invite's chat works too)")
	cancel := fs.String("cancel", "", "cancel the open invite `ID`: its key dies and its keys are erased")
	qr := fs.Bool("qr", false, "with --show: also print the key as a QR code")
	out := fs.String("out", "", "with --show: write the key to the new file `FILE` (0600) instead of stdout")
	if _, err := parse(fs, argv, 0, 0); err != nil {
		return err
	}
	switch {
	case *show != "" && *cancel != "":
		return usagef("--show and --cancel do not go together")
	case *show == "" && (*qr || *out != ""):
		return usagef("--qr and --out go with --show")
	case *cancel != "":
		return cancelInvite(ctx, g, io, *cancel)
	case *show != "":
		return withKeyFile(*out, func(kf *os.File) error {
			return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
				var r daemon.KeyResult
				if err := c.Call(ctx, "invite.show", map[string]any{"chat": *show}, &r); err != nil {
					return err
				}
				return printKey(io, kf, r.Key, *qr)
			})
		})
	}
	return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
		var invs []client.InviteInfo
		if err := c.Call(ctx, "invites", nil, &invs); err != nil {
			return err
		}
		for _, inv := range invs {
			if *asJSON {
				if err := writeJSON(io, inv); err != nil {
					return err
				}
				continue
			}
			state := "open until " + inv.Until.Local().Format(time.RFC3339)
			if inv.Leaked {
				state = "INVITE LEAKED: cancel it"
			}
			kind := "1:1  "
			if inv.Group {
				kind = "group"
			}
			fmt.Fprintf(io.out, "%-21s  %s  %-12s  as %-16s  %s\n", inv.ID, kind, orDash(inv.Name), orDash(inv.As), state)
		}
		return nil
	})
}

// cmdInviteCancel is "veil invite cancel CHAT".
func cmdInviteCancel(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "invite cancel", "ID", "Cancel an open invite (ID as veil invites lists it): its key dies and its keys are erased")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	return cancelInvite(ctx, g, io, pos[0])
}

func cancelInvite(ctx context.Context, g *globals, io *stdio, chat string) error {
	return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
		var r client.CancelInviteResult
		if err := c.Call(ctx, "invite.cancel", map[string]any{"chat": chat}, &r); err != nil {
			return err
		}
		switch {
		case r.BlobLeft:
			fmt.Fprintln(io.err, "veil: the invite is erased here, but its relay could not be reached: whoever holds the key can still use it until its deadline")
		case r.Taken:
			fmt.Fprintln(io.err, "veil: the invite is erased, but someone had already used its key: the person it was for (whose join now fails), or someone who copied it; make a new invite and hand it over privately")
		default:
			fmt.Fprintln(io.err, "Invite cancelled: its key no longer works.")
		}
		return nil
	})
}

// withKeyFile creates name for an invite key, refusing any existing path
// (a symbolic link too), and runs f with it; without a name f gets nil.
// The file is removed again when f fails.
func withKeyFile(name string, f func(*os.File) error) error {
	if name == "" {
		return f(nil)
	}
	kf, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists: the key goes only into a new file", name)
	}
	if err != nil {
		return err
	}
	err = f(kf)
	if cerr := kf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(name)
	}
	return err
}

// printKey prints an invite key on a line of its own (or writes it to kf),
// and its QR code when asked.
func printKey(io *stdio, kf *os.File, key string, qr bool) error {
	if kf != nil {
		if _, err := fmt.Fprintln(kf, key); err != nil {
			return err
		}
		fmt.Fprintf(io.err, "the key is in %s: delete the file once it reached its one reader\n", kf.Name())
	} else {
		fmt.Fprintln(io.out, key)
	}
	if qr {
		return printQR(io, key)
	}
	return nil
}

func cmdSearch(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "search", "TEXT [--chat CHAT] [--limit N] [--json]",
		"Find messages containing TEXT, ignoring case, newest first; TEXT is plain text")
	chat := fs.String("chat", "", "search only `CHAT`")
	limit := fs.Int("limit", client.DefaultSearchLimit, "at most `N` results (up to 1000)")
	asJSON := fs.Bool("json", false, "one JSON object a line")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	if *limit < 1 || *limit > client.MaxSearchLimit {
		return usagef("--limit must be between 1 and %d", client.MaxSearchLimit)
	}
	return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
		var hits []client.SearchHit
		if err := c.Call(ctx, "search", map[string]any{"text": pos[0], "chat": *chat, "limit": *limit}, &hits); err != nil {
			return err
		}
		for _, h := range hits {
			if *asJSON {
				if err := writeJSON(io, h); err != nil {
					return err
				}
				continue
			}
			from := h.From
			if h.Outgoing {
				from = "you"
			}
			fmt.Fprintf(io.out, "%s  %s  %-12s  %-12s  %s  %s\n", h.Chat, h.Message, orDash(h.ChatName), orDash(from),
				h.Time.Local().Format("2006-01-02 15:04"), h.Snippet)
		}
		return nil
	})
}

func cmdVerify(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "verify", "CHAT [--qr] [--mark | --unmark]",
		"Print the chat's safety code; read it to each other over another channel, then mark the chat verified")
	qr := fs.Bool("qr", false, "also print the code as a QR code")
	mark := fs.Bool("mark", false, "record that you compared the code (cleared if it ever changes)")
	unmark := fs.Bool("unmark", false, "remove the verified mark")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	if *mark && *unmark {
		return usagef("--mark and --unmark do not go together")
	}
	return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
		if *mark || *unmark {
			if err := c.Call(ctx, "verify.mark", map[string]any{"chat": pos[0], "on": *mark}, nil); err != nil {
				return err
			}
			if *mark {
				fmt.Fprintln(io.err, "marked verified: veil warns if this chat's safety code ever changes")
			}
			return nil
		}
		var r daemon.CodeResult
		if err := c.Call(ctx, "verify", map[string]any{"chat": pos[0]}, &r); err != nil {
			return err
		}
		fmt.Fprintln(io.out, r.Code)
		if *qr {
			return printQR(io, strings.ReplaceAll(r.Code, " ", ""))
		}
		return nil
	})
}
