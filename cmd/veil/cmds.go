package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"veil/client"
	"veil/crypto"
	"veil/relay/wire"
	"veil/vault"
)

// networkTimeout bounds the relay work of one invite or join.
const networkTimeout = 2 * time.Minute

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
		if _, err := wire.ParseAddress(*relayURL); err != nil {
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
	fs := newFlags(g, io, "invite", "[--name NAME] [--as NICK] [--expires DUR] [--chat-expires DUR] [--relay URL] [--qr]",
		"Create a one-time invite key and print it on stdout; give it to one person over a private channel")
	name := fs.String("name", "", "what you call this chat locally (usable as CHAT)")
	as := fs.String("as", "", "the nickname the other side sees (random by default)")
	expires := durationFlag(fs, "expires", 24*time.Hour, "the invite dies unused after `DUR` (at most 168h)")
	chatExpires := durationFlag(fs, "chat-expires", 0, "the whole chat erases itself on both sides `DUR` from now (0: never)")
	relayURL := fs.String("relay", "", "relay `URL` for this invite (default: the profile's default relay)")
	qr := fs.Bool("qr", false, "also print the key as a QR code, to scan from another device's screen")
	if _, err := parse(fs, argv, 0, 0); err != nil {
		return err
	}
	return withEngine(ctx, g, io, engineUse{network: true}, func(ctx context.Context, eng *client.Engine) error {
		key, chat, err := eng.Invite(ctx, client.InviteOptions{Name: *name, As: *as, Expires: *expires, ChatExpires: *chatExpires, Relay: *relayURL})
		if err != nil {
			return err
		}
		fmt.Fprintln(io.out, key)
		if *qr {
			if err := printQR(io, key); err != nil {
				return err
			}
		}
		fmt.Fprintf(io.err, "chat %s: waiting for the other side to join (veil watch shows it)\n", chat)
		return nil
	})
}

