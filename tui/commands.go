package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"veil/client"
)

// slashCommand is one /command of the compose box.
type slashCommand struct {
	name, args, help string
	run              func(a *App, arg string) tea.Cmd
	needsChat        bool
}

// commandTable lists the /commands (a function, not a variable: no
// package-level mutable state).
func commandTable() []slashCommand {
	return []slashCommand{
		{"invite", "[NAME] | show [ID] | cancel [ID]", "create a one-time invite key (and QR code) for one person; show or cancel this chat's open invite (in a group: its open invite, or the one ID names)", (*App).cmdInvite, false},
		{"join", "[KEY [NAME]]", "join a chat with an invite key", (*App).cmdJoin, false},
		{"name", "NAME", "rename this chat (only you see the name)", (*App).cmdName, true},
		{"timer", "DUR|off", "disappearing timer for new messages in this chat (e.g. 10m, 1d)", (*App).cmdTimer, true},
		{"expire", "DUR|off", "erase this whole chat here after DUR", (*App).cmdExpire, true},
		{"edit", "TEXT", "replace the text of your last message, on both sides", (*App).cmdEdit, true},
		{"delete", "", "delete your last message, for everyone", (*App).cmdDelete, true},
		{"file", "PATH", "send a file (tab completes the path; shift+↑ selects a file line: s save, d download, v view, x cancel)", (*App).cmdFile, true},
		{"reply", "TEXT", "answer the selected message (shift+↑ selects; r on it starts a reply)", (*App).cmdReply, true},
		{"react", "[EMOJI]", "react to the selected message; no emoji takes yours back", (*App).cmdReact, true},
		{"verify", "[mark|unmark]", "show this chat's safety code and QR code (a group's verification code) to compare in person; mark it compared", (*App).cmdVerify, true},
		{"receipts", "on|off", "send read receipts in this chat", (*App).cmdReceipts, true},
		{"burn", "", "erase this chat on both sides now", (*App).cmdBurn, true},
		{"group", "create NAME | invite | members | remove NICK | promote NICK | set timer|expires DUR | leave", "secret groups", (*App).cmdGroup, false},
		{"relay", "[add|default|remove URL]", "show or change relays", (*App).cmdRelay, false},
		{"settings", "", "notifications, auto-lock, chat timer, PIN, duress PIN, relays, proxy, keys", (*App).cmdSettings, false},
		{"lock", "", "lock now", (*App).cmdLock, false},
		{"panic", "", "erase this profile now (asks for a word)", (*App).cmdPanic, false},
		{"help", "", "keys and commands", (*App).cmdHelp, false},
		{"quit", "", "leave veil", (*App).cmdQuit, false},
	}
}

// command runs a line that starts with "/".
func (a *App) command(line string) tea.Cmd {
	name, arg, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "/"), " ")
	arg = strings.TrimSpace(arg)
	var found []slashCommand
	for _, c := range commandTable() {
		if c.name == name {
			found = []slashCommand{c}
			break
		}
		if strings.HasPrefix(c.name, name) && name != "" {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		return a.fail(fmt.Errorf("unknown command /%s (/help lists them)", name))
	}
	c := found[0]
	if c.needsChat && a.view.chat.ID == "" {
		return a.fail(fmt.Errorf("/%s needs an open chat", c.name))
	}
	return c.run(a, arg)
}

func (a *App) fail(err error) tea.Cmd {
	return func() tea.Msg { return doneMsg{err: err} }
}

func (a *App) cmdInvite(arg string) tea.Cmd {
	if verb, id, _ := strings.Cut(arg, " "); verb == "show" || verb == "cancel" {
		return a.cmdInviteAction(verb, strings.TrimSpace(id))
	}
	a.notice = "creating an invite…"
	return inviteCmd(a.eng(), arg)
}

func (a *App) cmdJoin(arg string) tea.Cmd {
	if arg == "" {
		eng := a.eng()
		a.openDialog(newPrompt(a.st, a.keys, "Join a chat", "Paste the invite key you were given (then enter).", "", func(v string) tea.Cmd {
			k, name, _ := strings.Cut(v, " ")
			return joinCmd(eng, k, strings.TrimSpace(name))
		}))
		return nil
	}
	k, name, _ := strings.Cut(arg, " ")
	a.notice = "joining…"
	return joinCmd(a.eng(), k, strings.TrimSpace(name))
}

