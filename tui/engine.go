package tui

import (
	"context"
	"errors"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
)

// Messages carrying the results of engine calls. Every engine call runs in
// a tea.Cmd, never in Update.
type (
	existsMsg struct {
		ok  bool
		err error
	}
	openedMsg struct {
		s      *Session
		events chan client.Event
		err    error
	}
	chatsMsg struct {
		seq    uint64 // the load's number (loadOrder)
		chats  []client.ChatInfo
		groups map[string]bool
		queued int // our messages waiting to be sent, in every chat
		err    error
	}
	messagesMsg struct {
		seq  uint64 // the load's number (loadOrder)
		chat string
		msgs []client.MessageInfo
		err  error
	}
	eventMsg    struct{ ev client.Event }
	runDoneMsg  struct{ err error }
	lockedMsg   struct{}
	erasedMsg   struct{ err error }
	tickMsg     time.Time
	settingsMsg struct {
		vals map[string]string
		note string
		// proxy is the stored SOCKS5 setting; flagProxy the proxy
		// given with --socks5, which wins over it ("" when none was).
		proxy, flagProxy string
		relayDef         string // the default relay
		relayN           int    // how many relays are configured
		policy           client.Policy
	}
	// pinDoneMsg reports a PIN or duress PIN change.
	pinDoneMsg struct {
		note string
		err  error
	}
	inviteMsg struct {
		key, chat string
		err       error
		group     bool
	}
	joinedMsg struct {
		chat string
		err  error
		note string
	}
	membersMsg struct {
		members []client.MemberInfo
		epoch   uint64
		err     error
	}
	safetyMsg struct {
		chat, code string
		err        error
		group      bool // a group's verification code, of epoch
		epoch      uint64
	}
	// doneMsg reports a finished action: a notice or an error, and
	// whether the chat list and view need reloading.
	doneMsg struct {
		note   string
		err    error
		reload bool
		// unsent is the text of a message the engine refused, for the
		// compose box of chat: a failed send never loses what was typed.
		unsent, chat string
	}
)

func checkExists(p Profile) tea.Cmd {
	return func() tea.Msg {
		ok, err := p.Exists()
		return existsMsg{ok, err}
	}
}

func openProfile(p Profile, pin []byte, setup *Setup) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), networkTimeout)
		defer cancel()
		events := make(chan client.Event, eventBuffer)
		var s *Session
		var err error
		if setup != nil {
			s, err = p.Create(ctx, *setup, events)
			wipe(setup.PIN)
			wipe(setup.Duress)
		} else {
			s, err = p.Open(ctx, pin, events)
			wipe(pin)
		}
		return openedMsg{s, events, err}
	}
}

// wipe overwrites a PIN. Go cannot guarantee no copy remains elsewhere
// in memory (the text input held it as runes); this only shortens its life.
func wipe(b []byte) { clear(b) }

// run is the engine's receive, send and timer loop, owned by the App: it
// stops when ctx is cancelled (lock, quit, panic), then closes done.
func run(eng *client.Engine, ctx context.Context, rs *runState) tea.Cmd {
	return func() tea.Msg {
		if !rs.begin() {
			close(rs.done) // stopped before it started: it never will
			return runDoneMsg{}
		}
		err := eng.Run(ctx)
		close(rs.done)
		return runDoneMsg{err}
	}
}

// runState is the engine's Run as the TUI starts it, in a command that may
// never execute (the program can end first): done is closed once Run has
// returned, or once the command found it stopped before it began.
type runState struct {
	done chan struct{}

	mu               sync.Mutex
	started, stopped bool
}

func newRunState() *runState { return &runState{done: make(chan struct{})} }

// begin reports whether Run may start: not when stop came first.
func (r *runState) begin() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = !r.stopped
	return r.started
}

// stop keeps a Run that has not begun from beginning and reports whether
// one began (then done is closed when it returns).
func (r *runState) stop() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	return r.started
}

// waitEvent waits for the engine's next event; Update issues it again after
// each one, so the channel is always read while the engine runs.
func waitEvent(events <-chan client.Event, done <-chan struct{}) tea.Cmd {
	return func() tea.Msg {
		select {
		case ev := <-events:
			return eventMsg{ev}
		case <-done:
			return nil
		}
	}
}

