package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	goio "io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"veil/client"
	"veil/crypto"
	"veil/daemon"
	"veil/daemon/rpc"
	"veil/relay/wire"
	"veil/vault"

	"golang.org/x/term"
)

// cmdInit creates a profile. Every input (the relay address, the PIN, the
// duress PIN and its mode) is read and checked before the first write, so a
// refused one leaves the profile directory as it was (spec/client.md §10.3).
func cmdInit(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "init", "[--duress-pin-file FILE] [--duress-reset] [--relay URL]", "Create a profile protected by a PIN (from the terminal or --pin-file)")
	duressFile := fs.String("duress-pin-file", "", "also set a duress PIN read from `FILE`: entering it erases the profile")
	reset := fs.Bool("duress-reset", false, "the duress PIN says the data is gone instead of opening an empty decoy profile")
	relayURL := fs.String("relay", "", "default relay `URL` (veil://host:port#fingerprint); without it, an embedded relay on 127.0.0.1")
	if _, err := parse(fs, argv, 0, 0); err != nil {
		return err
	}
	if *reset && *duressFile == "" {
		return usagef("--duress-reset needs --duress-pin-file")
	}
	if *relayURL != "" {
		if _, err := wire.ParseCredentialed(*relayURL); err != nil {
			return usagef("--relay: %v", err)
		}
	}
	home, err := g.homeDir()
	if err != nil {
		return err
	}
	pin, err := readSecret(io, g.pinFile, "new PIN", true)
	if err != nil {
		return err
	}
	defer crypto.Wipe(pin)
	if err := vault.CheckPIN(pin); err != nil {
		return fmt.Errorf("the PIN must be at least %d characters (a passphrase is far stronger)", vault.MinPINLen)
	}
	var opts client.CreateOptions
	if *duressFile != "" {
		dp, err := readSecret(io, *duressFile, "duress PIN", false)
		if err != nil {
			return err
		}
		defer crypto.Wipe(dp)
		if err := checkDuressPIN(pin, dp); err != nil {
			return err
		}
		opts.DuressPIN, opts.DuressMode = dp, client.DuressDecoy
		if *reset {
			opts.DuressMode = client.DuressReset
		}
	}
	s, err := create(ctx, g, home, pin, *relayURL, opts, nil)
	if err != nil {
		return err
	}
	defer s.close()
	def, _, err := s.eng.Relays(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.out, "profile created in %s\ndefault relay: %s\n", home, def)
	if reach := client.RelayReach(def); reach != client.ReachAnyone {
		// The choice a first run makes: a relay others can reach, or
		// this machine (or network) only.
		fmt.Fprintf(io.err, "This relay can be reached from %s only: fine to try veil, and for chats between profiles here.\n"+
			"For contacts elsewhere, add a relay they can reach (veil relay add URL; veil relay default URL),\n"+
			"or run one (veil-relay, README \"Run your own relay\").\n", reach)
	}
	return nil
}

// checkDuressPIN checks a new duress PIN against the rules the vault
// applies (long enough, not the PIN), so a bad one is refused before
// anything is written.
func checkDuressPIN(pin, duress []byte) error {
	if err := vault.CheckPIN(duress); err != nil {
		return fmt.Errorf("the duress PIN must be at least %d characters", vault.MinPINLen)
	}
	if crypto.Equal(pin, duress) {
		return errors.New("the duress PIN must differ from the PIN")
	}
	return nil
}

