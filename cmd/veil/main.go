// Command veil is the messenger's command line: one-time invites, 1:1
// chats, disappearing messages, burn, and every action of the terminal UI
// as a scriptable subcommand (architecture §6, spec/client.md §10).
//
// Exit status: 0 on success, 1 with one line on stderr on failure, 2 on a
// usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"veil/client"
	"veil/daemon/rpc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	stop()
	os.Exit(code)
}

type stdio struct {
	in       *os.File
	out, err io.Writer
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// globals are the flags every command accepts.
type globals struct {
	home    string
	pinFile string
	socks5  string
	verbose bool
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.home, "home", g.home, "profile directory (default $VEIL_HOME, else $XDG_DATA_HOME/veil)")
	fs.StringVar(&g.pinFile, "pin-file", g.pinFile, "read the PIN from `FILE` instead of the terminal (scripts, tests)")
	fs.StringVar(&g.socks5, "socks5", g.socks5, "reach relays through the SOCKS5 proxy at `HOST:PORT` (Tor: 127.0.0.1:9050), whatever proxy the profile stores")
	fs.BoolVar(&g.verbose, "verbose", g.verbose, "on failure, also print the full error with its technical detail")
}

// command is one subcommand.
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, g *globals, io *stdio, argv []string) error
}

func commands() []command {
	return []command{
		{"init", "[--duress-pin-file FILE] [--duress-reset] [--relay URL]", "create a profile protected by a PIN", cmdInit},
		{"invite", "[--name NAME] [--as NICK] [--expires DUR] [--chat-expires DUR] [--relay URL [--relay URL]] [--qr] [--out FILE] | cancel ID", "create a one-time invite key (or cancel one)", cmdInvite},
		{"invites", "[--json] [--show ID [--qr] [--out FILE]] [--cancel ID]", "list open invites (1:1 and group); show one's key again or cancel it", cmdInvites},
		{"join", "KEY [--name NAME] [--as NICK] [--relay URL [--relay URL]]", "accept an invite key; prints the new chat's id", cmdJoin},
		{"chat", chatUsage, "move a 1:1 chat's mailbox to another relay, or replace its mailboxes by fresh ones", cmdChat},
		{"chats", "[--json]", "list chats", cmdChats},
		{"read", "CHAT [--json] [--limit N]", "show a chat's messages (starts their disappearing timers)", cmdRead},
		{"send", sendUsage, "send a message, a reply quoting one, or a file (queued if no relay is reachable)", cmdSend},
		{"files", "CHAT [--json] | --auto SIZE", "list a chat's files; set the size up to which they download by themselves", cmdFiles},
		{"save", "CHAT MSGID [--out PATH] [--force]", "write a received file to disk, downloading it first if needed", cmdSave},
		{"react", "CHAT MSGID EMOJI | CHAT MSGID --remove", "react to a message with one emoji, or take your reaction back", cmdReact},
		{"edit", "CHAT MSGID TEXT", "change one of your messages on both sides", cmdEdit},
		{"delete", "CHAT MSGID", "delete a message (yours: for everyone)", cmdDelete},
		{"burn", "CHAT", "erase a chat and its contact on both sides at once", cmdBurn},
		{"verify", "CHAT [--qr] [--mark | --unmark]", "print the chat's safety code to compare out of band; mark it compared", cmdVerify},
		{"search", "TEXT [--chat CHAT] [--limit N] [--json]", "find messages containing TEXT in every chat or one", cmdSearch},
		{"receipts", "CHAT on|off", "turn read receipts for a chat on or off (off by default)", cmdReceipts},
		{"timer", "CHAT DUR", "set a chat's disappearing timer for new messages (0: off)", cmdTimer},
		{"group", groupUsage, "secret groups: create, invite, members, remove, promote, leave, sync", cmdGroup},
		{"daemon", daemonUsage, "unlock once and run in the foreground, serving the other commands (alias: up)", cmdDaemon},
		{"lock", "", "lock the running daemon's profile", cmdLock},
		{"unlock", "", "unlock the running daemon's profile", cmdUnlock},
		{"status", "[--json]", "say whether a daemon runs for this profile and whether it is locked", cmdStatus},
		{"watch", "[--json] [--timeout DUR] [--count N]", "receive and print events as they arrive", cmdWatch},
		{"relay", "add URL | list | default URL | remove URL", "manage relays", cmdRelay},
		{"duress", duressUsage, "set or remove the duress PIN (asks the current PIN)", cmdDuress},
		{"policy", "[--wipe-after N] [--dead-man DUR]", "show or set the erase policy: wrong-PIN limit, dead-man timer", cmdPolicy},
		{"wipe", "[--yes]", "erase this profile (asks first)", cmdWipe},
		{"panic", "", "erase this profile now, no PIN, no prompt", cmdPanic},
		{"backup", "FILE [--passphrase-file FILE]", "write an encrypted backup (an age file)", cmdBackup},
		{"restore", "FILE [--passphrase-file FILE]", "restore a backup into an empty profile directory", cmdRestore},
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: veil [--home DIR] [--pin-file FILE] [--socks5 HOST:PORT] [--verbose] COMMAND [ARGS]

veil is an end-to-end encrypted messenger without accounts or phone numbers.
In a terminal, "veil" with no command opens the terminal UI. From scripts,
start with "veil init", then "veil invite" on one side and "veil join KEY" on
the other. With no relay configured, veil runs a relay of its own on
127.0.0.1 while a command runs, so two profiles on one machine can talk.

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
CHAT is a chat id or its local name. DUR is a Go duration: 90s, 10m, 24h.
"veil COMMAND --help" explains a command's flags. Global flags may also
follow the command.

Exit status: 0 success, 1 failure (one line on stderr; --verbose adds a
second with the technical detail), 2 usage error.
`)
}

func run(ctx context.Context, args []string, io *stdio) int {
	g := &globals{home: os.Getenv("VEIL_HOME")}
	if asksHelp(args) {
		// Help that was asked for goes to stdout, so it can be paged.
		io = &stdio{in: io.in, out: io.out, err: io.out}
	}
	fs := flag.NewFlagSet("veil", flag.ContinueOnError)
	fs.SetOutput(io.err)
	fs.Usage = func() { usage(io.err) }
	g.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		if isTerminal(io) {
			return runTUI(ctx, g, io)
		}
		usage(io.err)
		return 2
	}
	if rest[0] == "up" {
		rest[0] = "daemon"
	}
	for _, c := range commands() {
		if c.name != rest[0] {
			continue
		}
		err := c.run(ctx, g, io, rest[1:])
		return report(io, g, c.name, err)
	}
	if rest[0] == "help" {
		usage(io.out)
		return 0
	}
	fmt.Fprintf(io.err, "veil: unknown command %q (veil --help lists them)\n", rest[0])
	return 2
}

// report prints a failure as one sentence in the user's words
// (client.Explain) and, with --verbose, the whole error on a second line.
func report(io *stdio, g *globals, name string, err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		if ue.msg != "" {
			fmt.Fprintf(io.err, "veil %s: %s (veil %s --help)\n", name, ue.msg, name)
		}
		return 2
	}
	msg, detail := client.Explain(err).Message, err.Error()
	var re *rpc.Error
	if errors.As(err, &re) {
		// The API's answer is already in the user's words (spec/api.md §3).
		msg, detail = client.SanitizeLine(re.Message), ""
		if re.Data != nil {
			detail = client.SanitizeLine(re.Data.Detail)
		}
	}
	fmt.Fprintf(io.err, "veil %s: %s\n", name, oneLine(msg))
	if g.verbose && detail != "" {
		fmt.Fprintf(io.err, "veil %s: detail: %s\n", name, oneLine(detail))
	}
	return 1
}

// asksHelp reports whether args hold -h, -help or --help before any "--".
func asksHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// homeDir returns the profile directory.
func (g *globals) homeDir() (string, error) {
	if g.home != "" {
		return filepath.Abs(g.home)
	}
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no home directory: pass --home DIR: %w", err)
		}
		base = filepath.Join(h, ".local", "share")
	}
	return filepath.Join(base, "veil"), nil
}

// newFlags returns a command's flag set with the global flags and a usage
// text listing its arguments and flags.
func newFlags(g *globals, io *stdio, name, args, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet("veil "+name, flag.ContinueOnError)
	fs.SetOutput(io.err)
	g.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(io.err, "usage: veil %s %s\n\n%s.\n\nFlags:\n", name, args, summary)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags anywhere among the arguments ("--" ends flags) and
// checks the number of positional arguments.
func parse(fs *flag.FlagSet, argv []string, minArgs, maxArgs int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(argv); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{}
		}
		argv = fs.Args()
		if len(argv) == 0 {
			break
		}
		if argv[0] == "--" {
			pos = append(pos, argv[1:]...)
			break
		}
		pos = append(pos, argv[0])
		argv = argv[1:]
	}
	if len(pos) < minArgs || len(pos) > maxArgs {
		return nil, usagef("expected %s", argCount(minArgs, maxArgs))
	}
	return pos, nil
}

func argCount(lo, hi int) string {
	switch {
	case lo == hi && lo == 0:
		return "no arguments"
	case lo == hi:
		return fmt.Sprintf("%d argument(s)", lo)
	}
	return fmt.Sprintf("%d to %d arguments", lo, hi)
}
