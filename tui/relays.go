package tui

import (
	"context"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
)

// relayOp is a change to the relay list.
type relayOp int

const (
	relayLoad relayOp = iota // change nothing, list
	relayAdd
	relayDefault
	relayRemove
	relayRouting   // addr is the private routing mode
	relayForwarder // addr becomes the forwarding relay
)

// relayCheckTimeout bounds the reachability check after adding a relay.
const relayCheckTimeout = 10 * time.Second

// relaysMsg reports the relay list after a change (or an attempt).
type relaysMsg struct {
	def     string   // the default relay
	all     []string // every configured relay
	listed  bool     // def and all were read
	routing client.RoutingInfo
	note    string
	err     error
}

// relayCmd changes the relay list (the engine checks the address) and
// reports the list as it is afterwards, whatever happened. A relay added
// is also dialled once, as `veil relay add` does: a wrong fingerprint or a
// typo in the host shows at once, but the relay is kept either way. pw,
// when not empty, is the password of the relay added.
func relayCmd(eng *client.Engine, op relayOp, addr string, pw []byte) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
		defer cancel()
		var m relaysMsg
		switch op {
		case relayAdd:
			if len(pw) > 0 {
				m.err = eng.AddRelayPassword(ctx, addr, pw)
			} else {
				m.err = eng.AddRelay(ctx, addr)
			}
			if m.err == nil {
				m.note = "relay added"
				cctx, ccancel := context.WithTimeout(context.Background(), relayCheckTimeout)
				if err := eng.CheckRelay(cctx, addr); err != nil {
					m.note = "relay added, but it does not answer now: " + userErr(err)
				}
				ccancel()
			}
		case relayDefault:
			if m.err = eng.SetDefaultRelay(ctx, addr); m.err == nil {
				m.note = "default relay: " + relayHost(addr) + " (new invites and groups use it)"
			}
		case relayRemove:
			if m.err = eng.RemoveRelay(ctx, addr); m.err == nil {
				m.note = "relay removed"
			}
		case relayRouting:
			if m.err = eng.SetRouting(ctx, addr); m.err == nil {
				m.note = "private routing: " + addr
			}
		case relayForwarder:
			if m.err = eng.SetForwarder(ctx, addr); m.err == nil {
				m.note = "messages to other relays go through " + relayHost(addr)
			}
		}
		def, all, err := eng.Relays(ctx)
		if err != nil {
			if m.err == nil {
				m.err = err
			}
			return m
		}
		if m.routing, err = eng.Routing(ctx); err != nil && m.err == nil {
			m.err = err
		}
		m.def, m.all, m.listed = def, all, true
		return m
	}
}

// relayHost is the host:port of a relay address, sanitised for the screen.
func relayHost(addr string) string {
	if _, rest, ok := strings.Cut(addr, "://"); ok {
		addr = rest
	}
	host, _, _ := strings.Cut(addr, "#")
	return client.SanitizeLine(strings.TrimSuffix(host, "/"))
}

// relaysDialog lists the profile's relays, the default marked, and adds a
// relay, makes one the default or removes one. The engine refuses to
// remove the default or a relay a chat or group uses, and says why. Every
// address shown comes from the profile and is sanitised first.
type relaysDialog struct {
	st      styles
	keys    keyMap
	def     string
	all     []string
	routing client.RoutingInfo
	loaded  bool
	cursor  int // len(all) is the "Add a relay" line
	adding  bool
	in      textinput.Model
	// pwStep: the address is typed (addr) and the relay's password is
	// asked in pw, which never echoes it.
	pwStep  bool
	addr    string
	pw      textinput.Model
	confirm string // the relay d was pressed on once
	busy    bool
	note    string
	err     string
	do      func(op relayOp, addr string, pw []byte) tea.Cmd
	w, h    int
}

func newRelaysDialog(st styles, keys keyMap, do func(relayOp, string, []byte) tea.Cmd) *relaysDialog {
	in := textinput.New()
	in.Prompt = "> "
	in.Placeholder = "veil://host:port#fingerprint"
	in.CharLimit = 1024
	pw := textinput.New()
	pw.Prompt = "> "
	pw.Placeholder = "empty if the relay has none"
	pw.EchoMode = textinput.EchoPassword
	pw.EchoCharacter = '•'
	pw.CharLimit = 255 // spec/relay.md §7.2
	return &relaysDialog{st: st, keys: keys, in: in, pw: pw, do: do, busy: true}
}