func cmdInvite(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "invite", "[--name NAME] [--as NICK] [--expires DUR] [--chat-expires DUR] [--relay URL [--relay URL]] [--qr] [--out FILE] [--local] | cancel ID",
		"Create a one-time invite key and print it on stdout; give it to one person over a private channel")
	name := fs.String("name", "", "what you call this chat locally (usable as CHAT)")
	as := fs.String("as", "", "the nickname the other side sees (random by default)")
	expires := durationFlag(fs, "expires", 24*time.Hour, "the invite dies unused after `DUR` (at most 168h)")
	chatExpires := durationFlag(fs, "chat-expires", 0, "the whole chat erases itself on both sides `DUR` from now (0: never)")
	var relays relayList
	fs.Var(&relays, "relay", "relay `URL` for this invite (default: the profile's default relay); twice: the chat runs on both")
	qr := fs.Bool("qr", false, "also print the key as a QR code, to scan from another device's screen")
	out := fs.String("out", "", "write the key to the new file `FILE` (0600; an existing path is refused) instead of stdout")
	local := fs.Bool("local", false, "the key is for this machine or network: no warning when its relay is a loopback or private address")
	if len(argv) > 0 && argv[0] == "cancel" {
		return cmdInviteCancel(ctx, g, io, argv[1:])
	}
	if _, err := parse(fs, argv, 0, 0); err != nil {
		return err
	}
	return withKeyFile(*out, func(kf *os.File) error {
		return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
			var r daemon.InviteResult
			err := c.Call(ctx, "invite", map[string]any{"name": *name, "as": *as, "expires": seconds(*expires), "chat_expires": seconds(*chatExpires), "relays": []string(relays)}, &r)
			if err != nil {
				return err
			}
			if err := printKey(io, kf, r.Key, *qr); err != nil {
				_ = c.Call(ctx, "invite.cancel", map[string]any{"chat": r.Chat}, nil) // a key nobody got must not stay usable
				return err
			}
			fmt.Fprintf(io.err, "chat %s: waiting for the other side to join (veil watch shows it; veil invites --show %s prints the key again)\n", r.Chat, r.Chat)
			warnReach(io, "invite", r.Key, *local)
			return nil
		})
	})
}

func cmdJoin(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "join", "KEY [--name NAME] [--as NICK] [--relay URL [--relay URL]]", "Accept an invite key and print the new chat's id")
	name := fs.String("name", "", "what you call this chat locally (usable as CHAT)")
	as := fs.String("as", "", "the nickname the other side sees (random by default)")
	var relays relayList
	fs.Var(&relays, "relay", "relay `URL` for your own mailbox (default: the invite's relays); twice, for an invite to two relays: one mailbox on each")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	var info client.ChatInfo
	err = withAPI(ctx, g, io, apiUse{flush: true}, func(ctx context.Context, c *api) error {
		var r daemon.ChatResult
		err := c.Call(ctx, "join", map[string]any{"key": pos[0], "name": *name, "as": *as, "relays": []string(relays)}, &r)
		if apiKind(err) == "invite_used" {
			return errors.New("invite already used (or expired): the key reached someone else or came too late; tell the person who sent it, over another channel")
		}
		if err != nil {
			return err
		}
		info.ID = r.Chat
		if err := c.Call(ctx, "chat", map[string]any{"chat": r.Chat}, &info); err != nil {
			info = client.ChatInfo{ID: r.Chat}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The id alone on stdout, for scripts; the rest is for the person.
	fmt.Fprintln(io.out, info.ID)
	fmt.Fprint(io.err, joinedText(info))
	return nil
}

// joinedText tells the person who just joined a chat what it is called and
// what to do next (spec/client.md §10.3).
func joinedText(c client.ChatInfo) string {
	ref, shown := c.ID, c.ID
	switch {
	case c.Name != "":
		ref, shown = c.Name, fmt.Sprintf("%q", c.Name)
	case c.Peer != "":
		shown = fmt.Sprintf("with %q", client.SanitizeLine(c.Peer))
	}
	if c.Waiting {
		return fmt.Sprintf("Joined group %s. An admin's veil lets you in when it next runs; \"veil group sync\" checks.\n", shown)
	}
	return fmt.Sprintf("Joined chat %s.\nNext: compare the safety code (veil verify %s) over another channel, then write (veil send %s TEXT).\n", shown, ref, ref)
}

func writeJSON(io *stdio, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(io.out, "%s\n", b)
	return err
}

func cmdChats(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "chats", "[--json]", "List chats")
	asJSON := fs.Bool("json", false, "one JSON object a line")
	if _, err := parse(fs, argv, 0, 0); err != nil {
		return err
	}
	return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
		var chats []client.ChatInfo
		if err := c.Call(ctx, "chats", nil, &chats); err != nil {
			return err
		}
		return printChats(io, chats, *asJSON)
	})
}

