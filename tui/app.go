package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/textarea"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"veil/client"
)

type screen int

const (
	scrLoading screen = iota
	scrGate
	scrMain
	scrErased
)

// App is the root model. Run it with tea.NewProgram(app, Options()...)
// and call Close after the program returns.
type App struct {
	cfg  Config
	keys keyMap
	st   styles
	help help.Model
	w, h int

	screen screen
	gate   gate
	fatal  string

	// The unlocked session and its run loop (owned by the App: cancel
	// stops it, done (run.done) is closed when it has stopped).
	sess    *Session
	events  chan client.Event
	cancel  context.CancelFunc
	run     *runState
	done    chan struct{}
	closing bool

	list      chatList
	view      chatView
	compose   compose
	dlg       dialog
	searching bool
	search    textinput.Model
	listFocus bool

	// listLoads and viewLoads order the loads of the chat list and of
	// the open chat, so that an older result never replaces a newer one.
	listLoads, viewLoads loadOrder

	settings  map[string]string
	proxy     string // the stored SOCKS5 setting
	flagProxy string // the --socks5 proxy, which wins over it
	relayDef  string // the default relay, as the profile has it
	relayN    int    // how many relays the profile lists
	policy    client.Policy
	queued    int // our messages waiting to be sent, in every chat
	autoLock  time.Duration
	lastInput time.Time
	// holdRead keeps the open chat unread: the chat was reopened at
	// unlock by itself, and no key has been pressed since (lastchat.go).
	holdRead bool
	relays   map[string]bool
	// transfers are the running uploads and downloads known from
	// transfer events and loaded messages (files.go), by transferKey.
	transfers map[string]*transfer
	// fileFake replaces the engine's file API in tests.
	fileFake  fileEngine
	notice    string
	noticeErr bool
	quitArmed bool
	last      lastChat
}

// New returns the TUI's root model.
func New(cfg Config) *App {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Loc == nil {
		cfg.Loc = time.Local
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	a := &App{cfg: cfg, keys: defaultKeys(), st: newStyles(), help: help.New()}
	a.resetMain()
	return a
}

// Options are the Bubble Tea options veil runs with: the alternate screen
// (nothing stays in the terminal's scrollback) and mouse wheel reports.
// Bracketed paste stays on (Bubble Tea's default), so a paste arrives as
// one text and its newlines never send (input.go).
func Options() []tea.ProgramOption {
	return []tea.ProgramOption{tea.WithAltScreen(), tea.WithMouseCellMotion()}
}

func (a *App) now() time.Time { return a.cfg.Now() }

func (a *App) eng() *client.Engine {
	if a.sess == nil {
		return nil
	}
	return a.sess.Engine
}

// resetMain forgets everything shown (on lock): chats, messages, drafts.
func (a *App) resetMain() {
	a.list = chatList{st: a.st, keys: a.keys, now: a.cfg.Now, loc: a.cfg.Loc}
	a.view = newChatView(a.st, a.keys, a.cfg.Now, a.cfg.Loc)
	a.compose = newCompose(a.keys)
	a.search = textinput.New()
	a.search.Prompt = "search: "
	a.closeDialog()
	a.searching, a.listFocus = false, false
	a.settings = map[string]string{}
	a.proxy, a.flagProxy, a.queued = "", "", 0
	a.relayDef, a.relayN, a.policy = "", 0, client.Policy{}
	a.autoLock = defaultAutoLock
	a.relays = map[string]bool{}
	a.transfers = map[string]*transfer{}
	a.notice, a.noticeErr, a.quitArmed = "", false, false
	a.last = lastChat{}
	a.layout()
}

func (a *App) Init() tea.Cmd {
	return tea.Batch(checkExists(a.cfg.Profile), tick(a.cfg.Tick))
}

// Close stops the engine and locks the profile if it is still open. Call
// it after the program has returned.
func (a *App) Close() {
	if a.sess != nil {
		shutdown(a.sess, a.cancel, a.events, a.run)
		a.sess = nil
	}
}

func (a *App) layout() {
	w, h := max(a.w, 1), max(a.h, 1)
	listW := min(28, w/3)
	bodyH := max(1, h-5-len(a.progressRows()))
	a.list.SetSize(listW, bodyH)
	a.view.SetSize(max(1, w-listW-1), bodyH)
	a.compose.SetSize(w-2, 3)
	a.search.Width = max(10, w-20)
	a.gate.SetSize(w, h)
	if a.dlg != nil {
		a.dlg.SetSize(a.dialogSize())
	}
	a.help.Width = w
}

func (a *App) openDialog(d dialog) {
	a.dlg = d
	a.dlg.SetSize(a.dialogSize())
}

// dialogSize is the room a dialog has: the body above compose, status
// and help (View places it there), at most 76 columns wide.
func (a *App) dialogSize() (w, h int) {
	return min(max(a.w, 1)-2, 76), max(1, a.h-5)
}

// closeDialog closes the open dialog, letting it wipe what it holds.
func (a *App) closeDialog() {
	if c, ok := a.dlg.(interface{ close() }); ok {
		c.close()
	}
	a.dlg = nil
}

// catchingKeys reports whether the open dialog wants every key.
func (a *App) catchingKeys() bool {
	c, ok := a.dlg.(keyCatcher)
	return ok && a.screen == scrMain && c.catchingKeys()
}

func (a *App) setNotice(s string, isErr bool) {
	a.notice, a.noticeErr = client.SanitizeLine(s), isErr
}

// Update hands each message to its handler (update.go); keys go through
// the key tables of keys.go (keyhandlers.go).
func (a *App) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		return a, a.onResize(msg)
	case tickMsg:
		return a, a.onTick(a.now())
	case existsMsg:
		return a, a.onExists(msg)
	case openedMsg:
		return a, a.onOpened(msg)
	case lockedMsg:
		return a, a.onLocked()
	case erasedMsg:
		return a, a.onErased(msg)
	case LockMsg:
		return a, a.lock()
	case EraseMsg:
		return a, a.onErase()
	case runDoneMsg:
		return a, a.onRunDone(msg)
	case tea.KeyMsg:
		return a, a.onKeyMsg(msg)
	case tea.MouseMsg:
		return a, a.onMouse(msg)
	}
	return a, a.onOtherMsg(msg)
}

