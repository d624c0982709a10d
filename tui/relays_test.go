package tui

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"

	"veil/client"
)

// profileWithChats makes a profile whose default relay is a real in-memory
// relay, with a 1:1 chat "desk" (a pending invite: its mailbox is on that
// relay) and, when group is set, a group "river" there too. It returns the
// relay's address.
func profileWithChats(t *testing.T, p *dirProfile, group bool) string {
	t.Helper()
	ctx := context.Background()
	addr, _ := startRelay(t)
	e, err := client.Create(ctx, p.cfg(nil), []byte("correct horse"), client.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Setup(ctx, addr); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Invite(ctx, client.InviteOptions{Name: "desk"}); err != nil {
		t.Fatal(err)
	}
	if group {
		if _, err := e.GroupCreate(ctx, client.GroupOptions{Name: "river", As: "ana"}); err != nil {
			t.Fatal(err)
		}
	}
	return addr
}

// openEngine opens the profile after the TUI has closed it.
func openEngine(t *testing.T, p *dirProfile) *client.Engine {
	t.Helper()
	e, err := client.Open(context.Background(), p.cfg(nil), []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func runeKey(r rune) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}} }

// TestSettingsRelays: the Relays line opens the list with the default
// marked; a bad address is refused with the reason and a good one is
// added and listed; a relay is made the default; removing the default or
// a relay a chat uses is refused; an unused relay is removed.
func TestSettingsRelays(t *testing.T) {
	cfg, p := testConfig(t)
	used := profileWithChats(t, p, false)
	usedHost := relayHost(used)
	tm := unlock(t, cfg, "correct horse")
	waitText(t, tm, "desk")
	tm.Send(press(tea.KeyF2))
	waitText(t, tm, "Relays", usedHost)
	for range rowRelays {
		tm.Send(press(tea.KeyDown))
	}
	tm.Send(enter())
	waitText(t, tm, "* marks the default", "* "+used[:30], "Add a relay")

	tm.Send(runeKey('a'))
	waitText(t, tm, "Paste a relay address")
	typeLine(tm, "veil://nowhere")
	waitText(t, tm, "relay address has no #fingerprint")
	tm.Send(press(tea.KeyCtrlU))
	typeLine(tm, testRelayAddr) // valid, but nobody listens there
	waitText(t, tm, "Password of 127.0.0.1:1")
	tm.Send(enter()) // none
	waitText(t, tm, "relay added, but it does not answer now", "  "+testRelayAddr[:30])

	// The new relay sorts first ('#' is below any digit) and has the cursor.
	tm.Send(enter())
	waitText(t, tm, "default relay: 127.0.0.1:1 ", "* "+testRelayAddr[:30])
	tm.Send(runeKey('d'))
	waitText(t, tm, "press d again to remove 127.0.0.1:1")
	tm.Send(runeKey('d'))
	waitText(t, tm, "relay 127.0.0.1:1 is the default: make another relay the default first")
	tm.Send(press(tea.KeyDown))
	tm.Send(runeKey('d'))
	tm.Send(runeKey('d'))
	waitText(t, tm, "relay "+usedHost+" is used by 1 chat")
	tm.Send(enter())
	waitText(t, tm, "default relay: "+usedHost)
	tm.Send(press(tea.KeyUp))
	tm.Send(runeKey('d'))
	tm.Send(runeKey('x')) // any other key cancels
	tm.Send(runeKey('d'))
	waitText(t, tm, "press d again")
	tm.Send(runeKey('d'))
	waitText(t, tm, "relay removed")

	// Private routing: p cycles the mode, f forwards through the relay
	// under the cursor (TestGoldenSettings shows the line as it starts).
	tm.Send(runeKey('p'))
	waitText(t, tm, "private routing: always", "Private routing: always via "+usedHost)
	tm.Send(runeKey('p'))
	waitText(t, tm, "Private routing: off")
	tm.Send(runeKey('p'))
	waitText(t, tm, "private routing: auto")
	tm.Send(runeKey('f'))
	waitText(t, tm, "messages to other relays go through "+usedHost)
	tm.Send(press(tea.KeyEsc))
	tm.Send(press(tea.KeyF2))
	waitText(t, tm, "Stored in the encrypted profile")
	v := finalView(t, tm)
	if !strings.Contains(v, usedHost) || strings.Contains(v, usedHost+" +1") {
		t.Errorf("the settings do not show %s alone as the relays:\n%s", usedHost, v)
	}

	eng := openEngine(t, p)
	def, all, err := eng.Relays(context.Background())
	if err != nil || def != used || len(all) != 1 || all[0] != used {
		t.Fatalf("relays after the dialog: default %s, %q (%v); want %s alone", def, all, err, used)
	}
	if ri, err := eng.Routing(context.Background()); err != nil || ri.Mode != client.RoutingAuto || ri.Forwarder != used || !ri.Chosen {
		t.Fatalf("routing after the dialog: %+v, %v", ri, err)
	}
}