func printChats(io *stdio, chats []client.ChatInfo, asJSON bool) error {
	for _, c := range chats {
		if asJSON {
			if err := writeJSON(io, c); err != nil {
				return err
			}
			continue
		}
		var flags []string
		if c.Pending {
			flags = append(flags, "invite unused until "+c.InviteUntil.Local().Format(time.RFC3339))
		}
		if c.Leaked {
			flags = append(flags, "INVITE LEAKED: compare the safety code")
		}
		if c.Verified {
			flags = append(flags, "verified")
		}
		if c.VerifyLost {
			flags = append(flags, "SAFETY CODE CHANGED: compare it again (veil verify)")
		}
		if c.Notice != "" {
			flags = append(flags, c.Notice)
		}
		if !c.Deadline.IsZero() {
			flags = append(flags, "erased at "+c.Deadline.Local().Format(time.RFC3339))
		}
		if c.MessageTTL > 0 {
			flags = append(flags, "timer "+c.MessageTTL.String())
		}
		if c.PQ != nil {
			flags = append(flags, c.PQ.String())
		}
		fmt.Fprintf(io.out, "%s  %-12s  %-16s  %d unread  %s\n", c.ID, orDash(c.Name), orDash(c.Peer), c.Unread, strings.Join(flags, "; "))
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cmdRead(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "read", "CHAT [--json] [--limit N]", "Show a chat's messages; incoming disappearing messages start their timers now")
	asJSON := fs.Bool("json", false, "one JSON object a line")
	limit := fs.Int("limit", 0, "show only the last `N` messages (0: all)")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("--limit must not be negative")
	}
	return withAPI(ctx, g, io, apiUse{flush: true}, func(ctx context.Context, c *api) error {
		ms, err := readAll(ctx, c, pos[0], *limit)
		if err != nil {
			return err
		}
		if err := printMessages(io, ms, *asJSON); err != nil {
			return err
		}
		return markShown(ctx, c, pos[0], ms)
	})
}

// markShown marks read the incoming unread messages among ms, which were
// printed, and no other: a message that came meanwhile, or one older than
// --limit showed, keeps its timer waiting (spec/client.md §8.1).
func markShown(ctx context.Context, c *api, chat string, ms []client.MessageInfo) error {
	var ids []string
	for _, m := range ms {
		if m.Unread && !m.Outgoing {
			ids = append(ids, m.ID)
		}
	}
	// A page of ids at a time keeps each call well within the line bound.
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		if err := c.Call(ctx, "mark_read", map[string]any{"chat": chat, "ids": ids[:n]}, nil); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func printMessages(io *stdio, ms []client.MessageInfo, asJSON bool) error {
	for _, m := range ms {
		if asJSON {
			if err := writeJSON(io, m); err != nil {
				return err
			}
			continue
		}
		printMessage(io, &m)
	}
	return nil
}

// indent keeps a multi-line message from faking lines of its own.
func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n    | ") }

// sendUsage is send's synopsis.
const sendUsage = "CHAT TEXT [--ttl DUR] [--reply MSGID] | CHAT --file PATH [--ttl DUR] [--type MEDIA]"

func cmdSend(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "send", sendUsage, fmt.Sprintf("Send a message of at most %d bytes (%d in a group); it is stored first and queued if no relay is reachable.\nWith --file, send a file of up to 2 GB instead: veil waits for its upload (Ctrl-C leaves it queued)", client.MaxText, client.MaxGroupText))
	ttl := durationFlag(fs, "ttl", 0, "the message disappears `DUR` after sending here and after display on the other side (default: the chat's timer)")
	reply := fs.String("reply", "", fmt.Sprintf("quote the chat's message `MSGID` (as veil read prints it); a reply holds %d bytes less", client.MaxText-client.MaxReplyText))
	file := fs.String("file", "", "send the file at `PATH` (encrypted end to end; no TEXT)")
	mediaType := fs.String("type", "", "with --file: its media type `MEDIA`, such as image/png (default: guessed from its first bytes)")
	pos, err := parse(fs, argv, 1, 2)
	if err != nil {
		return err
	}
	switch {
	case *file != "" && len(pos) == 2:
		return usagef("give TEXT or --file PATH, not both")
	case *file != "" && *reply != "":
		return usagef("--reply quotes a message in a text, not in a file")
	case *file == "" && *mediaType != "":
		return usagef("--type goes with --file")
	case *file != "":
		return sendFile(ctx, g, io, pos[0], *file, *ttl, *mediaType)
	case len(pos) == 1:
		return usagef("expected 2 arguments, CHAT TEXT (or CHAT --file PATH)")
	}
	var id string
	err = withAPI(ctx, g, io, apiUse{flush: true}, func(ctx context.Context, c *api) error {
		var r daemon.IDResult
		err := c.Call(ctx, "send", map[string]any{"chat": pos[0], "text": pos[1], "ttl": seconds(*ttl), "reply": *reply}, &r)
		id = r.ID
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(io.out, id)
	return nil
}

func cmdEdit(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "edit", "CHAT MSGID TEXT", "Change the text of one of your messages on both sides")
	pos, err := parse(fs, argv, 3, 3)
	if err != nil {
		return err
	}
	return withAPI(ctx, g, io, apiUse{flush: true}, func(ctx context.Context, c *api) error {
		return c.Call(ctx, "edit", map[string]any{"chat": pos[0], "id": pos[1], "text": pos[2]}, nil)
	})
}

func cmdDelete(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "delete", "CHAT MSGID", "Delete a message: one of yours for everyone, one of theirs here only")
	pos, err := parse(fs, argv, 2, 2)
	if err != nil {
		return err
	}
	return withAPI(ctx, g, io, apiUse{flush: true}, func(ctx context.Context, c *api) error {
		return c.Call(ctx, "delete", map[string]any{"chat": pos[0], "id": pos[1]}, nil)
	})
}