// quit leaves at once, unless an unsent draft would be lost: then it asks
// once.
func (a *App) quit() tea.Cmd {
	if a.screen == scrMain && strings.TrimSpace(a.compose.value()) != "" && !a.quitArmed {
		a.quitArmed = true
		a.setNotice("unsent draft: press ctrl+c again to quit and lose it", true)
		return nil
	}
	return tea.Quit
}

func (a *App) onTick(now time.Time) tea.Cmd {
	if a.screen == scrMain && a.sess != nil && !a.closing {
		if a.autoLock > 0 && now.Sub(a.lastInput) >= a.autoLock {
			return tea.Batch(a.lock(), tick(a.cfg.Tick))
		}
		if a.view.hasCountdown() {
			a.view.render(false)
		}
	}
	return tick(a.cfg.Tick)
}

func (a *App) onOpened(msg openedMsg) tea.Cmd {
	switch {
	case errors.Is(msg.err, client.ErrErased), errors.Is(msg.err, client.ErrNoProfile):
		// Opening erased the profile (spec/client.md §10.5), or it was
		// erased elsewhere (veil panic) since the start: the first-run
		// screen, drawn exactly as for a profile that never existed.
		a.showGate(true)
		return textinput.Blink
	case msg.err != nil:
		a.gate.failed(userErr(msg.err))
		return nil
	}
	a.gate.reset() // wipes the PINs a first run kept
	a.resetMain()
	a.sess, a.events = msg.s, msg.events
	ctx, cancel := context.WithCancel(context.Background())
	a.run = newRunState()
	a.cancel, a.done = cancel, a.run.done
	a.screen = scrMain
	a.lastInput = a.now()
	eng := a.sess.Engine
	return tea.Batch(run(eng, ctx, a.run), waitEvent(a.events, a.done), a.loadChats(), loadSettings(eng), loadLastChat(eng), textarea.Blink)
}

// lock stops the engine, forgets what was shown and returns to the unlock
// screen.
func (a *App) lock() tea.Cmd {
	if a.sess == nil || a.closing {
		return nil
	}
	a.closing = true
	s, cancel, ev, rs := a.sess, a.cancel, a.events, a.run
	a.sess = nil
	a.resetMain()
	a.screen = scrLoading
	return lockCmd(s, cancel, ev, rs)
}

// panicErase closes the profile, erases it and exits.
func (a *App) panicErase() tea.Cmd {
	s, cancel, ev, rs := a.sess, a.cancel, a.events, a.run
	a.sess, a.closing = nil, true
	a.resetMain()
	a.screen = scrErased
	return eraseCmd(a.cfg.Profile, s, cancel, ev, rs)
}

func (a *App) applySettings(m settingsMsg) {
	vals := m.vals
	a.settings = vals
	a.proxy, a.flagProxy = m.proxy, m.flagProxy
	a.relayDef, a.relayN, a.policy = m.relayDef, m.relayN, m.policy
	a.autoLock = defaultAutoLock
	if v := vals[settingAutoLock]; v == "off" {
		a.autoLock = 0
	} else if d, err := client.ParseDuration(v); err == nil && d > 0 {
		a.autoLock = d
	}
	a.keys.remap(vals)
	a.keys.swapEnter(vals[settingEnter] == "newline")
	a.keys.PanicChord.SetEnabled(vals[settingPanicKey] == "on")
	a.compose.setKeys(a.keys)
	a.view.keys, a.list.keys = a.keys, a.keys
}

