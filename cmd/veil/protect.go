package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"veil/client"
	"veil/crypto"
)

// minDeadMan is the shortest dead-man period `veil policy` accepts: a
// shorter one would erase the profile between two ordinary commands.
const minDeadMan = time.Minute

// withPIN reads the PIN, unlocks the profile with it (see openWith) and
// runs f with the engine and that PIN, which f hands to the engine again
// as the current PIN of a change: the commands that change what unlocks
// or erases the profile. more, if not nil, reads what else the command
// needs (a new PIN) after the PIN and before the unlock.
func withPIN(ctx context.Context, g *globals, io *stdio, more func(pin []byte) error, f func(context.Context, *client.Engine, []byte) error) error {
	home, err := g.homeDir()
	if err != nil {
		return err
	}
	if daemonRuns(ctx, g) {
		return errors.New("a veil daemon (or the TUI) holds this profile, and this command needs the vault itself: stop it first")
	}
	pin, err := readSecret(io, g.pinFile, "current PIN", false)
	if err != nil {
		return err
	}
	defer crypto.Wipe(pin)
	if more != nil {
		if err := more(pin); err != nil {
			return err
		}
	}
	s, err := openWith(ctx, g, io, home, pin, nil)
	if err != nil {
		return err
	}
	defer s.close()
	return f(ctx, s.eng, pin)
}

const duressUsage = "set [--mode decoy|reset] [--duress-pin-file FILE] | remove"

// cmdDuress sets, replaces or removes the duress PIN after the current PIN
// (spec/vault.md §3.4, §7). Neither says whether a duress PIN was set
// before: the key file cannot tell.
func cmdDuress(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "duress", duressUsage,
		"Set or replace the duress PIN (entered at unlock instead of the PIN, it erases the profile), or remove it.\nThe current PIN is asked first (terminal or --pin-file), then the new duress PIN (terminal, twice, or --duress-pin-file)")
	mode := fs.String("mode", "decoy", "what the duress PIN does after erasing: `decoy` opens an empty profile that looks new, reset says the data is gone")
	duressFile := fs.String("duress-pin-file", "", "read the new duress PIN from `FILE` instead of the terminal")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch pos[0] {
	case "remove":
		if set["mode"] || set["duress-pin-file"] {
			return usagef("remove takes no --mode or --duress-pin-file")
		}
		err := withPIN(ctx, g, io, nil, func(ctx context.Context, eng *client.Engine, pin []byte) error {
			return eng.RemoveDuressPIN(ctx, pin)
		})
		if err != nil {
			return err
		}
		fmt.Fprintln(io.out, "no duress PIN now")
		return nil
	case "set":
	default:
		return usagef("expected set or remove")
	}
	var m client.DuressMode
	var says string
	switch *mode {
	case "decoy":
		m, says = client.DuressDecoy, "erases the profile and opens an empty one that looks new"
	case "reset":
		m, says = client.DuressReset, "erases the profile and says its data is gone"
	default:
		return usagef("--mode: expected decoy or reset")
	}
	var dp []byte
	defer func() { crypto.Wipe(dp) }()
	readDuress := func(pin []byte) error {
		var err error
		if dp, err = readSecret(io, *duressFile, "new duress PIN", true); err != nil {
			return err
		}
		return checkDuressPIN(pin, dp)
	}
	err = withPIN(ctx, g, io, readDuress, func(ctx context.Context, eng *client.Engine, pin []byte) error {
		return eng.SetDuressPIN(ctx, pin, dp, m)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(io.out, "duress PIN set: entered at unlock, it %s\n", says)
	return nil
}

// cmdPolicy shows or changes the erase policy (spec/vault.md §5). A change
// asks the current PIN; showing it needs only the unlock.
func cmdPolicy(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "policy", "[--wipe-after N] [--dead-man DUR]",
		"Show the erase policy, or change it (after the current PIN): erase the profile after N wrong PINs in a row,\nor at the first unlock attempt after DUR in which it was neither unlocked nor open. The policy is readable without the PIN")
	wipeAfter := fs.Int("wipe-after", 0, "erase after `N` wrong PINs in a row (0: off)")
	deadMan := durationFlag(fs, "dead-man", 0, fmt.Sprintf("erase when the profile has been neither unlocked nor open for `DUR` (such as 7d; off: off; at least %v)", minDeadMan))
	if _, err := parse(fs, argv, 0, 0); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *wipeAfter < 0 {
		return usagef("--wipe-after must not be negative (0 turns it off)")
	}
	if *deadMan > 0 && *deadMan < minDeadMan {
		return usagef("--dead-man must be at least %v (off turns it off)", minDeadMan)
	}
	var p client.Policy
	err := withPIN(ctx, g, io, nil, func(ctx context.Context, eng *client.Engine, pin []byte) error {
		var err error
		// Global flags may follow the command too: only these two change.
		if p, err = eng.Policy(ctx); err != nil || !set["wipe-after"] && !set["dead-man"] {
			return err
		}
		if set["wipe-after"] {
			p.WipeAfter = *wipeAfter
		}
		if set["dead-man"] {
			p.DeadMan = *deadMan
		}
		return eng.SetPolicy(ctx, pin, p)
	})
	if err != nil {
		return err
	}
	printPolicy(io, p)
	return nil
}

func printPolicy(io *stdio, p client.Policy) {
	if p.WipeAfter > 0 {
		fmt.Fprintf(io.out, "wipe-after: %d (erase after %d wrong PINs in a row)\n", p.WipeAfter, p.WipeAfter)
	} else {
		fmt.Fprintln(io.out, "wipe-after: off")
	}
	if p.DeadMan > 0 {
		d := client.FormatDuration(p.DeadMan)
		fmt.Fprintf(io.out, "dead-man: %s (erase at the first unlock attempt after %s in which the profile was neither unlocked nor open)\n", d, d)
	} else {
		fmt.Fprintln(io.out, "dead-man: off")
	}
}