func cmdBurn(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "burn", "CHAT [--yes]", "Erase a chat and its contact here now and on the other side as soon as it receives the burn (asks first)")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	if !*yes {
		if err := confirm(io, "burn", fmt.Sprintf("erase chat %q here and on the other side", pos[0])); err != nil {
			return err
		}
	}
	err = withAPI(ctx, g, io, apiUse{flush: true}, func(ctx context.Context, c *api) error {
		return c.Call(ctx, "burn", map[string]any{"chat": pos[0]}, nil)
	})
	if err == nil {
		fmt.Fprintf(io.err, "Burned %q: erased here; the other side erases it when its veil receives the burn.\n", pos[0])
	}
	return err
}

func cmdReceipts(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "receipts", "CHAT on|off", "Turn read receipts for a chat on or off (off by default)")
	pos, err := parse(fs, argv, 2, 2)
	if err != nil {
		return err
	}
	if pos[1] != "on" && pos[1] != "off" {
		return usagef("expected on or off")
	}
	return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
		return c.Call(ctx, "receipts", map[string]any{"chat": pos[0], "on": pos[1] == "on"}, nil)
	})
}

func cmdTimer(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "timer", "CHAT DUR", "Set a chat's disappearing timer for new messages (0: off); the other side is told and takes it too")
	pos, err := parse(fs, argv, 2, 2)
	if err != nil {
		return err
	}
	d, err := client.ParseDuration(pos[1])
	if err != nil {
		return usagef("bad duration %q (such as 30s, 10m, 2h, 7d, 2w, or off)", pos[1])
	}
	return withAPI(ctx, g, io, apiUse{flush: true}, func(ctx context.Context, c *api) error { // the TIMER goes out
		return c.Call(ctx, "timer", map[string]any{"chat": pos[0], "ttl": seconds(d)}, nil)
	})
}

// countedEvent reports whether an event counts for watch --count: events
// about chats, not connection, delivery or transfer status.
func countedEvent(t client.EventType) bool {
	switch t {
	case client.EventRelayConnected, client.EventRelayUnreachable, client.EventRoutingDirect, client.EventStatus, client.EventWarning,
		client.EventChatRelayDown, client.EventChatRelayUp, client.EventTransfer:
		return false
	}
	return true
}

func cmdWatch(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "watch", "[--json] [--timeout DUR] [--count N]",
		"Receive, send what is queued, run timers, and print events as they arrive.\nIt exits 0 after --timeout or after --count chat events (messages, edits, deletions, joins, leaks, expiries, burns)")
	asJSON := fs.Bool("json", false, "one JSON object a line")
	timeout := durationFlag(fs, "timeout", 0, "exit after `DUR` (0: run until interrupted)")
	count := fs.Int("count", 0, "exit after `N` chat events (0: no limit)")
	if _, err := parse(fs, argv, 0, 0); err != nil {
		return err
	}
	if *timeout < 0 || *count < 0 {
		return usagef("--timeout and --count must not be negative")
	}
	return withAPI(ctx, g, io, apiUse{run: true}, func(ctx context.Context, c *api) error {
		return watch(ctx, io, c, *asJSON, *timeout, *count)
	})
}