func (a *App) cmdName(arg string) tea.Cmd {
	eng, id := a.eng(), a.view.chat.ID
	return action("renamed", true, localTimeout, func(ctx context.Context) error { return eng.Rename(ctx, id, arg) })
}

func (a *App) cmdTimer(arg string) tea.Cmd {
	d, err := client.ParseDuration(arg)
	if err != nil {
		return a.fail(err)
	}
	eng, id := a.eng(), a.view.chat.ID
	return action(timerNote(d), true, localTimeout, func(ctx context.Context) error { return eng.SetTimer(ctx, id, d) })
}

// timerNote says what a disappearing timer of d now does.
func timerNote(d time.Duration) string {
	if d == 0 {
		return "disappearing messages off"
	}
	return "new messages disappear " + client.FormatDuration(d) + " after they are read"
}

func (a *App) cmdExpire(arg string) tea.Cmd {
	d, err := client.ParseDuration(arg)
	if err != nil {
		return a.fail(err)
	}
	eng, id := a.eng(), a.view.chat.ID
	var at time.Time
	note := "this chat no longer expires"
	if d > 0 {
		at = a.now().Add(d)
		note = "this chat is erased here in " + client.FormatDuration(d)
	}
	return action(note, true, localTimeout, func(ctx context.Context) error { return eng.SetDeadline(ctx, id, at) })
}

func (a *App) cmdVerify(arg string) tea.Cmd {
	switch arg {
	case "mark", "unmark":
		return markCmd(a.eng(), a.view.chat.ID)(arg == "mark")
	case "":
	default:
		return a.fail(errors.New("/verify, /verify mark or /verify unmark"))
	}
	if a.view.group {
		return groupVerifyCmd(a.eng(), a.view.chat.ID)
	}
	return safetyCmd(a.eng(), a.view.chat.ID)
}

func (a *App) cmdReceipts(arg string) tea.Cmd {
	if arg != "on" && arg != "off" {
		return a.fail(errors.New("/receipts on or /receipts off"))
	}
	eng, id := a.eng(), a.view.chat.ID
	return action("read receipts "+arg, true, localTimeout, func(ctx context.Context) error {
		return eng.SetReadReceipts(ctx, id, arg == "on")
	})
}

func (a *App) cmdBurn(string) tea.Cmd {
	eng, id := a.eng(), a.view.chat.ID
	a.openDialog(newPrompt(a.st, a.keys, "Burn this chat",
		"This erases the chat here now and tells the other side to erase it too.\nType burn to confirm.", "burn",
		func(string) tea.Cmd {
			return action("chat burned", true, networkTimeout, func(ctx context.Context) error { return eng.Burn(ctx, id) })
		}))
	return nil
}

func (a *App) cmdRelay(arg string) tea.Cmd {
	eng := a.eng()
	verb, url, _ := strings.Cut(arg, " ")
	url = strings.TrimSpace(url)
	switch {
	case verb == "":
		return func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
			defer cancel()
			def, all, err := eng.Relays(ctx)
			if err != nil {
				return doneMsg{err: err}
			}
			return doneMsg{note: fmt.Sprintf("default relay %s (%d configured)", def, len(all))}
		}
	case verb == "add" && url != "":
		a.notice = "adding the relay…"
		return relayCmd(eng, relayAdd, url, nil)
	case verb == "default" && url != "":
		return relayCmd(eng, relayDefault, url, nil)
	case verb == "remove" && url != "":
		return relayCmd(eng, relayRemove, url, nil)
	}
	return a.fail(errors.New("/relay, /relay add URL, /relay default URL or /relay remove URL (or the relays in /settings)"))
}