// The dialog's own keys (functions: no package-level mutable state).
func relayKeyDefault() key.Binding {
	return key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "make default"))
}
func relayKeyRemove() key.Binding {
	return key.NewBinding(key.WithKeys("d", "delete"), key.WithHelp("d", "remove"))
}
func relayKeyAdd() key.Binding { return key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "add")) }
func relayKeyRouting() key.Binding {
	return key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "routing"))
}
func relayKeyForwarder() key.Binding {
	return key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "forwarder"))
}

func (d *relaysDialog) SetSize(w, h int) { d.w, d.h = w, h; d.in.Width = max(10, w-10) }
func (d *relaysDialog) ShortHelp() []key.Binding {
	if d.adding {
		return []key.Binding{key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "add")), d.keys.Close}
	}
	return []key.Binding{d.keys.Up, d.keys.Down, relayKeyDefault(), relayKeyRemove(), relayKeyAdd(), relayKeyRouting(), relayKeyForwarder(), d.keys.Close}
}
func (d *relaysDialog) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }

func (d *relaysDialog) Update(msg tea.Msg) (dialog, tea.Cmd) {
	if m, ok := msg.(relaysMsg); ok {
		d.onResult(m)
		return d, nil
	}
	km, ok := msg.(tea.KeyMsg)
	if !ok || d.busy {
		return d, nil
	}
	if d.adding && d.pwStep {
		if km.Type != tea.KeyEnter {
			var cmd tea.Cmd
			d.pw, cmd = d.pw.Update(msg)
			return d, cmd
		}
		return d, d.startPassword(d.addr, []byte(d.pw.Value()))
	}
	if d.adding {
		if km.Type != tea.KeyEnter {
			var cmd tea.Cmd
			d.in, cmd = d.in.Update(msg)
			return d, cmd
		}
		v := strings.TrimSpace(d.in.Value())
		switch {
		case v == "":
			d.stopAdding()
			return d, nil
		case client.CheckRelayAddress(v) != nil:
			d.err, d.note = client.SanitizeLine(userErr(client.CheckRelayAddress(v))), ""
			return d, nil
		case strings.Contains(v, "~"): // credentialed already (spec/relay.md §3.5)
			return d, d.start(relayAdd, v)
		}
		d.err = ""
		d.pwStep, d.addr = true, v
		d.in.Blur()
		return d, d.pw.Focus()
	}
	confirm := d.confirm
	d.confirm = ""
	switch {
	case key.Matches(km, d.keys.Up):
		d.cursor = max(0, d.cursor-1)
	case key.Matches(km, d.keys.Down):
		d.cursor = min(len(d.all), d.cursor+1)
	case key.Matches(km, relayKeyAdd()), km.Type == tea.KeyEnter && d.cursor == len(d.all):
		d.adding, d.note, d.err = true, "", ""
		return d, d.in.Focus()
	case km.Type == tea.KeyEnter:
		if r := d.all[d.cursor]; r != d.def {
			return d, d.start(relayDefault, r)
		}
		d.note, d.err = "this is the default already", ""
	case key.Matches(km, relayKeyRouting()):
		next := map[string]string{client.RoutingAuto: client.RoutingAlways, client.RoutingAlways: client.RoutingOff}[d.routing.Mode]
		if next == "" {
			next = client.RoutingAuto
		}
		return d, d.start(relayRouting, next)
	case key.Matches(km, relayKeyForwarder()) && d.cursor < len(d.all):
		return d, d.start(relayForwarder, d.all[d.cursor])
	case key.Matches(km, relayKeyRemove()) && d.cursor < len(d.all):
		r := d.all[d.cursor]
		if confirm != r {
			d.confirm, d.err = r, ""
			d.note = "press d again to remove " + relayHost(r)
			return d, nil
		}
		return d, d.start(relayRemove, r)
	}
	return d, nil
}