// watch prints the profile's events until ctx ends, timeout passes or
// count chat events have been printed. A command's own server starts its
// stream at the unlock, so nothing the engine reported since is missed; a
// daemon's stream is joined at its newest event.
func watch(ctx context.Context, io *stdio, c *api, asJSON bool, timeout time.Duration, count int) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	sub := daemon.SubscribeParams{}
	if c.local {
		var zero uint64
		sub.Stream, sub.After = c.stream, &zero
	}
	if err := c.Call(ctx, "subscribe", sub, nil); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// Messages are marked read by a worker of its own: a call waiting for
	// its answer here would stop this loop from reading the events queued
	// before that answer.
	shown := make(chan [2]string, 1024)
	marked := make(chan struct{})
	defer func() { close(shown); <-marked }()
	go func() {
		defer close(marked)
		for m := range shown {
			// What was printed is marked even after Ctrl-C or --timeout.
			mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = c.Call(mctx, "mark_read", map[string]any{"chat": m[0], "ids": []string{m[1]}}, nil)
			cancel()
		}
	}()
	n := 0
	for {
		var note daemon.Note
		var open bool
		select {
		case note, open = <-c.Notes():
		case <-ctx.Done():
			return nil // interrupted, or the timeout: both are success
		}
		if !open {
			return errors.New("the veil daemon stopped")
		}
		if note.Method == daemon.NoteEnd {
			var end daemon.EndNote
			_ = json.Unmarshal(note.Params, &end)
			if end.Reason == "locked" {
				return errors.New("the profile was locked (veil unlock opens it again)")
			}
			return fmt.Errorf("the event stream ended (%s)", client.SanitizeLine(end.Reason))
		}
		if note.Method != daemon.NoteEvent {
			continue
		}
		var en daemon.EventNote
		if err := json.Unmarshal(note.Params, &en); err != nil {
			continue
		}
		ev := en.Event
		if err := printEvent(io, ev, asJSON); err != nil {
			return err
		}
		if ev.Type == client.EventMessage {
			// Shown now: the recipient's disappearing timer starts (a
			// message not marked when too many wait is marked by read).
			select {
			case shown <- [2]string{ev.Chat, ev.Message}:
			default:
			}
		}
		if countedEvent(ev.Type) {
			n++
			if count > 0 && n >= count {
				return nil
			}
		}
	}
}

