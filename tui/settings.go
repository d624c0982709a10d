package tui

import (
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
)

// settingItem is one line of the settings dialog; Enter moves to the
// next of its choices and stores it.
type settingItem struct {
	label, key string
	choices    []string
}

func settingItems(k keyMap) []settingItem {
	return []settingItem{
		{"Notifications", settingNotify, []string{"bell", "osc9", "osc777", "off"}},
		{"Auto-lock after idle", settingAutoLock, []string{"5m", "1m", "15m", "1h", "off"}},
		{"Enter key", settingEnter, []string{"send", "newline"}},
		{fmt.Sprintf("Panic key (%s, no confirmation)", strings.Join(k.PanicChord.Keys(), "/")), settingPanicKey, []string{"off", "on"}},
	}
}

// fileSettingItems are the file rows, last in the dialog.
func fileSettingItems() []settingItem {
	return []settingItem{
		{"Auto-download files up to", settingAutoDownload, autoDownloadLabels()},
		{"Image preview", settingPreview, []string{previewAuto, previewKitty, previewSixel, previewOff}},
	}
}

// timerChoices are the disappearing-message timers the settings dialog
// cycles through, with their labels.
func timerChoices() []struct {
	d     time.Duration
	label string
} {
	return []struct {
		d     time.Duration
		label string
	}{
		{0, "off"}, {30 * time.Second, "30s"}, {5 * time.Minute, "5m"}, {time.Hour, "1h"},
		{24 * time.Hour, "1d"}, {7 * 24 * time.Hour, "1w"},
	}
}

// timerLabel is a timer as the settings dialog shows it; one set with
// /timer to another value shows as such.
func timerLabel(d time.Duration) string {
	for _, c := range timerChoices() {
		if c.d == d {
			return c.label
		}
	}
	return client.FormatDuration(d)
}

// nextTimer is the choice after d: the next longer one, off after the
// longest.
func nextTimer(d time.Duration) time.Duration {
	for _, c := range timerChoices() {
		if c.d > d {
			return c.d
		}
	}
	return 0
}

// Sub-dialogs of the settings dialog.
const (
	subPIN    = "pin"
	subDuress = "duress"
	subPolicy = "policy"
	subRelays = "relays"
	subProxy  = "proxy"
	subKeys   = "keys"
)

// subDialogMsg asks the App to open a sub-dialog of the settings.
type subDialogMsg struct{ what string }

// settingsDialog shows and changes the TUI's settings, the open chat's read
// receipts and disappearing timer, and the SOCKS5 proxy (a client
// setting, stored in the vault), and opens the dialogs that change the
// PIN, the duress PIN, the erase policy, the relays and the key bindings.
type settingsDialog struct {
	st        styles
	keys      keyMap
	vals      map[string]string
	proxy     string // the stored proxy setting
	flagProxy string // the --socks5 proxy that wins over it, if any
	relayDef  string // the default relay (from the profile: sanitise it)
	relayN    int    // how many relays are configured
	policy    client.Policy
	extra     string
	cursor    int
	set       func(k, v string) tea.Cmd
	w, h      int
	receipt   *bool
	toggleR   func(on bool) tea.Cmd
	// timer is the open 1:1 chat's disappearing timer, nil when none is
	// open (a group's timer belongs to the group, set at its creation).
	timer    *time.Duration
	setTimer func(time.Duration) tea.Cmd
}

func (d *settingsDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *settingsDialog) ShortHelp() []key.Binding {
	return []key.Binding{d.keys.Up, d.keys.Down, key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "change")), d.keys.Close}
}
func (d *settingsDialog) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }

// settingRow is one line of the settings dialog: what it shows and what
// enter does.
type settingRow struct {
	label, val string
	enter      func() tea.Cmd
}

// rows are the dialog's lines: the settings of settingItems, the open
// chat's, the lines that open a sub-dialog, then the file settings. The
// duress line never says whether a duress PIN is set: the key file cannot
// tell, and the screen must look the same in a decoy profile.
func (d *settingsDialog) rows() []settingRow {
	var rs []settingRow
	for _, it := range settingItems(d.keys) {
		rs = append(rs, d.itemRow(it))
	}
	if d.receipt != nil {
		v := "off"
		if *d.receipt {
			v = "on"
		}
		rs = append(rs, settingRow{"Read receipts in this chat", v, func() tea.Cmd {
			*d.receipt = !*d.receipt
			return d.toggleR(*d.receipt)
		}})
	}
	if d.timer != nil {
		rs = append(rs, settingRow{"Disappearing messages in this chat", timerLabel(*d.timer), func() tea.Cmd {
			*d.timer = nextTimer(*d.timer)
			return d.setTimer(*d.timer)
		}})
	}
	proxy := valueOr(d.proxy, "direct")
	if d.flagProxy != "" {
		proxy = d.flagProxy + " (--socks5)"
	}
	relays := "none"
	if d.relayDef != "" {
		relays = relayHost(d.relayDef)
		if d.relayN > 1 {
			relays += fmt.Sprintf(" +%d", d.relayN-1)
		}
	}
	for _, r := range []struct{ what, label, val string }{
		{subPIN, "Change PIN", "change…"},
		{subDuress, "Duress PIN", "change…"},
		{subPolicy, "Erase policy", policyLabel(d.policy)},
		{subRelays, "Relays", relays},
		{subProxy, "SOCKS5 proxy (Tor)", proxy},
		{subKeys, "Key bindings", "change…"},
	} {
		rs = append(rs, settingRow{r.label, r.val, func() tea.Cmd {
			return func() tea.Msg { return subDialogMsg{r.what} }
		}})
	}
	for _, it := range fileSettingItems() {
		rs = append(rs, d.itemRow(it))
	}
	return rs
}

