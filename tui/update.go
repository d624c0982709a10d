package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
)

// The handlers of Update, one a message type. Each returns the command to
// run next; none does I/O itself (that happens in the commands of
// engine.go).

func (a *App) onResize(msg tea.WindowSizeMsg) tea.Cmd {
	a.w, a.h = msg.Width, msg.Height
	a.layout()
	return nil
}

// onExists shows the unlock screen, or the first-run screen when there is
// no profile yet.
func (a *App) onExists(msg existsMsg) tea.Cmd {
	if msg.err != nil {
		a.fatal = "veil: " + userErr(msg.err)
		return nil
	}
	a.showGate(!msg.ok)
	return textinput.Blink
}

func (a *App) onLocked() tea.Cmd {
	a.closing = false
	a.showGate(false)
	return nil
}

// showGate switches to the unlock screen (firstRun: the first-run screen).
func (a *App) showGate(firstRun bool) {
	a.gate.reset() // wipes what the gate shown before held
	a.screen = scrGate
	a.gate = newGate(a.cfg.Profile, a.st, a.keys, firstRun)
	a.gate.SetSize(a.w, a.h)
}

func (a *App) onErased(msg erasedMsg) tea.Cmd {
	if msg.err != nil {
		a.screen = scrErased
		a.fatal = "veil: the erase failed: " + userErr(msg.err) + " (run veil panic)"
		return nil
	}
	return tea.Quit
}

func (a *App) onRunDone(msg runDoneMsg) tea.Cmd {
	if msg.err != nil && !a.closing && a.sess != nil {
		a.setNotice("engine stopped: "+userErr(msg.err), true)
	}
	return nil
}

// onMouse scrolls the chat view with the wheel.
func (a *App) onMouse(msg tea.MouseMsg) tea.Cmd {
	a.lastInput = a.now()
	if a.screen == scrMain && a.dlg == nil {
		var cmd tea.Cmd
		a.view, cmd = a.view.Update(msg)
		return cmd
	}
	return nil
}

// onOtherMsg passes what the root does not handle to the unlock screen, or
// to the main screen while a session is open.
func (a *App) onOtherMsg(msg tea.Msg) tea.Cmd {
	if a.screen != scrMain || a.sess == nil {
		if a.screen == scrGate {
			var cmd tea.Cmd
			a.gate, cmd = a.gate.Update(msg)
			return cmd
		}
		return nil
	}
	return a.onMainMsg(msg)
}

// onMainMsg handles the results of the main screen's commands; anything
// else goes to the open dialog or the compose box.
func (a *App) onMainMsg(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case eventMsg:
		return tea.Batch(a.onEvent(msg.ev), waitEvent(a.events, a.done))
	case chatsMsg:
		return a.onChats(msg)
	case messagesMsg:
		return a.onMessages(msg)
	case selectChatMsg:
		return a.openChat(msg.id)
	case openAtMsg:
		return a.openAt(msg)
	case inviteMsg:
		return a.onInvite(msg)
	case joinedMsg:
		return a.onJoined(msg)
	case membersMsg:
		return a.onMembers(msg)
	case safetyMsg:
		return a.onSafety(msg)
	case inviteKeyMsg:
		return a.onInviteKey(msg)
	case doneMsg:
		return a.onDone(msg)
	case settingsMsg:
		return a.onSettings(msg)
	case subDialogMsg:
		return a.openSub(msg.what)
	case relaysMsg:
		if msg.listed {
			a.relayDef, a.relayN = msg.def, len(msg.all)
		}
		if _, ok := a.dlg.(*relaysDialog); !ok {
			// From /relay, or the dialog was closed while it ran.
			a.resultNotice(msg.err, msg.note)
			return nil
		}
	case pinDoneMsg:
		if _, ok := a.dlg.(*pinDialog); !ok {
			// The dialog was closed while the change ran.
			a.resultNotice(msg.err, msg.note)
			return nil
		}
	case policyDoneMsg:
		if msg.err == nil {
			a.policy = msg.p
		}
		if _, ok := a.dlg.(*policyDialog); !ok {
			// The dialog was closed while the change ran.
			a.resultNotice(msg.err, "erase policy saved: "+policyLabel(msg.p))
			return nil
		}
	case closeDialogMsg:
		a.closeDialog()
		return nil
	case lastChatMsg:
		return a.onLastChat(msg)
	case pathDoneMsg:
		return a.onPathDone(msg)
	case imageSizeMsg:
		a.onImageSize(msg)
		return nil
	case previewMsg:
		return a.onPreview(msg)
	case previewDoneMsg:
		if msg.err != nil {
			a.setNotice("the preview failed: "+msg.err.Error(), true)
		}
		return nil
	case saveDoneMsg:
		if _, ok := a.dlg.(*saveDialog); ok {
			a.closeDialog()
		}
		return a.onDone(msg.done)
	}
	return a.forward(msg)
}

// forward hands msg to the open dialog, or else to the compose box.
func (a *App) forward(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	if a.dlg != nil {
		a.dlg, cmd = a.dlg.Update(msg)
		return cmd
	}
	a.compose, cmd = a.compose.Update(msg)
	return cmd
}