func printEvent(io *stdio, ev client.Event, asJSON bool) error {
	if asJSON {
		return writeJSON(io, ev)
	}
	chat := ev.Chat
	if ev.Name != "" {
		chat = ev.Name
	}
	var line string
	switch ev.Type {
	case client.EventMessage:
		line = fmt.Sprintf("[%s] %s: %s", chat, orDash(ev.From), indent(ev.Text))
	case client.EventEdited:
		line = fmt.Sprintf("[%s] %s edited %s: %s", chat, orDash(ev.From), ev.Message, indent(ev.Text))
	case client.EventDeleted:
		line = fmt.Sprintf("[%s] %s deleted %s", chat, orDash(ev.From), ev.Message)
	case client.EventReaction:
		if ev.Text == "" {
			line = fmt.Sprintf("[%s] %s took back a reaction to %s", chat, orDash(ev.From), ev.Message)
		} else {
			line = fmt.Sprintf("[%s] %s reacted %s to %s", chat, orDash(ev.From), client.SanitizeLine(ev.Text), ev.Message)
		}
	case client.EventTimer:
		line = fmt.Sprintf("[%s] %s", chat, client.SanitizeLine(ev.Text))
	case client.EventStatus:
		line = fmt.Sprintf("[%s] %s %s", chat, ev.Message, ev.Status)
	case client.EventContactJoined:
		line = fmt.Sprintf("[%s] %s joined", chat, orDash(ev.From))
	case client.EventGroupRemoved:
		switch {
		case ev.From == "":
			line = fmt.Sprintf("[%s] %s", chat, ev.Text) // we were removed
		case ev.By != "":
			line = fmt.Sprintf("[%s] %s was removed by %s", chat, ev.From, ev.By)
		default:
			line = fmt.Sprintf("[%s] %s was removed", chat, ev.From)
		}
	case client.EventGroupSettings:
		line = fmt.Sprintf("[%s] group settings: %s", chat, ev.Text)
	case client.EventGroupRelays:
		line = fmt.Sprintf("[%s] the group moved to relays %s (by %s)", chat, ev.Text, orDash(ev.By))
	case client.EventGroupLeft:
		line = fmt.Sprintf("[%s] %s left", chat, orDash(ev.From))
	case client.EventGroupJoined, client.EventGroupPromote:
		line = fmt.Sprintf("[%s] %s: %s", chat, strings.ReplaceAll(string(ev.Type), "_", " "), orDash(ev.From))
	case client.EventGroupEpoch:
		line = fmt.Sprintf("[%s] group epoch %s", chat, ev.Text)
	case client.EventGroupStalled, client.EventGroupRelayDown:
		line = fmt.Sprintf("[%s] warning: %s", chat, ev.Err)
	case client.EventGroupRelayUp:
		line = fmt.Sprintf("[%s] the group's relay %s answers again", chat, ev.Text)
	case client.EventRelayConnected:
		line = fmt.Sprintf("connected to %s", ev.Relay)
	case client.EventRelayUnreachable:
		line = fmt.Sprintf("relay %s unreachable: %s", ev.Relay, ev.Err)
	case client.EventRoutingDirect:
		line = fmt.Sprintf("warning: %s", ev.Err)
	case client.EventChatRelayDown:
		line = fmt.Sprintf("[%s] relay %s down since %s: the chat's other relay carries it", chat, ev.Relay, ev.Since.Format(time.TimeOnly))
	case client.EventChatRelayUp:
		line = fmt.Sprintf("[%s] relay %s is back", chat, ev.Relay)
	case client.EventTransfer:
		switch ev.Status {
		case client.FilePreparing, client.FileUploading, client.FileDownloading:
			return nil // progress: --json shows it
		}
		line = fmt.Sprintf("[%s] file %s: %s %s", chat, ev.Message, ev.Status, ev.Err)
	default:
		line = fmt.Sprintf("[%s] %s %s", chat, strings.ReplaceAll(string(ev.Type), "_", " "), ev.Err)
	}
	_, err := fmt.Fprintln(io.out, strings.TrimSpace(line))
	return err
}

func cmdRelay(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "relay", "add URL [--password-file FILE|-] | list | default URL | remove URL | routing [auto|always|off] | forwarder [URL|default]",
		"Manage the profile's relays (URL: veil://host:port#fingerprint or veil+ws://…, or URL~password for a private relay); remove refuses the default and a relay a chat or group uses; "+
			"routing and forwarder show or set private routing: messages to other relays go through the forwarder (the default relay unless set), which hides this device's address from them")
	pwFile := fs.String("password-file", "", "with add: read the relay's password from the first line of `FILE` (- for standard input); adding again updates it")
	pos, err := parse(fs, argv, 1, 2)
	if err != nil {
		return err
	}
	switch {
	case pos[0] == "list" && len(pos) == 1:
	case (pos[0] == "add" || pos[0] == "default" || pos[0] == "remove") && len(pos) == 2:
		// Only add and default take a password (spec/relay.md §3.5).
		parse := wire.ParseAddress
		if pos[0] != "remove" {
			parse = func(s string) (wire.Address, error) { c, err := wire.ParseCredentialed(s); return c.Address, err }
		}
		if _, err := parse(pos[1]); err != nil {
			return usagef("%v", err)
		}
	case pos[0] == "routing" || pos[0] == "forwarder":
		return cmdRouting(ctx, g, io, pos)
	default:
		return usagef("expected add URL, list, default URL, remove URL, routing [MODE] or forwarder [URL]")
	}
	if *pwFile != "" && pos[0] != "add" {
		return usagef("--password-file goes with relay add")
	}
	var password []byte
	if *pwFile != "" {
		if password, err = readRelayPassword(io, *pwFile); err != nil {
			return err
		}
		defer crypto.Wipe(password)
	}
	return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
		switch pos[0] {
		case "add":
			var r daemon.RelayAddResult
			params := map[string]any{"relay": pos[1]}
			if password != nil {
				params["password"] = base64.RawURLEncoding.EncodeToString(password)
			}
			err := c.Call(ctx, "relay.add", params, &r)
			if err == nil && r.Warning != "" {
				fmt.Fprintf(io.err, "veil: warning: %s (added anyway)\n", r.Warning)
			}
			return err
		case "default":
			return c.Call(ctx, "relay.default", map[string]any{"relay": pos[1]}, nil)
		case "remove":
			return c.Call(ctx, "relay.remove", map[string]any{"relay": pos[1]}, nil)
		}
		return listRelays(ctx, io, c)
	})
}