// TestRelayCommand: /relay add, default and remove still work and report
// in the status line, refusals included; the settings follow.
func TestRelayCommand(t *testing.T) {
	cfg, p := testConfig(t)
	tm, _ := start(t, cfg, 80, 24)
	createProfile(t, tm, "correct horse", "")
	const other = "veil+ws://127.0.0.1:2#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	typeLine(tm, "/relay add "+other)
	waitText(t, tm, "relay added")
	typeLine(tm, "/relay remove "+testRelayAddr)
	waitText(t, tm, "! relay 127.0.0.1:1 is the")
	typeLine(tm, "/relay default "+other)
	waitText(t, tm, "default relay: 127.0.0.1:2")
	typeLine(tm, "/relay remove "+testRelayAddr)
	waitText(t, tm, "relay removed")
	tm.Send(press(tea.KeyF2))
	waitText(t, tm, "127.0.0.1:2")
	finalView(t, tm)
	def, all, err := openEngine(t, p).Relays(context.Background())
	if err != nil || def != other || len(all) != 1 {
		t.Fatalf("default %s, %q (%v); want %s alone", def, all, err, other)
	}
}

// TestSettingsTimer: with a 1:1 chat open the settings cycle its
// disappearing timer and show it; the engine has it. A group's timer is
// the group's: no such line for a group.
func TestSettingsTimer(t *testing.T) {
	cfg, p := testConfig(t)
	profileWithChats(t, p, true)
	tm := unlock(t, cfg, "correct horse")
	waitText(t, tm, "river", "desk")
	openByName := func(name string) {
		tm.Send(press(tea.KeyCtrlK))
		waitText(t, tm, "Find a chat")
		typeLine(tm, name)
	}
	openByName("desk")
	waitText(t, tm, "desk invite pending")
	tm.Send(press(tea.KeyF2))
	waitText(t, tm, "Read receipts in this chat", "Disappearing messages in this chat")
	for range len(settingItems(defaultKeys())) + 1 {
		tm.Send(press(tea.KeyDown))
	}
	tm.Send(enter())
	waitText(t, tm, "new messages disappear 30s")
	tm.Send(enter())
	waitText(t, tm, "new messages disappear 5m")
	tm.Send(press(tea.KeyEsc))
	waitText(t, tm, "desk ⏱ 5m")
	tm.Send(press(tea.KeyF2))
	waitText(t, tm, "Settings")
	v := finalView(t, tm)
	if !lineHas(v, "Disappearing messages in this chat", "5m") {
		t.Fatalf("the settings do not show the 5m timer:\n%s", v)
	}
	e := openEngine(t, p)
	c, err := e.Chat(context.Background(), "desk")
	if err != nil || c.MessageTTL != 5*time.Minute {
		t.Fatalf("the chat's timer is %v (%v), want 5m", c.MessageTTL, err)
	}
	e.Close()

	tm = unlock(t, cfg, "correct horse")
	waitText(t, tm, "river", "desk")
	openByName("river")
	waitText(t, tm, "group")
	tm.Send(press(tea.KeyF2))
	waitText(t, tm, "Read receipts in this chat")
	if v := finalView(t, tm); strings.Contains(v, "Disappearing") {
		t.Fatalf("a group chat offers the 1:1 timer:\n%s", v)
	}
}

// lineHas reports whether one line of v holds label and then val.
func lineHas(v, label, val string) bool {
	for _, l := range strings.Split(v, "\n") {
		if i := strings.Index(l, label); i >= 0 && strings.Contains(l[i+len(label):], val) {
			return true
		}
	}
	return false
}

// TestSettingsScrollsAt60x20: with a chat open the settings have more
// lines than a 60×20 box holds; moving down scrolls so the selected line
// always shows.
func TestSettingsScrollsAt60x20(t *testing.T) {
	cfg, p := testConfig(t)
	profileWithChats(t, p, false)
	tm, _ := start(t, cfg, 60, 20)
	waitText(t, tm, "Enter your PIN")
	typeLine(tm, "correct horse")
	waitText(t, tm, "desk")
	tm.Send(tea.KeyMsg{Type: tea.KeyDown, Alt: true})
	tm.Send(press(tea.KeyF2))
	waitText(t, tm, "Disappearing messages", "↓ more")
	for range 20 {
		tm.Send(press(tea.KeyDown))
	}
	waitText(t, tm, "↑ more", "Image preview")
	v := finalView(t, tm)
	checkFits(t, v, 60, 20)
	if !strings.Contains(v, "Image preview") || !strings.Contains(v, "↑ more") {
		t.Fatalf("the last line is not shown:\n%s", v)
	}
}