// shutdown stops the run loop, reading events until it has stopped (the
// engine waits on a full channel), and closes the session.
func shutdown(s *Session, cancel context.CancelFunc, events <-chan client.Event, rs *runState) {
	cancel()
	if rs != nil && rs.stop() {
		for stopped := false; !stopped; {
			select {
			case <-events:
			case <-rs.done:
				stopped = true
			}
		}
	}
	s.Close()
}

func lockCmd(s *Session, cancel context.CancelFunc, events <-chan client.Event, rs *runState) tea.Cmd {
	return func() tea.Msg {
		shutdown(s, cancel, events, rs)
		return lockedMsg{}
	}
}

func eraseCmd(p Profile, s *Session, cancel context.CancelFunc, events <-chan client.Event, rs *runState) tea.Cmd {
	return func() tea.Msg {
		if s != nil {
			s.Engine.Halt() // nothing queued leaves once the erase is asked
			shutdown(s, cancel, events, rs)
		}
		ctx, c := context.WithTimeout(context.Background(), networkTimeout)
		defer c()
		return erasedMsg{p.Erase(ctx)}
	}
}

// loadChats loads the chat list; seq numbers the load (loadOrder).
func loadChats(eng *client.Engine, seq uint64) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
		defer cancel()
		c, err := eng.Chats(ctx)
		if err != nil {
			return chatsMsg{seq: seq, err: err}
		}
		g, err := eng.GroupIDs(ctx)
		if err != nil {
			return chatsMsg{seq: seq, err: err}
		}
		q, err := eng.QueuedCount(ctx)
		return chatsMsg{seq, c, g, q, err}
	}
}

// loadMessages loads a chat's last messages and marks the shown ones read
// (their disappearing timers start now, spec/client.md §8.1); seq numbers
// the load (loadOrder).
func loadMessages(eng *client.Engine, chat string, markRead bool, seq uint64) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
		defer cancel()
		msgs, err := eng.Messages(ctx, chat, messageWindow)
		if err == nil && markRead {
			var unread []string
			for _, m := range msgs {
				if m.Unread {
					unread = append(unread, m.ID)
				}
			}
			if len(unread) > 0 {
				// Marking starts the disappearing timers: load again so
				// their countdowns show at once.
				if err = eng.MarkRead(ctx, chat, unread...); err == nil {
					msgs, err = eng.Messages(ctx, chat, messageWindow)
				}
			}
		}
		return messagesMsg{seq, chat, msgs, err}
	}
}

func loadSettings(eng *client.Engine) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
		defer cancel()
		return readSettings(ctx, eng, "")
	}
}

// saveSetting stores one setting and reports all of them, so the change
// applies when the note appears.
func saveSetting(eng *client.Engine, k, v string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
		defer cancel()
		var err error
		if k == settingAutoDownload {
			err = eng.SetAutoDownloadLimit(autoDownloadLimit(v))
		} else {
			err = eng.SetSetting(ctx, k, v)
		}
		if err != nil {
			return doneMsg{err: err}
		}
		return readSettings(ctx, eng, "saved")
	}
}

// resetKeys forgets every remapped key.
func resetKeys(eng *client.Engine) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
		defer cancel()
		for _, a := range remapActions() {
			if err := eng.SetSetting(ctx, keySetting(a.name), ""); err != nil {
				return doneMsg{err: err}
			}
		}
		return readSettings(ctx, eng, "key bindings reset to the defaults")
	}
}

// saveProxy stores the SOCKS5 proxy setting ("" direct).
func saveProxy(eng *client.Engine, addr string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
		defer cancel()
		if err := eng.SetSOCKS5(ctx, addr); err != nil {
			return doneMsg{err: err}
		}
		note := "proxy saved: relays are reached through " + addr + " now"
		if addr == "" {
			note = "proxy removed: relays are reached directly now"
		}
		if inUse, fixed := eng.SOCKS5(); fixed {
			note = "proxy saved; --socks5 " + inUse + " stays in use until veil starts without it"
		}
		return readSettings(ctx, eng, note)
	}
}