// cmdRouting shows or sets private routing: `relay routing [MODE]`,
// `relay forwarder [URL|default]`.
func cmdRouting(ctx context.Context, g *globals, io *stdio, pos []string) error {
	params := map[string]any{}
	if len(pos) == 2 {
		switch {
		case pos[0] == "routing" && (pos[1] == client.RoutingAuto || pos[1] == client.RoutingAlways || pos[1] == client.RoutingOff):
			params["mode"] = pos[1]
		case pos[0] == "routing":
			return usagef("private routing is auto, always or off")
		case pos[1] == "default":
			params["forwarder"] = ""
		default:
			if _, err := wire.ParseAddress(pos[1]); err != nil {
				return usagef("%v", err)
			}
			params["forwarder"] = pos[1]
		}
	}
	return withAPI(ctx, g, io, apiUse{}, func(ctx context.Context, c *api) error {
		var ri client.RoutingInfo
		if err := c.Call(ctx, "relay.routing", params, &ri); err != nil {
			return err
		}
		fwd := ri.Forwarder
		if !ri.Chosen && fwd != "" {
			fwd += " (the default relay)"
		}
		fmt.Fprintf(io.out, "private routing: %s\nforwarder: %s\n", ri.Mode, orDash(fwd))
		if ri.Note != "" {
			fmt.Fprintf(io.err, "veil: note: %s\n", ri.Note)
		}
		return nil
	})
}

// readRelayPassword reads a relay's password for relay add: the first line
// of file, or of standard input for "-" (asked without echo on a
// terminal). It must be 1 to 255 bytes (spec/relay.md §7.2).
func readRelayPassword(io *stdio, file string) ([]byte, error) {
	var pw []byte
	var err error
	if file == "-" && !term.IsTerminal(int(io.in.Fd())) {
		b, rerr := goio.ReadAll(goio.LimitReader(io.in, 64<<10))
		if rerr != nil {
			return nil, fmt.Errorf("reading the relay password: %w", rerr)
		}
		line, _, _ := bytes.Cut(b, []byte("\n"))
		pw = bytes.TrimSuffix(line, []byte("\r"))
		pw = append([]byte(nil), pw...)
		crypto.Wipe(b)
	} else {
		if file == "-" {
			file = ""
		}
		if pw, err = readSecret(io, file, "relay password", false); err != nil {
			return nil, err
		}
	}
	if len(pw) == 0 || len(pw) > wire.MaxPassword {
		crypto.Wipe(pw)
		return nil, usagef("the relay password must be 1-%d bytes", wire.MaxPassword)
	}
	return pw, nil
}

// listRelays prints the profile's relays, the default marked with a star,
// and "(password)" for a relay with a stored password (never the value).
func listRelays(ctx context.Context, io *stdio, c *api) error {
	var rs []daemon.RelayInfo
	if err := c.Call(ctx, "relay.list", nil, &rs); err != nil {
		return err
	}
	for _, r := range rs {
		mark := " "
		if r.Default {
			mark = "*"
		}
		note := ""
		if r.Password {
			note = "  (password)"
		}
		if r.Embedded {
			note += "  (embedded, runs while veil runs: a daemon, the TUI or a command)"
		}
		fmt.Fprintf(io.out, "%s %s%s\n", mark, r.Relay, note)
	}
	return nil
}