// TestGoldenSettings: the settings and the relays dialog at both sizes.
func TestGoldenSettings(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {60, 20}} {
		for _, c := range []struct {
			name string
			row  int
			want []string
		}{
			// The relay row is filled once the relay list has loaded.
			{"settings", -1, []string{"Erase policy", "127.0.0.1:1"}},
			{"relays", rowRelays, []string{"Add a relay", "127.0.0.1:1"}},
			{"policy", rowPolicy, []string{"Wrong PINs before erasing"}},
		} {
			t.Run(c.name+"/"+itoa(size[0])+"x"+itoa(size[1]), func(t *testing.T) {
				cfg, _ := testConfig(t)
				tm, _ := start(t, cfg, size[0], size[1])
				createProfile(t, tm, "correct horse", "")
				if c.row < 0 {
					tm.Send(press(tea.KeyF2))
				} else {
					openSettingsRow(t, tm, c.row)
				}
				waitText(t, tm, c.want...)
				v := finalView(t, tm)
				checkFits(t, v, size[0], size[1])
				golden.RequireEqual(t, []byte(v))
			})
		}
	}
}

// checkFits fails the test if the screen v is larger than w×h.
func checkFits(t *testing.T, v string, w, h int) {
	t.Helper()
	lines := strings.Split(v, "\n")
	if len(lines) > h {
		t.Errorf("%d lines", len(lines))
	}
	for _, l := range lines {
		if n := lipgloss.Width(l); n > w {
			t.Errorf("line %d cells wide: %q", n, l)
		}
	}
}

// TestSettingsOpenedBeforeLoad: settings opened before the profile's
// settings have loaded show the relay once they have (the dialog used to
// keep "none" for ever when F2 came first).
func TestSettingsOpenedBeforeLoad(t *testing.T) {
	a := New(Config{})
	a.cmdSettings("")
	d, ok := a.dlg.(*settingsDialog)
	if !ok {
		t.Fatalf("dialog %T", a.dlg)
	}
	d.SetSize(80, 24)
	if v := d.View(); !lineHas(v, "Relays", "none") {
		t.Fatalf("before loading:\n%s", v)
	}
	a.onSettings(settingsMsg{vals: map[string]string{}, relayDef: "veil://127.0.0.1:1#abc", relayN: 1})
	if v := d.View(); !lineHas(v, "Relays", "127.0.0.1:1") {
		t.Fatalf("after loading:\n%s", v)
	}
}

// TestSettingsRelayPassword: adding a relay in the settings asks for its
// password without ever drawing it, and the engine stores it.
func TestSettingsRelayPassword(t *testing.T) {
	const sentinel = "pw-SENTINEL-3f9a"
	cfg, p := testConfig(t)
	profileWithChats(t, p, false)
	tm := unlock(t, cfg, "correct horse")
	waitText(t, tm, "desk")
	tm.Send(press(tea.KeyF2))
	waitText(t, tm, "Relays")
	for range rowRelays {
		tm.Send(press(tea.KeyDown))
	}
	tm.Send(enter())
	waitText(t, tm, "Add a relay")
	tm.Send(runeKey('a'))
	waitText(t, tm, "Paste a relay address")
	const other = "veil+ws://127.0.0.1:2#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	typeLine(tm, other)
	waitText(t, tm, "Password of 127.0.0.1:2")
	tm.Type(sentinel)
	tm.Send(enter())
	var drawn []byte
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		drawn = append(drawn[:0], b...)
		return bytes.Contains(b, []byte("relay added"))
	}, teatest.WithDuration(waitMax), teatest.WithCheckInterval(10*time.Millisecond))
	if v := finalView(t, tm); bytes.Contains(drawn, []byte(sentinel)) || strings.Contains(v, sentinel) || !bytes.Contains(drawn, []byte("•")) {
		t.Fatalf("the password was drawn, or not masked:\n%s", v)
	}
	with, err := openEngine(t, p).RelaysWithPassword(context.Background())
	if err != nil || !with[other] {
		t.Fatalf("no password stored for %s: %v %v", other, with, err)
	}
}