// itemRow is the row of a setting with choices: enter stores the next.
func (d *settingsDialog) itemRow(it settingItem) settingRow {
	cur := valueOr(d.vals[it.key], it.choices[0])
	return settingRow{it.label, cur, func() tea.Cmd {
		next := it.choices[0]
		for i, c := range it.choices {
			if c == cur {
				next = it.choices[(i+1)%len(it.choices)]
			}
		}
		d.vals[it.key] = next
		return d.set(it.key, next)
	}}
}

func (d *settingsDialog) Update(msg tea.Msg) (dialog, tea.Cmd) {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return d, nil
	}
	rows := d.rows()
	switch {
	case key.Matches(km, d.keys.Up):
		d.cursor = max(0, d.cursor-1)
	case key.Matches(km, d.keys.Down):
		d.cursor = min(len(rows)-1, d.cursor+1)
	case km.Type == tea.KeyEnter || km.String() == " ":
		return d, rows[d.cursor].enter()
	}
	return d, nil
}

func valueOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func (d *settingsDialog) View() string {
	var lines []string
	valW := max(4, min(d.w, 76)-4-39)
	for i, r := range d.rows() {
		l := fmt.Sprintf("%-38s %s", r.label, truncate(client.SanitizeLine(r.val), valW))
		if i == d.cursor {
			l = d.st.Selected.Render(l)
		}
		lines = append(lines, l)
	}
	room := max(1, d.h-5) // box's room
	if len(lines)+2 <= room {
		lines = append(lines, "", d.st.Faint.Render(d.extra)) // the note only where it fits
	} else {
		lines = listWindow(d.st, lines, d.cursor, room)
	}
	return box(d.st, "Settings", strings.Join(lines, "\n"), d.w, d.h)
}

// Steps of the PIN dialog.
const (
	pinMode    = iota // duress only: decoy, reset or remove
	pinCurrent        // the current PIN
	pinNew
	pinAgain
)

// pinDialog changes the PIN, or sets, replaces or removes the duress PIN.
// Every PIN is typed masked; the current one is always asked, so a passer-by
// at an unlocked screen cannot change what unlocks the profile. The
// entered PINs are wiped when the change is done or the dialog closes
// (Go cannot guarantee no copy remains: the text input held them as runes).
type pinDialog struct {
	st        styles
	keys      keyMap
	duress    bool
	step      int
	mode      int // duress: index into duressChoices
	in        textinput.Model
	cur, next []byte
	err       string
	busy      bool
	run       func(mode client.DuressMode, cur, next []byte) tea.Cmd // owns cur and next
	w, h      int
}

// duressChoices are the duress dialog's first step; mode 0 removes.
func duressChoices() []struct {
	mode       client.DuressMode
	label, say string
} {
	return []struct {
		mode       client.DuressMode
		label, say string
	}{
		{client.DuressDecoy, "decoy", "then opens an empty profile that looks new"},
		{client.DuressReset, "reset", "then shows the first-run screen: no profile"},
		{0, "remove", "no duress PIN"},
	}
}

func newPINDialog(st styles, keys keyMap, duress bool, run func(client.DuressMode, []byte, []byte) tea.Cmd) *pinDialog {
	in := textinput.New()
	in.EchoMode = textinput.EchoPassword
	in.EchoCharacter = '•'
	in.Prompt = "> "
	in.CharLimit = 256
	in.Focus()
	d := &pinDialog{st: st, keys: keys, duress: duress, step: pinCurrent, in: in, run: run}
	if duress {
		d.step = pinMode
	}
	return d
}