func cmdJoin(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "join", "KEY [--name NAME] [--as NICK] [--relay URL]", "Accept an invite key and print the new chat's id")
	name := fs.String("name", "", "what you call this chat locally (usable as CHAT)")
	as := fs.String("as", "", "the nickname the other side sees (random by default)")
	relayURL := fs.String("relay", "", "relay `URL` for your own mailbox (default: the invite's relay)")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	var chat string
	err = withEngine(ctx, g, io, engineUse{network: true, flush: true}, func(ctx context.Context, eng *client.Engine) error {
		var err error
		chat, err = eng.Join(ctx, pos[0], client.JoinOptions{Name: *name, As: *as, Relay: *relayURL})
		if errors.Is(err, client.ErrInviteUsed) {
			return errors.New("invite already used (or expired): the key reached someone else or came too late; tell the person who sent it, over another channel")
		}
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(io.out, chat)
	return nil
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
	return withEngine(ctx, g, io, engineUse{}, func(ctx context.Context, eng *client.Engine) error {
		chats, err := eng.Chats(ctx)
		if err != nil {
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
		if c.Notice != "" {
			flags = append(flags, c.Notice)
		}
		if !c.Deadline.IsZero() {
			flags = append(flags, "erased at "+c.Deadline.Local().Format(time.RFC3339))
		}
		if c.MessageTTL > 0 {
			flags = append(flags, "timer "+c.MessageTTL.String())
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
	return withEngine(ctx, g, io, engineUse{flush: true}, func(ctx context.Context, eng *client.Engine) error {
		ms, err := eng.Messages(ctx, pos[0], *limit)
		if err != nil {
			return err
		}
		if err := printMessages(io, ms, *asJSON); err != nil {
			return err
		}
		return eng.MarkRead(ctx, pos[0])
	})
}

func printMessages(io *stdio, ms []client.MessageInfo, asJSON bool) error {
	for _, m := range ms {
		if asJSON {
			if err := writeJSON(io, m); err != nil {
				return err
			}
			continue
		}
		who := "me"
		if !m.Outgoing {
			who = orDash(m.From)
		}
		text := m.Text
		if m.Deleted {
			text = "(deleted)"
		} else if m.Edited {
			text += " (edited)"
		}
		status := ""
		if m.Outgoing {
			status = " [" + m.Status + "]"
		}
		fmt.Fprintf(io.out, "%s  %s  %s: %s%s\n", m.ID, m.Time.Local().Format("2006-01-02 15:04:05"), who, indent(text), status)
	}
	return nil
}

// indent keeps a multi-line message from faking lines of its own.
func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n    | ") }

func cmdSend(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "send", "CHAT TEXT [--ttl DUR]", fmt.Sprintf("Send a message of at most %d bytes (%d in a group); it is stored first and queued if no relay is reachable", client.MaxText, client.MaxGroupText))
	ttl := durationFlag(fs, "ttl", 0, "the message disappears `DUR` after sending here and after display on the other side (default: the chat's timer)")
	pos, err := parse(fs, argv, 2, 2)
	if err != nil {
		return err
	}
	var id string
	err = withEngine(ctx, g, io, engineUse{flush: true}, func(ctx context.Context, eng *client.Engine) error {
		var err error
		id, err = eng.Send(ctx, pos[0], pos[1], client.SendOptions{TTL: *ttl})
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
	return withEngine(ctx, g, io, engineUse{flush: true}, func(ctx context.Context, eng *client.Engine) error {
		return eng.Edit(ctx, pos[0], pos[1], pos[2])
	})
}

func cmdDelete(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "delete", "CHAT MSGID", "Delete a message: one of yours for everyone, one of theirs here only")
	pos, err := parse(fs, argv, 2, 2)
	if err != nil {
		return err
	}
	return withEngine(ctx, g, io, engineUse{flush: true}, func(ctx context.Context, eng *client.Engine) error {
		return eng.Delete(ctx, pos[0], pos[1])
	})
}

func cmdBurn(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "burn", "CHAT", "Erase a chat and its contact here now and on the other side as soon as it receives the burn")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	return withEngine(ctx, g, io, engineUse{flush: true}, func(ctx context.Context, eng *client.Engine) error {
		return eng.Burn(ctx, pos[0])
	})
}

func cmdVerify(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "verify", "CHAT", "Print the chat's safety code; read it to each other over another channel")
	pos, err := parse(fs, argv, 1, 1)
	if err != nil {
		return err
	}
	return withEngine(ctx, g, io, engineUse{}, func(ctx context.Context, eng *client.Engine) error {
		code, err := eng.SafetyCode(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintln(io.out, code)
		return nil
	})
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
	return withEngine(ctx, g, io, engineUse{}, func(ctx context.Context, eng *client.Engine) error {
		return eng.SetReadReceipts(ctx, pos[0], pos[1] == "on")
	})
}

func cmdTimer(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "timer", "CHAT DUR", "Set the disappearing timer for your new messages in a chat (0: off)")
	pos, err := parse(fs, argv, 2, 2)
	if err != nil {
		return err
	}
	d, err := client.ParseDuration(pos[1])
	if err != nil {
		return usagef("bad duration %q (such as 30s, 10m, 2h, 7d, 2w, or off)", pos[1])
	}
	return withEngine(ctx, g, io, engineUse{}, func(ctx context.Context, eng *client.Engine) error {
		return eng.SetTimer(ctx, pos[0], d)
	})
}

// countedEvent reports whether an event counts for watch --count: events
// about chats, not connection or delivery status.
func countedEvent(t client.EventType) bool {
	switch t {
	case client.EventRelayConnected, client.EventRelayUnreachable, client.EventStatus, client.EventWarning:
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
	events := make(chan client.Event, 64)
	return withEngine(ctx, g, io, engineUse{events: events}, func(ctx context.Context, eng *client.Engine) error {
		return watch(ctx, io, eng, events, *asJSON, *timeout, *count)
	})
}

// watch runs eng until ctx ends, timeout passes or count chat events have
// been printed.
func watch(ctx context.Context, io *stdio, eng *client.Engine, events <-chan client.Event, asJSON bool, timeout time.Duration, count int) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if timeout > 0 {
		rctx, cancel = context.WithTimeout(rctx, timeout)
		defer cancel()
	}
	done := make(chan error, 1)
	go func() { done <- eng.Run(rctx) }()
	n := 0
	for {
		select {
		case ev := <-events:
			if err := printEvent(io, ev, asJSON); err != nil {
				cancel()
				<-done
				return err
			}
			if ev.Type == client.EventMessage {
				// Shown now: the recipient's disappearing timer starts.
				_ = eng.MarkRead(rctx, ev.Chat, ev.Message)
			}
			if countedEvent(ev.Type) {
				n++
				if count > 0 && n >= count {
					cancel()
					drain(events, done)
					return nil
				}
			}
		case err := <-done:
			if ctx.Err() != nil || rctx.Err() != nil {
				return nil // interrupted, or the timeout: both are success
			}
			return err
		}
	}
}

// drain empties events until Run has returned.
func drain(events <-chan client.Event, done <-chan error) {
	for {
		select {
		case <-events:
		case <-done:
			return
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
	case client.EventGroupLeft:
		line = fmt.Sprintf("[%s] %s left", chat, orDash(ev.From))
	case client.EventGroupJoined, client.EventGroupPromote:
		line = fmt.Sprintf("[%s] %s: %s", chat, strings.ReplaceAll(string(ev.Type), "_", " "), orDash(ev.From))
	case client.EventGroupEpoch:
		line = fmt.Sprintf("[%s] group epoch %s", chat, ev.Text)
	case client.EventGroupStalled:
		line = fmt.Sprintf("[%s] warning: %s", chat, ev.Err)
	case client.EventRelayConnected:
		line = fmt.Sprintf("connected to %s", ev.Relay)
	case client.EventRelayUnreachable:
		line = fmt.Sprintf("relay %s unreachable: %s", ev.Relay, ev.Err)
	default:
		line = fmt.Sprintf("[%s] %s %s", chat, strings.ReplaceAll(string(ev.Type), "_", " "), ev.Err)
	}
	_, err := fmt.Fprintln(io.out, strings.TrimSpace(line))
	return err
}

func cmdRelay(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "relay", "add URL | list | default URL | remove URL", "Manage the profile's relays (URL: veil://host:port#fingerprint or veil+ws://…); remove refuses the default and a relay a chat or group uses")
	pos, err := parse(fs, argv, 1, 2)
	if err != nil {
		return err
	}
	switch {
	case pos[0] == "list" && len(pos) == 1:
	case (pos[0] == "add" || pos[0] == "default" || pos[0] == "remove") && len(pos) == 2:
		if _, err := wire.ParseAddress(pos[1]); err != nil {
			return usagef("%v", err)
		}
	default:
		return usagef("expected add URL, list, default URL or remove URL")
	}
	return withEngine(ctx, g, io, engineUse{}, func(ctx context.Context, eng *client.Engine) error {
		switch pos[0] {
		case "add":
			if err := eng.CheckRelay(ctx, pos[1]); err != nil {
				fmt.Fprintf(io.err, "veil: warning: %v (added anyway)\n", err)
			}
			return eng.AddRelay(ctx, pos[1])
		case "default":
			return eng.SetDefaultRelay(ctx, pos[1])
		case "remove":
			return eng.RemoveRelay(ctx, pos[1])
		}
		return listRelays(ctx, io, eng)
	})
}

// listRelays prints the profile's relays, the default marked with a star.
func listRelays(ctx context.Context, io *stdio, eng *client.Engine) error {
	def, all, err := eng.Relays(ctx)
	if err != nil {
		return err
	}
	emb, _ := eng.Setting(ctx, settingEmbedded)
	for _, r := range all {
		mark := " "
		if r == def {
			mark = "*"
		}
		note := ""
		if r == emb {
			note = "  (embedded, runs while a veil command runs)"
		}
		fmt.Fprintf(io.out, "%s %s%s\n", mark, r, note)
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
		ans, err := readSecret(io, "", `type "wipe" to erase this profile`, false)
		if err != nil {
			return usagef("no terminal to confirm: pass --yes")
		}
		if string(ans) != "wipe" {
			return errors.New("not confirmed; nothing erased")
		}
	}
	return wipeHome(ctx, g)
}

func cmdPanic(ctx context.Context, g *globals, io *stdio, argv []string) error {
	fs := newFlags(g, io, "panic", "", "Erase this profile now: no PIN, no prompt")
	if _, err := parse(fs, argv, 0, 0); err != nil {
		return err
	}
	return wipeHome(ctx, g)
}