func readSettings(ctx context.Context, eng *client.Engine, note string) tea.Msg {
	vals := map[string]string{}
	names := []string{settingNotify, settingAutoLock, settingEnter, settingPanicKey, settingPreview}
	for _, a := range remapActions() {
		names = append(names, keySetting(a.name))
	}
	for _, k := range names {
		v, err := eng.Setting(ctx, k)
		if err != nil {
			return doneMsg{err: err}
		}
		vals[k] = v
	}
	vals[settingAutoDownload] = autoDownloadLabel(eng.AutoDownloadLimit())
	proxy, err := eng.SOCKS5Setting(ctx)
	if err != nil {
		return doneMsg{err: err}
	}
	def, all, err := eng.Relays(ctx)
	if err != nil {
		return doneMsg{err: err}
	}
	pol, err := eng.Policy(ctx)
	if err != nil {
		return doneMsg{err: err}
	}
	m := settingsMsg{vals: vals, note: note, proxy: proxy, relayDef: def, relayN: len(all), policy: pol}
	if inUse, fixed := eng.SOCKS5(); fixed {
		m.flagProxy = inUse
	}
	return m
}

// pinCmd changes the PIN (duress false) or sets or removes the duress PIN
// (mode 0: remove). It owns cur and next and wipes them.
func pinCmd(eng *client.Engine, duress bool, mode client.DuressMode, cur, next []byte) tea.Cmd {
	return func() tea.Msg {
		defer wipe(cur)
		defer wipe(next)
		// Two Argon2id derivations: seconds on a slow machine.
		ctx, cancel := context.WithTimeout(context.Background(), networkTimeout)
		defer cancel()
		var err error
		var note string
		switch {
		case !duress:
			err = eng.ChangePIN(ctx, cur, next)
			note = "PIN changed: unlock with the new one from now on"
		case mode == 0:
			err = eng.RemoveDuressPIN(ctx, cur)
			note = "no duress PIN now"
		default:
			err = eng.SetDuressPIN(ctx, cur, next, mode)
			note = "duress PIN set"
		}
		return pinDoneMsg{note: note, err: err}
	}
}

// userErr is an engine error as the user reads it: one sentence in their
// words (spec/client.md §10.3).
func userErr(err error) string { return client.Explain(err).Message }

// action runs one engine call with a timeout and reports it as a doneMsg.
func action(note string, reload bool, timeout time.Duration, f func(ctx context.Context) error) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := f(ctx); err != nil {
			return doneMsg{err: err, reload: reload}
		}
		return doneMsg{note: note, reload: reload}
	}
}

func inviteCmd(eng *client.Engine, name string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), networkTimeout)
		defer cancel()
		k, c, err := eng.Invite(ctx, client.InviteOptions{Name: name})
		return inviteMsg{key: k, chat: c, err: err}
	}
}

func joinCmd(eng *client.Engine, keyText, name string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), networkTimeout)
		defer cancel()
		c, err := eng.Join(ctx, keyText, client.JoinOptions{Name: name})
		if errors.Is(err, client.ErrInviteUsed) {
			err = errors.New("this invite was already used or has expired: ask for a new one (and tell the sender: if they did not use it, someone else did)")
		}
		return joinedMsg{chat: c, err: err}
	}
}

func safetyCmd(eng *client.Engine, chat string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
		defer cancel()
		code, err := eng.SafetyCode(ctx, chat)
		return safetyMsg{chat: chat, code: code, err: err}
	}
}

func groupVerifyCmd(eng *client.Engine, chat string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
		defer cancel()
		code, epoch, err := eng.GroupVerifyCode(ctx, chat)
		return safetyMsg{chat: chat, code: code, err: err, group: true, epoch: epoch}
	}
}

func tick(d time.Duration) tea.Cmd {
	return tea.Tick(d, func(t time.Time) tea.Msg { return tickMsg(t) })
}

func groupInviteCmd(eng *client.Engine, chat string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), networkTimeout)
		defer cancel()
		k, err := eng.GroupInvite(ctx, chat, 0)
		return inviteMsg{key: k, chat: chat, err: err, group: true}
	}
}

func groupCreateCmd(eng *client.Engine, name string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), networkTimeout)
		defer cancel()
		id, err := eng.GroupCreate(ctx, client.GroupOptions{Name: name})
		return joinedMsg{chat: id, err: err, note: "group created: /group invite adds a member"}
	}
}

func membersCmd(eng *client.Engine, chat string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
		defer cancel()
		m, epoch, err := eng.GroupMembers(ctx, chat)
		return membersMsg{m, epoch, err}
	}
}