func (d *pinDialog) SetSize(w, h int) { d.w, d.h = w, h; d.in.Width = max(10, min(40, w-10)) }
func (d *pinDialog) ShortHelp() []key.Binding {
	if d.step == pinMode {
		return []key.Binding{d.keys.Up, d.keys.Down, key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "choose")), d.keys.Close}
	}
	return []key.Binding{key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "continue")), d.keys.Close}
}
func (d *pinDialog) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }

// close wipes what was typed (the App calls it when the dialog closes).
func (d *pinDialog) close() {
	wipe(d.cur)
	wipe(d.next)
	d.cur, d.next = nil, nil
	d.in.Reset()
}

func (d *pinDialog) Update(msg tea.Msg) (dialog, tea.Cmd) {
	if m, ok := msg.(pinDoneMsg); ok {
		d.busy = false
		if m.err != nil {
			d.err = userErr(m.err)
			d.step = pinCurrent
			return d, nil
		}
		return d, tea.Batch(closeDialog, func() tea.Msg { return doneMsg{note: m.note} })
	}
	km, ok := msg.(tea.KeyMsg)
	if !ok || d.busy {
		return d, nil
	}
	if d.step == pinMode {
		switch {
		case key.Matches(km, d.keys.Up):
			d.mode = max(0, d.mode-1)
		case key.Matches(km, d.keys.Down):
			d.mode = min(len(duressChoices())-1, d.mode+1)
		case km.Type == tea.KeyEnter:
			d.step, d.err = pinCurrent, ""
		}
		return d, nil
	}
	val, cmd := pinEntry(&d.in, km)
	if val == nil {
		return d, cmd
	}
	d.err = ""
	mode := client.DuressMode(0)
	if d.duress {
		mode = duressChoices()[d.mode].mode
	}
	switch d.step {
	case pinCurrent:
		wipe(d.cur)
		d.cur, d.step = val, pinNew
		if d.duress && mode == 0 {
			return d, d.start(mode)
		}
	case pinNew:
		d.next, d.step = val, pinAgain
	case pinAgain:
		same := subtle.ConstantTimeCompare(val, d.next) == 1
		wipe(val)
		if !same {
			wipe(d.next)
			d.next, d.step = nil, pinNew
			d.err = "the two entries differ; type the new one again"
			return d, nil
		}
		return d, d.start(mode)
	}
	return d, nil
}

// start hands the PINs to the engine call, which wipes them.
func (d *pinDialog) start(mode client.DuressMode) tea.Cmd {
	cur, next := d.cur, d.next
	d.cur, d.next, d.busy = nil, nil, true
	return d.run(mode, cur, next)
}

func (d *pinDialog) View() string {
	title, what := "Change PIN", "PIN"
	if d.duress {
		title, what = "Duress PIN", "duress PIN"
	}
	var b strings.Builder
	switch d.step {
	case pinMode:
		b.WriteString("A duress PIN typed at the unlock screen instead of your PIN erases this profile at once. What should it do?\n\n")
		for i, c := range duressChoices() {
			l := fmt.Sprintf("%-7s %s", c.label, c.say)
			if i == d.mode {
				l = d.st.Selected.Render(l)
			}
			b.WriteString(l + "\n")
		}
	case pinCurrent:
		b.WriteString("Enter your current PIN.\n\n")
	case pinNew:
		fmt.Fprintf(&b, "Enter the new %s.\n", what)
		if !d.duress {
			b.WriteString("A long passphrase is far stronger than digits.\n")
		}
		b.WriteString("\n")
	case pinAgain:
		fmt.Fprintf(&b, "Enter the new %s again.\n\n", what)
	}
	if d.busy {
		b.WriteString(d.st.Faint.Render("changing…"))
	} else if d.step != pinMode {
		b.WriteString(d.in.View())
	}
	if d.err != "" {
		b.WriteString("\n\n" + d.st.Error.Render(d.err))
	}
	return box(d.st, title, strings.TrimRight(b.String(), "\n"), d.w, d.h)
}

// proxyDialog edits the SOCKS5 proxy setting.
type proxyDialog struct {
	st        styles
	keys      keyMap
	flagProxy string
	in        textinput.Model
	err       string
	save      func(addr string) tea.Cmd
	w, h      int
}

func newProxyDialog(st styles, keys keyMap, cur, flagProxy string, save func(string) tea.Cmd) *proxyDialog {
	in := textinput.New()
	in.Prompt = "> "
	in.Placeholder = "direct"
	in.CharLimit = 300
	in.SetValue(cur)
	in.Focus()
	return &proxyDialog{st: st, keys: keys, flagProxy: flagProxy, in: in, save: save}
}

func (d *proxyDialog) SetSize(w, h int) { d.w, d.h = w, h; d.in.Width = max(10, min(50, w-10)) }
func (d *proxyDialog) ShortHelp() []key.Binding {
	return []key.Binding{key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "save")), d.keys.Close}
}
func (d *proxyDialog) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }

func (d *proxyDialog) Update(msg tea.Msg) (dialog, tea.Cmd) {
	if km, ok := msg.(tea.KeyMsg); ok && km.Type == tea.KeyEnter {
		v := strings.TrimSpace(d.in.Value())
		if err := client.CheckSOCKS5(v); err != nil {
			d.err = userErr(err)
			return d, nil
		}
		return d, tea.Batch(closeDialog, d.save(v))
	}
	var cmd tea.Cmd
	d.in, cmd = d.in.Update(msg)
	return d, cmd
}

func (d *proxyDialog) View() string {
	body := "Every relay connection goes through this SOCKS5 proxy: HOST:PORT (Tor: 127.0.0.1:9050). Empty: direct connections. It applies at once: open connections reconnect through it.\n"
	if d.flagProxy != "" {
		body += d.st.Bold.Render("veil was started with --socks5 "+d.flagProxy+": that one stays in use until veil starts without it.") + "\n"
	}
	body += "\n" + d.in.View()
	if d.err != "" {
		body += "\n\n" + d.st.Error.Render(d.err)
	}
	return box(d.st, "SOCKS5 proxy", body, d.w, d.h)
}

// keysDialog moves the main actions to other keys: choose an action,
// press its new key. A key that types text or belongs to another action is
// refused. While it waits for the key it takes every key (keyCatcher), the
// lock and quit keys included.
type keysDialog struct {
	st       styles
	keys     func() keyMap // the App's keys now
	cursor   int
	catching bool
	err      string
	save     func(setting, value string) tea.Cmd
	reset    func() tea.Cmd
	w, h     int
}

// keyCatcher is a dialog that may want every key, even those the App
// handles first (quit, lock, panic, esc).
type keyCatcher interface{ catchingKeys() bool }

func (d *keysDialog) catchingKeys() bool { return d.catching }

func (d *keysDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *keysDialog) ShortHelp() []key.Binding {
	k := d.keys()
	if d.catching {
		return []key.Binding{key.NewBinding(key.WithKeys(""), key.WithHelp("any key", "bind it")), key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel"))}
	}
	return []key.Binding{k.Up, k.Down, key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "change")), k.Close}
}
func (d *keysDialog) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }

func (d *keysDialog) Update(msg tea.Msg) (dialog, tea.Cmd) {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return d, nil
	}
	acts := remapActions()
	k := d.keys()
	if d.catching {
		d.catching = false
		if km.Type == tea.KeyEsc {
			return d, nil
		}
		a, pressed := acts[d.cursor], km.String()
		if why := k.checkRemap(a.name, pressed); why != "" {
			d.err = why
			return d, nil
		}
		v := pressed
		def := defaultKeys()
		if dk := a.binding(&def).Keys(); len(dk) == 1 && dk[0] == pressed {
			v = "" // the default: store nothing
		}
		return d, d.save(keySetting(a.name), v)
	}
	switch {
	case key.Matches(km, k.Up):
		d.cursor = max(0, d.cursor-1)
	case key.Matches(km, k.Down):
		d.cursor = min(len(acts), d.cursor+1)
	case km.Type == tea.KeyEnter:
		d.err = ""
		if d.cursor == len(acts) {
			return d, d.reset()
		}
		d.catching = true
	}
	return d, nil
}

func (d *keysDialog) View() string {
	k := d.keys()
	var rows []string
	for i, a := range remapActions() {
		l := fmt.Sprintf("%-24s %s", a.desc, strings.Join(a.binding(&k).Keys(), "/"))
		if i == d.cursor {
			if d.catching {
				l = fmt.Sprintf("%-24s %s", a.desc, "press the new key…")
			}
			l = d.st.Selected.Render(l)
		}
		rows = append(rows, l)
	}
	l := "Reset all to defaults"
	if d.cursor == len(remapActions()) {
		l = d.st.Selected.Render(l)
	}
	rows = append(rows, l)
	if d.err != "" {
		rows = append(rows, "", d.st.Error.Render(d.err))
	} else {
		rows = append(rows, "", d.st.Faint.Render("The help bar and F1 show the keys in use."))
	}
	return box(d.st, "Key bindings", strings.Join(rows, "\n"), d.w, d.h)
}

// pinEntry feeds a key to a PIN field: keys other than Enter edit it (the
// command is the field's); Enter takes and clears the PIN it holds, nil
// when it is empty.
func pinEntry(in *textinput.Model, km tea.KeyMsg) ([]byte, tea.Cmd) {
	if km.Type != tea.KeyEnter {
		var cmd tea.Cmd
		*in, cmd = in.Update(km)
		return nil, cmd
	}
	val := []byte(in.Value())
	in.Reset()
	if len(val) == 0 {
		return nil, nil
	}
	return val, nil
}