func (d *relaysDialog) start(op relayOp, addr string) tea.Cmd {
	d.busy, d.note, d.err = true, "", ""
	return d.do(op, addr, nil)
}

// startPassword adds addr with pw, the relay's password (none if empty).
func (d *relaysDialog) startPassword(addr string, pw []byte) tea.Cmd {
	d.busy, d.note, d.err = true, "", ""
	return d.do(relayAdd, addr, pw)
}

func (d *relaysDialog) stopAdding() {
	d.adding = false
	d.in.Reset()
	d.in.Blur()
	d.leavePassword()
}

// leavePassword forgets the typed password and goes back to the address.
func (d *relaysDialog) leavePassword() {
	d.pwStep, d.addr = false, ""
	d.pw.Reset()
	d.pw.Blur()
}

// onResult shows the list after a change; a refused address stays in the
// input to be corrected.
func (d *relaysDialog) onResult(m relaysMsg) {
	d.busy = false
	if m.listed {
		d.def, d.all, d.routing, d.loaded = m.def, m.all, m.routing, true
	}
	if m.err != nil {
		d.err, d.note = client.SanitizeLine(userErr(m.err)), ""
		if d.pwStep {
			d.leavePassword()
			cmdFocus(&d.in)
		}
		return
	}
	d.err, d.note = "", client.SanitizeLine(m.note)
	if d.adding {
		added := strings.TrimSpace(d.in.Value())
		d.stopAdding()
		for i, r := range d.all {
			if r == added {
				d.cursor = i
			}
		}
	}
	d.cursor = min(d.cursor, len(d.all))
}

func (d *relaysDialog) View() string {
	inner := max(10, d.w-4)
	var lines []string
	switch {
	case d.adding && d.pwStep:
		lines = append(lines, "Password of "+relayHost(d.addr)+": only for a private relay (ask its operator); it is not shown.", "", d.pw.View())
	case d.adding:
		lines = append(lines, "Paste a relay address: veil://host:port#fingerprint (TLS) or veil+ws://… (plain). Make it the default to use it for new invites and groups.", "", d.in.View())
	default:
		lines = append(lines, "* marks the default: new invites and groups use it.",
			"Private routing: "+routingLabel(d.routing), "")
		var list []string
		for i, r := range d.all {
			mark := "  "
			if r == d.def {
				mark = "* "
			}
			l := mark + truncate(client.SanitizeLine(r), inner-2)
			if i == d.cursor {
				l = d.st.Selected.Render(l)
			}
			list = append(list, l)
		}
		add := "  Add a relay…"
		if d.cursor == len(d.all) {
			add = d.st.Selected.Render(add)
		}
		list = append(list, add)
		if !d.loaded {
			list = []string{d.st.Faint.Render("loading…")}
		}
		room := max(1, d.h-5) - len(lines) - 3 // the box's room, less the note
		lines = append(lines, listWindow(d.st, list, d.cursor, room)...)
	}
	switch {
	case d.busy && d.loaded:
		lines = append(lines, "", d.st.Faint.Render("working…"))
	case d.err != "":
		lines = append(lines, "", d.st.Error.Render(d.err))
	case d.note != "":
		lines = append(lines, "", d.st.Faint.Render(d.note))
	}
	return box(d.st, "Relays", strings.Join(lines, "\n"), d.w, d.h)
}

// routingLabel is the private routing line (spec/client.md §7.7): the
// mode and the forwarding relay, and "no reachable forwarding relay" when
// the forwarder is one only this machine or network reaches, which auto
// does not use (it would hide nothing).
func routingLabel(r client.RoutingInfo) string {
	mode := valueOr(r.Mode, client.RoutingAuto)
	switch {
	case mode == client.RoutingOff:
		return "off"
	case r.Forwarder == "":
		return mode + ", no forwarding relay"
	case client.RelayReach(r.Forwarder) != client.ReachAnyone && mode == client.RoutingAuto:
		return "auto (no reachable forwarding relay)"
	}
	return mode + " via " + relayHost(r.Forwarder)
}

// cmdFocus focuses in again; its blink command is not needed here.
func cmdFocus(in *textinput.Model) { _ = in.Focus() }