// resultNotice shows the outcome of an action whose dialog is gone.
func (a *App) resultNotice(err error, note string) {
	if err != nil {
		a.setNotice(userErr(err), true)
	} else {
		a.setNotice(note, false)
	}
}

// onChats refreshes the chat list and the open chat's header.
func (a *App) onChats(msg chatsMsg) tea.Cmd {
	if !a.listLoads.fresh(msg.seq) {
		return nil // a newer list is shown
	}
	if msg.err != nil {
		a.setNotice(userErr(msg.err), true)
		return nil
	}
	a.list.groups = msg.groups
	a.queued = msg.queued
	a.view.group = msg.groups[a.view.chat.ID]
	a.list.set(msg.chats)
	if id := a.view.chat.ID; id != "" {
		found := false
		for _, c := range msg.chats {
			if c.ID == id {
				a.view.chat, found = c, true
				if a.view.loaded {
					a.view.set(c, a.view.msgs) // pending, timers and name may have changed
				}
			}
		}
		if !found {
			a.view.clear()
		}
	}
	a.last.loaded = true
	return a.reopenLastChat()
}

func (a *App) onMessages(msg messagesMsg) tea.Cmd {
	if msg.err != nil {
		a.setNotice(userErr(msg.err), true)
		return nil
	}
	var probe tea.Cmd
	if msg.chat == a.view.chat.ID {
		if !a.viewLoads.fresh(msg.seq) {
			return nil // newer messages are shown
		}
		a.view.set(a.view.chat, msg.msgs)
		probe = a.syncTransfers()
	}
	return tea.Batch(a.loadChats(), probe)
}

// onInvite shows a new invite key with its QR code and opens its chat.
func (a *App) onInvite(msg inviteMsg) tea.Cmd {
	if msg.err != nil {
		a.setNotice(userErr(msg.err), true)
		return nil
	}
	a.setNotice("invite created: hand the key to one person over a private channel", false)
	intro := inviteIntro
	if msg.group {
		intro += " Keep veil open until they have joined: your client admits them."
	}
	if w := client.ReachWarning(client.InviteReach(msg.key)); w != "" {
		intro += "\n\nWarning: " + w + " (or /relay add URL in the TUI)."
	}
	a.openDialog(a.newKeyDialog("Invite", intro, msg.key))
	return tea.Batch(a.loadChats(), a.openChat(msg.chat))
}

func (a *App) onJoined(msg joinedMsg) tea.Cmd {
	if msg.err != nil {
		a.setNotice(userErr(msg.err), true)
		return nil
	}
	if msg.note == "" {
		msg.note = "joined: say hello"
	}
	a.setNotice(msg.note, false)
	return tea.Batch(a.loadChats(), a.openChat(msg.chat))
}

// onMembers lists a group's members in a dialog.
func (a *App) onMembers(msg membersMsg) tea.Cmd {
	if msg.err != nil {
		a.setNotice(userErr(msg.err), true)
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Epoch %d. Admins can /group remove NICK and /group promote NICK\n(nick#key where two look alike).\n\n", msg.epoch)
	for _, m := range msg.members {
		line := client.SanitizeLine(m.Name)
		if m.Admin {
			line += " (admin)"
		}
		if m.You {
			line += " (you)"
		}
		b.WriteString(line + "\n")
	}
	a.openDialog(&textDialog{st: a.st, keys: a.keys, title: "Members", body: strings.TrimRight(b.String(), "\n")})
	return nil
}

func (a *App) onSafety(msg safetyMsg) tea.Cmd {
	if msg.err != nil {
		a.setNotice(userErr(msg.err), true)
		return nil
	}
	if msg.group {
		a.openDialog(&textDialog{st: a.st, keys: a.keys, title: "Group verification code",
			body: fmt.Sprintf("Epoch %d. Compare these digits with other members of the same epoch,\nin person or on a call. If they match, you hold the same roster and keys.\n\n", msg.epoch) + a.st.Bold.Render(groupDigits(msg.code))})
		return nil
	}
	verified := a.view.chat.ID == msg.chat && a.view.chat.Verified
	a.openDialog(&safetyDialog{st: a.st, keys: a.keys, code: msg.code, verified: verified, mark: markCmd(a.sess.Engine, msg.chat)})
	return nil
}

func (a *App) onDone(msg doneMsg) tea.Cmd {
	if msg.unsent != "" && msg.chat == a.view.chat.ID && strings.TrimSpace(a.compose.value()) == "" {
		a.compose.ta.SetValue(msg.unsent) // typed again after an error? keep the new text
	}
	if msg.err != nil {
		a.setNotice(userErr(msg.err), true)
	} else if msg.note != "" {
		a.setNotice(msg.note, false)
	}
	if msg.reload {
		return tea.Batch(a.loadChats(), a.reloadView(false))
	}
	return nil
}

func (a *App) onSettings(msg settingsMsg) tea.Cmd {
	a.applySettings(msg)
	if d, ok := a.dlg.(*settingsDialog); ok {
		// Settings opened before the profile's settings had loaded show
		// them once they have.
		d.relayDef, d.relayN, d.policy = a.relayDef, a.relayN, a.policy
		d.proxy, d.flagProxy = a.proxy, a.flagProxy
	}
	if msg.note != "" {
		a.setNotice(msg.note, false)
	}
	return nil
}