// groupDigits lays a safety code out as groups of five, six a line.
func groupDigits(code string) string {
	code = strings.Join(strings.Fields(code), "")
	var b strings.Builder
	for i, r := range code {
		if i > 0 && i%5 == 0 {
			if i%30 == 0 {
				b.WriteString("\n")
			} else {
				b.WriteString(" ")
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (a *App) reloadView(markRead bool) tea.Cmd {
	if a.view.chat.ID == "" || a.sess == nil {
		return nil
	}
	return loadMessages(a.sess.Engine, a.view.chat.ID, a.readAllowed(markRead), a.viewLoads.next())
}

// loadChats loads the chat list.
func (a *App) loadChats() tea.Cmd {
	if a.sess == nil {
		return nil
	}
	return loadChats(a.sess.Engine, a.listLoads.next())
}

// readAllowed is markRead unless the open chat is held unread (holdRead).
func (a *App) readAllowed(markRead bool) bool { return markRead && !a.holdRead }

func (a *App) openChat(id string) tea.Cmd {
	if a.sess == nil {
		return nil
	}
	a.list.selectID(id)
	for _, c := range a.list.chats {
		if c.ID == id {
			a.view.chat = c
		}
	}
	if a.view.chat.ID != id {
		a.view.chat = client.ChatInfo{ID: id}
	}
	a.view.loaded = false
	a.view.group = a.list.groups[id]
	a.listFocus = false
	return tea.Batch(a.reloadView(true), a.rememberChat(id))
}

func (a *App) onEvent(ev client.Event) tea.Cmd {
	name := client.SanitizeLine(ev.Name)
	if name == "" {
		name = shortID(ev.Chat)
	}
	current := ev.Chat != "" && ev.Chat == a.view.chat.ID
	var cmds []tea.Cmd
	switch ev.Type {
	case client.EventTransfer:
		if !a.onTransfer(ev) || !current {
			return nil // progress alone: the rows are drawn from a.transfers
		}
		return a.reloadView(false)
	case client.EventMessage:
		mode := a.settings[settingNotify]
		cmds = append(cmds, func() tea.Msg { notifyCmd(a.cfg.Notify, mode)(); return nil })
	case client.EventContactJoined:
		a.setNotice("someone joined "+name, false)
	case client.EventInviteLeaked:
		a.setNotice("WARNING: the invite key of "+name+" was used by someone else too: it leaked. /burn that chat and invite again", true)
	case client.EventVerifyLost:
		a.setNotice("WARNING: "+name+": the safety code changed after you verified it: compare it again (/verify)", true)
	case client.EventInviteExpired:
		a.setNotice("an unused invite expired and was erased", false)
	case client.EventChatExpired:
		a.setNotice("a chat reached its deadline and was erased", false)
	case client.EventChatBurned:
		a.setNotice("a chat was burned by the other side and erased", false)
	case client.EventGroupJoined:
		a.setNotice(client.SanitizeLine(ev.From)+" joined "+name, false)
	case client.EventGroupLeft:
		a.setNotice(client.SanitizeLine(ev.From)+" left "+name, false)
	case client.EventGroupRemoved:
		if ev.From == "" && ev.Text != "" {
			a.setNotice(client.SanitizeLine(ev.Text), true)
		} else if ev.From == "" {
			a.setNotice("you were removed from "+name, true)
		} else {
			by := ""
			if ev.By != "" {
				by = " by " + client.SanitizeLine(ev.By)
			}
			a.setNotice(client.SanitizeLine(ev.From)+" was removed from "+name+by, false)
		}
	case client.EventGroupSettings:
		a.setNotice(name+": "+client.SanitizeLine(ev.Text), false)
	case client.EventGroupRelays:
		a.setNotice(name+": moved to relays "+client.SanitizeLine(ev.Text), true)
	case client.EventGroupBurned:
		a.setNotice("a group was burned by an admin and erased", false)
	case client.EventRelayConnected:
		a.relays[ev.Relay] = true
		return nil
	case client.EventRelayUnreachable:
		a.relays[ev.Relay] = false
		return nil
	case client.EventWarning, client.EventGroupStalled, client.EventGroupRelayDown, client.EventRoutingDirect:
		a.setNotice(ev.Err, true)
	case client.EventGroupRelayUp:
		a.setNotice(name+": its relay "+client.SanitizeLine(ev.Text)+" answers again", false)
	}
	cmds = append(cmds, a.loadChats())
	if current {
		cmds = append(cmds, a.reloadView(true))
	}
	return tea.Batch(cmds...)
}

// moveChat opens the chat d places below (d > 0) or above the open one
// in the list, wrapping around; with none open, the first or the last.
func (a *App) moveChat(d int) tea.Cmd {
	n := len(a.list.chats)
	if n == 0 {
		return nil
	}
	i := -1
	for j, c := range a.list.chats {
		if c.ID == a.view.chat.ID {
			i = j
		}
	}
	switch {
	case i >= 0:
		i = ((i+d)%n + n) % n
	case d > 0:
		i = 0
	default:
		i = n - 1
	}
	return a.openChat(a.list.chats[i].ID)
}

// submit sends the compose box's text, or runs it as a /command.
func (a *App) submit() tea.Cmd {
	text := a.compose.value()
	if strings.TrimSpace(text) == "" {
		return nil
	}
	if strings.HasPrefix(text, "/") && !strings.HasPrefix(text, "//") {
		a.compose.take()
		a.notice = ""
		return a.command(text)
	}
	if a.view.chat.ID == "" {
		a.setNotice("open a chat first (tab, alt+1…9 or ctrl+k)", true)
		return nil
	}
	text = strings.TrimPrefix(a.compose.take(), "/") // "//x" sends "/x"
	eng, id, opt := a.sess.Engine, a.view.chat.ID, a.replyOptions()
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
		defer cancel()
		if _, err := eng.Send(ctx, id, text, opt); err != nil {
			return doneMsg{err: err, unsent: text, chat: id}
		}
		return doneMsg{reload: true}
	}
}

// View draws the screen.
func (a *App) View() string {
	if a.fatal != "" {
		return a.st.Error.Render(a.fatal) + "\n" + a.st.Faint.Render("ctrl+c: quit") + "\n"
	}
	if a.w > 0 && (a.w < minWidth || a.h < minHeight) {
		return lipgloss.Place(a.w, a.h, lipgloss.Center, lipgloss.Center,
			lipgloss.NewStyle().Width(max(1, a.w-2)).Render(fmt.Sprintf("veil needs at least %d×%d; this terminal is %d×%d.", minWidth, minHeight, a.w, a.h)))
	}
	switch a.screen {
	case scrLoading, scrErased:
		return ""
	case scrGate:
		return a.gate.View() + "\n" + a.help.View(a.gate)
	}
	if fs, ok := a.dlg.(fullScreenDialog); ok {
		return fs.FullView(a.w, max(1, a.h-1)) + "\n" + lipgloss.NewStyle().MaxWidth(a.w).Render(a.help.View(a.dlg))
	}
	list := a.list
	list.focus = a.listFocus
	listPane := a.st.Pane.Render(list.View())
	if a.listFocus {
		listPane = a.st.FocusPane.Render(list.View())
	}
	progress := a.progressRows()
	bodyH := max(1, a.h-5-len(progress))
	body := lipgloss.JoinHorizontal(lipgloss.Top, listPane, a.view.View())
	body = lipgloss.NewStyle().Height(bodyH).MaxHeight(bodyH).Render(body)
	if a.dlg != nil {
		body = lipgloss.Place(a.w, bodyH, lipgloss.Center, lipgloss.Center, a.dlg.View())
	}
	for _, p := range progress {
		body += "\n" + p
	}
	bottom := a.compose.View()
	if a.searching {
		bottom = a.search.View() + "\n" + a.st.Faint.Render(a.view.searchStatus()+"  enter: older match · esc: close") + "\n"
	}
	bottom = lipgloss.NewStyle().Height(3).MaxHeight(3).Render(bottom)
	var km help.KeyMap = mainKeys{k: a.keys, listMode: a.listFocus}
	if a.dlg != nil {
		km = a.dlg
	}
	return body + "\n" + bottom + "\n" + a.statusLine() + "\n" + lipgloss.NewStyle().MaxWidth(a.w).Render(a.help.View(km))
}

func (a *App) statusLine() string {
	state := "relay: connecting"
	if len(a.list.chats) == 0 {
		state = "relay: idle (no chats yet)"
	}
	up, down := 0, 0
	for _, ok := range a.relays {
		if ok {
			up++
		} else {
			down++
		}
	}
	switch {
	case up > 0 && down == 0:
		state = "relay: connected"
	case up > 0:
		state = fmt.Sprintf("relays: %d up, %d down", up, down)
	case down > 0:
		state = "relay: offline (messages wait in the outbox)"
	}
	left := state
	if a.queued > 0 {
		left += fmt.Sprintf(" · %d queued", a.queued)
	}
	if a.autoLock > 0 {
		left += " · locks in " + countdown(a.autoLock-a.now().Sub(a.lastInput))
	}
	line := " " + left
	if a.notice != "" {
		n := a.notice
		if a.noticeErr {
			n = "! " + n
		}
		line += " │ " + n
	}
	return a.st.StatusBar.Render(lipgloss.NewStyle().Width(a.w).MaxWidth(a.w).Render(truncate(line, a.w)))
}