func (a *App) cmdSettings(string) tea.Cmd {
	eng := a.eng()
	d := &settingsDialog{st: a.st, keys: a.keys, vals: map[string]string{}, proxy: a.proxy, flagProxy: a.flagProxy,
		relayDef: a.relayDef, relayN: a.relayN, policy: a.policy,
		set: func(k, v string) tea.Cmd { return saveSetting(eng, k, v) }}
	for k, v := range a.settings {
		d.vals[k] = v
	}
	d.extra = "Stored in the encrypted profile."
	if id := a.view.chat.ID; id != "" {
		on := a.view.chat.ReadReceipts
		d.receipt = &on
		d.toggleR = func(on bool) tea.Cmd {
			return action("read receipts changed", true, localTimeout, func(ctx context.Context) error { return eng.SetReadReceipts(ctx, id, on) })
		}
		if !a.view.group { // a group's timer is the group's, set when it was created
			ttl := a.view.chat.MessageTTL
			d.timer = &ttl
			d.setTimer = func(ttl time.Duration) tea.Cmd {
				return action(timerNote(ttl), true, localTimeout, func(ctx context.Context) error { return eng.SetTimer(ctx, id, ttl) })
			}
		}
	}
	a.openDialog(d)
	return nil
}

// openSub opens a dialog of the settings: PIN, duress PIN, erase policy,
// relays, proxy, keys.
func (a *App) openSub(what string) tea.Cmd {
	eng := a.eng()
	switch what {
	case subPIN, subDuress:
		duress := what == subDuress
		a.openDialog(newPINDialog(a.st, a.keys, duress, func(mode client.DuressMode, cur, next []byte) tea.Cmd {
			return pinCmd(eng, duress, mode, cur, next)
		}))
	case subPolicy:
		a.openDialog(newPolicyDialog(a.st, a.keys, a.policy, func(p client.Policy, cur []byte) tea.Cmd {
			return policyCmd(eng, p, cur)
		}))
	case subRelays:
		do := func(op relayOp, addr string, pw []byte) tea.Cmd { return relayCmd(eng, op, addr, pw) }
		a.openDialog(newRelaysDialog(a.st, a.keys, do))
		return do(relayLoad, "", nil)
	case subProxy:
		a.openDialog(newProxyDialog(a.st, a.keys, a.proxy, a.flagProxy, func(addr string) tea.Cmd { return saveProxy(eng, addr) }))
	case subKeys:
		a.openDialog(&keysDialog{st: a.st, keys: func() keyMap { return a.keys },
			save:  func(k, v string) tea.Cmd { return saveSetting(eng, k, v) },
			reset: func() tea.Cmd { return resetKeys(eng) }})
	}
	return nil
}

func (a *App) cmdLock(string) tea.Cmd { return a.lock() }

func (a *App) cmdPanic(string) tea.Cmd {
	a.openDialog(newPrompt(a.st, a.keys, "Erase this profile",
		"Every chat and key on this device is destroyed at once and veil exits.\nType erase to confirm.", "erase",
		func(string) tea.Cmd { return a.panicErase() }))
	return nil
}

func (a *App) cmdHelp(string) tea.Cmd {
	a.openDialog(&textDialog{st: a.st, keys: a.keys, title: "Help", body: a.helpText()})
	return nil
}

func (a *App) cmdQuit(string) tea.Cmd { return tea.Quit }

func (a *App) helpText() string {
	var b strings.Builder
	h := a.help
	h.ShowAll = true
	h.Width = 0 // never cut a column: stack them when they do not fit
	km := mainKeys{k: a.keys}
	keys := h.View(km)
	if w, _ := a.dialogSize(); lipgloss.Width(keys) > w-4 {
		var cols []string
		for _, col := range km.FullHelp() {
			cols = append(cols, h.FullHelpView([][]key.Binding{col}))
		}
		keys = strings.Join(cols, "\n")
	}
	b.WriteString(keys + "\n\n")
	for _, c := range commandTable() {
		fmt.Fprintf(&b, "/%s %s — %s\n", c.name, c.args, c.help)
	}
	sk := defaultSelKeys()
	b.WriteString("\nIn a chat: " + h.ShortHelpView([]key.Binding{sk.Start, sk.Up, sk.Down, sk.Reply, sk.Leave}) + "\n")
	fk := defaultFileKeys()
	b.WriteString("On a selected file: " + h.ShortHelpView([]key.Binding{fk.Save, fk.Download, fk.View, fk.Cancel}) + "\n")
	return strings.TrimRight(b.String(), "\n")
}