// wipeHome erases the profile (`veil wipe`, `veil panic`, the TUI's panic
// key): the vault is crypto-erased, then everything else of the profile is
// removed (removeRemains), so nothing of it remains. A profile open in
// another process is left alone.
func wipeHome(ctx context.Context, g *globals) error {
	home, err := g.homeDir()
	if err != nil {
		return err
	}
	if c, err := daemon.Dial(ctx, home); err == nil {
		// The daemon holds the vault: it erases the profile and stops.
		// One that does not answer in time (hung, or an older one still
		// at its PIN prompt) is passed over: the profile is erased here,
		// which works unless that daemon has the vault open.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), daemonEraseWait)
		err := c.Call(wctx, "erase", nil, nil)
		cancel()
		c.Close()
		if re := (*rpc.Error)(nil); err == nil || errors.As(err, &re) {
			return err
		}
	}
	return eraseHome(ctx, home)
}

// daemonEraseWait bounds how long wipe and panic wait for a daemon's answer to
// erase before erasing the profile themselves.
const daemonEraseWait = 10 * time.Second

// eraseHome erases the profile in home in this process (see wipeHome).
func eraseHome(ctx context.Context, home string) error {
	vdir := filepath.Join(home, vaultDirName)
	var werr error
	if _, err := os.Stat(vdir); err == nil {
		werr = vault.WipeProfile(ctx, vdir, nil)
		if errors.Is(werr, vault.ErrBusy) {
			return errors.New("the profile is open in another veil process: stop it (or use its panic key) and try again")
		}
	}
	// Even after a failed step, remove what can be removed.
	return errors.Join(werr, removeRemains(home))
}

func cmdWipe(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "wipe", "[--yes]", "Erase this profile: its keys are destroyed, so its data becomes noise")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	if _, err := parse(fs, argv, 0, 0); err != nil {
		return err
	}
	if !*yes {
		if err := confirm(io, "wipe", "erase this profile"); err != nil {
			return err
		}
	}
	return erased(io, wipeHome(ctx, g))
}

// confirm asks the person at the terminal to type word before something
// that cannot be undone; without a terminal it is a usage error (scripts
// pass --yes).
func confirm(io *stdio, word, what string) error {
	ans, err := readSecret(io, "", fmt.Sprintf("type %q to %s", word, what), false)
	if err != nil {
		return usagef("no terminal to confirm: pass --yes")
	}
	if string(ans) != word {
		return errors.New("not confirmed; nothing erased")
	}
	return nil
}

// erased reports a finished wipe or panic in words.
func erased(io *stdio, err error) error {
	if err == nil {
		fmt.Fprintln(io.err, "Profile erased: its keys are destroyed, so what was left on disk cannot be read.")
	}
	return err
}

func cmdPanic(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "panic", "", "Erase this profile now: no PIN, no prompt")
	if _, err := parse(fs, argv, 0, 0); err != nil {
		return err
	}
	return erased(io, wipeHome(ctx, g))
}

// seconds is a duration as the API takes it: a number of seconds.
func seconds(d time.Duration) float64 { return d.Seconds() }

// readAll returns the last limit messages of chat (all when limit is 0),
// oldest first, reading page after page.
func readAll(ctx context.Context, c *api, chat string, limit int) ([]client.MessageInfo, error) {
	var out []client.MessageInfo
	before := ""
	for {
		page := 1000
		if limit > 0 {
			page = min(page, limit-len(out))
		}
		var r daemon.ReadResult
		if err := c.Call(ctx, "read", map[string]any{"chat": chat, "limit": page, "before": before}, &r); err != nil {
			return nil, err
		}
		out = append(r.Messages, out...)
		if !r.More || len(r.Messages) == 0 || limit > 0 && len(out) >= limit {
			return out, nil
		}
		before = r.Messages[0].ID
	}
}

// warnReach warns on stderr when the relay of the invite key can be
// reached from this machine or network only (spec/client.md §4.1),
// unless local says the person knows.
func warnReach(io *stdio, cmd, key string, local bool) {
	if w := client.ReachWarning(client.InviteReach(key)); w != "" && !local {
		fmt.Fprintf(io.err, "veil %s: warning: %s; --local says the key is meant for here\n", cmd, w)
	}
}