func (a *App) cmdGroup(arg string) tea.Cmd {
	eng, id := a.eng(), a.view.chat.ID
	verb, rest, _ := strings.Cut(arg, " ")
	rest = strings.TrimSpace(rest)
	if verb == "create" {
		if rest == "" {
			return a.fail(errors.New("/group create NAME"))
		}
		a.notice = "creating the group…"
		return groupCreateCmd(eng, rest)
	}
	if id == "" || !a.view.group {
		return a.fail(fmt.Errorf("/group %s needs an open group chat", verb))
	}
	switch {
	case verb == "invite":
		a.notice = "creating a group invite…"
		return groupInviteCmd(eng, id)
	case verb == "members":
		return membersCmd(eng, id)
	case verb == "remove" && rest != "":
		return action(rest+" removed", true, networkTimeout, func(ctx context.Context) error { return eng.GroupRemove(ctx, id, rest) })
	case verb == "promote" && rest != "":
		return action(rest+" is an admin now", true, networkTimeout, func(ctx context.Context) error { return eng.GroupPromote(ctx, id, rest) })
	case verb == "set":
		opt, note, err := groupSetArgs(rest)
		if err != nil {
			return a.fail(err)
		}
		return action(note, true, networkTimeout, func(ctx context.Context) error { return eng.GroupSet(ctx, id, opt) })
	case verb == "leave":
		a.openDialog(newPrompt(a.st, a.keys, "Leave this group",
			"The group is told and erased here at once.\nType leave to confirm.", "leave",
			func(string) tea.Cmd {
				return action("left the group", true, networkTimeout, func(ctx context.Context) error { return eng.GroupLeave(ctx, id) })
			}))
		return nil
	}
	return a.fail(errors.New("/group create NAME | invite | members | remove NICK | promote NICK | set timer DUR|off | set expires DUR|off | leave"))
}

// groupSetArgs parses "timer DUR" and "expires DUR" pairs (DUR may be off)
// into a settings change and the notice to show when it is made.
func groupSetArgs(s string) (client.GroupSettings, string, error) {
	var opt client.GroupSettings
	var notes []string
	f := strings.Fields(s)
	if len(f) == 0 || len(f)%2 != 0 {
		return opt, "", errors.New("/group set timer DUR|off and/or expires DUR|off")
	}
	for i := 0; i < len(f); i += 2 {
		d, err := client.ParseDuration(f[i+1])
		if err != nil {
			return opt, "", err
		}
		switch f[i] {
		case "timer":
			opt.Timer = &d
			notes = append(notes, "group timer "+orOff(d))
		case "expires":
			opt.Expires = &d
			notes = append(notes, "group lifetime "+orOff(d))
		default:
			return opt, "", fmt.Errorf("/group set: unknown setting %q (timer, expires)", f[i])
		}
	}
	return opt, strings.Join(notes, "; "), nil
}

func orOff(d time.Duration) string {
	if d == 0 {
		return "off"
	}
	return client.FormatDuration(d)
}

// lastOwn is the ID of our newest message still shown in the open chat.
func (a *App) lastOwn() string {
	for i := len(a.view.msgs) - 1; i >= 0; i-- {
		if m := a.view.msgs[i]; m.Outgoing && !m.Deleted {
			return m.ID
		}
	}
	return ""
}

func (a *App) cmdEdit(arg string) tea.Cmd {
	eng, id, msg := a.eng(), a.view.chat.ID, a.lastOwn()
	if msg == "" || arg == "" {
		return a.fail(errors.New("/edit TEXT replaces your last message in this chat"))
	}
	return action("edited", true, localTimeout, func(ctx context.Context) error { return eng.Edit(ctx, id, msg, arg) })
}

func (a *App) cmdDelete(string) tea.Cmd {
	eng, id, msg := a.eng(), a.view.chat.ID, a.lastOwn()
	if msg == "" {
		return a.fail(errors.New("you have no message in this chat to delete"))
	}
	return action("deleted for everyone", true, localTimeout, func(ctx context.Context) error { return eng.Delete(ctx, id, msg) })
}
