package tui

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
)

const waitMax = 10 * time.Second

func enter() tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyEnter} }

// start runs the App in teatest at w×h.
func start(t *testing.T, cfg Config, w, h int) (*teatest.TestModel, *App) {
	t.Helper()
	app := New(cfg)
	tm := teatest.NewTestModel(t, app, teatest.WithInitialTermSize(w, h))
	t.Cleanup(app.Close)
	return tm, app
}

// waitText waits until the program has drawn every one of texts.
func waitText(t *testing.T, tm *teatest.TestModel, texts ...string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		for _, s := range texts {
			if !bytes.Contains(b, []byte(s)) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(waitMax), teatest.WithCheckInterval(10*time.Millisecond))
}

// finalView quits the program and returns its last screen.
func finalView(t *testing.T, tm *teatest.TestModel) string {
	t.Helper()
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	app := tm.FinalModel(t, teatest.WithFinalTimeout(waitMax)).(*App)
	v := app.View()
	app.Close() // the profile is free for the next program
	return v
}

// createProfile walks the first-run screens: PIN twice, optional duress
// PIN twice, relay (empty: the local one).
func createProfile(t *testing.T, tm *teatest.TestModel, pin, duress string) {
	t.Helper()
	waitText(t, tm, "Choose a PIN")
	tm.Type(pin)
	tm.Send(enter())
	tm.Type(pin)
	tm.Send(enter())
	waitText(t, tm, "duress PIN")
	if duress != "" {
		tm.Type(duress)
		tm.Send(enter())
		tm.Type(duress)
		tm.Send(enter())
	} else {
		tm.Send(enter())
	}
	waitText(t, tm, "Relay:")
	tm.Send(enter())
	waitText(t, tm, "none yet")
}

func TestGoldenFirstRun(t *testing.T) {
	cfg, _ := testConfig(t)
	tm, _ := start(t, cfg, 80, 24)
	waitText(t, tm, "Choose a PIN")
	golden.RequireEqual(t, []byte(finalView(t, tm)))
}

func TestGoldenMainEmpty(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {60, 20}} {
		t.Run(strings.Join([]string{itoa(size[0]), itoa(size[1])}, "x"), func(t *testing.T) {
			cfg, _ := testConfig(t)
			tm, _ := start(t, cfg, size[0], size[1])
			createProfile(t, tm, "correct horse", "")
			golden.RequireEqual(t, []byte(finalView(t, tm)))
		})
	}
}

func itoa(n int) string {
	return strings.TrimSpace(strings.Repeat(" ", 0) + string(rune('0'+n/10)) + string(rune('0'+n%10)))
}

func TestGoldenTooSmall(t *testing.T) {
	cfg, _ := testConfig(t)
	tm, _ := start(t, cfg, 40, 10)
	waitText(t, tm, "at least")
	golden.RequireEqual(t, []byte(finalView(t, tm)))
}

// TestUnlockMasked: the PIN is never drawn, a wrong one says so, the right
// one opens the profile, and a duress PIN opens to the same screen.
func TestUnlockMaskedAndDuress(t *testing.T) {
	cfg, _ := testConfig(t)
	tm, _ := start(t, cfg, 80, 24)
	createProfile(t, tm, "correct horse", "duress horse")
	finalView(t, tm)

	// Unlock: masked, wrong PIN.
	tm, _ = start(t, cfg, 80, 24)
	waitText(t, tm, "Enter your PIN")
	tm.Type("wrong horse")
	waitText(t, tm, "•••••••••••")
	tm.Send(enter())
	waitText(t, tm, "wrong PIN")
	tm.Type("correct horse")
	tm.Send(enter())
	waitText(t, tm, "none yet")
	normal := finalView(t, tm)
	if strings.Contains(normal, "horse") {
		t.Fatal("a PIN reached the screen")
	}

	// The duress PIN: the same screen as a normal unlock (an empty
	// profile; the decoy looks new).
	tm, _ = start(t, cfg, 80, 24)
	waitText(t, tm, "Enter your PIN")
	tm.Type("duress horse")
	tm.Send(enter())
	waitText(t, tm, "none yet")
	if got := finalView(t, tm); got != normal {
		t.Fatalf("the duress unlock looks different:\n%s\n---\n%s", got, normal)
	}
}

func TestSlashCommandsWithoutChat(t *testing.T) {
	cfg, _ := testConfig(t)
	tm, _ := start(t, cfg, 80, 24)
	createProfile(t, tm, "correct horse", "")
	tm.Type("/timer 10m")
	tm.Send(enter())
	waitText(t, tm, "/timer needs an open chat")
	tm.Type("/nosuch")
	tm.Send(enter())
	waitText(t, tm, "unknown command /nosuch")
	tm.Type("/he")
	tm.Send(tea.KeyMsg{Type: tea.KeyTab})
	tm.Send(enter())
	waitText(t, tm, "/join", "ctrl+l", "↓ more")
	tm.Send(tea.KeyMsg{Type: tea.KeyEsc})
	tm.Type("/join")
	tm.Send(enter())
	waitText(t, tm, "Paste the invite key")
	tm.Type("not-a-key")
	tm.Send(enter())
	waitText(t, tm, "not a valid invite key")
	finalView(t, tm)
}

// TestQuitAsksOnceWithDraft: ctrl+c quits at once, except when a draft
// would be lost: then once more.
func TestQuitAsksOnceWithDraft(t *testing.T) {
	cfg, _ := testConfig(t)
	tm, _ := start(t, cfg, 80, 24)
	createProfile(t, tm, "correct horse", "")
	tm.Type("half a thought")
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlC})
	waitText(t, tm, "unsent draft")
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlC})
	tm.FinalModel(t, teatest.WithFinalTimeout(waitMax)).(*App).Close()

	tm, _ = start(t, cfg, 80, 24)
	waitText(t, tm, "Enter your PIN")
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlC})
	tm.WaitFinished(t, teatest.WithFinalTimeout(waitMax))
}

// TestLockAndAutoLock: ctrl+l locks at once and forgets the draft; idle
// time past the auto-lock setting locks too.
func TestLockAndAutoLock(t *testing.T) {
	cfg, _ := testConfig(t)
	var offset atomic.Int64
	cfg.Now = func() time.Time { return fixedNow.Add(time.Duration(offset.Load())) }
	cfg.Tick = 20 * time.Millisecond
	tm, _ := start(t, cfg, 80, 24)
	createProfile(t, tm, "correct horse", "")
	tm.Type("secret draft")
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlL})
	waitText(t, tm, "Enter your PIN")
	tm.Type("correct horse")
	tm.Send(enter())
	waitText(t, tm, "locks in 5m00s")
	offset.Store(int64(defaultAutoLock + time.Second))
	waitText(t, tm, "Enter your PIN")
	if v := finalView(t, tm); strings.Contains(v, "secret draft") || !strings.Contains(v, "Enter your PIN") {
		t.Fatalf("after auto-lock:\n%s", v)
	}
}

// TestPanicErase: /panic asks for a word; a wrong word erases nothing; the
// word erases the profile and exits.
func TestPanicErase(t *testing.T) {
	cfg, p := testConfig(t)
	tm, _ := start(t, cfg, 80, 24)
	createProfile(t, tm, "correct horse", "")
	tm.Type("/panic")
	tm.Send(enter())
	waitText(t, tm, "Type erase")
	tm.Type("eras")
	tm.Send(enter())
	waitText(t, tm, `type "erase" exactly`)
	if ok, _ := p.Exists(); !ok {
		t.Fatal("a wrong word erased the profile")
	}
	tm.Type("erase")
	tm.Send(enter())
	tm.WaitFinished(t, teatest.WithFinalTimeout(waitMax))
	if ok, err := p.Exists(); ok || err != nil {
		t.Fatalf("profile still there after panic (err %v)", err)
	}
}

// TestComposeKeysAndSettings: alt+enter inserts a newline and enter sends
// (here: runs the command); the settings dialog stores a choice in the
// profile and swapping the enter key takes effect at once.
func TestComposeKeysAndSettings(t *testing.T) {
	cfg, _ := testConfig(t)
	var notify bytes.Buffer
	cfg.Notify = &notify
	tm, _ := start(t, cfg, 80, 24)
	createProfile(t, tm, "correct horse", "")
	tm.Type("first")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter, Alt: true})
	tm.Type("second")
	waitText(t, tm, "first", "second")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitText(t, tm, "open a chat first")

	tm.Send(tea.KeyMsg{Type: tea.KeyF2})
	waitText(t, tm, "Settings", "Enter key")
	tm.Send(tea.KeyMsg{Type: tea.KeyDown})
	tm.Send(tea.KeyMsg{Type: tea.KeyDown})
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter}) // enter: send → newline
	waitText(t, tm, "saved")
	tm.Send(tea.KeyMsg{Type: tea.KeyEsc})
	waitText(t, tm, "alt+enter send")

	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlK})
	waitText(t, tm, "Find a chat", "no chat matches")
	tm.Send(tea.KeyMsg{Type: tea.KeyEsc})
	tm.Send(tea.KeyMsg{Type: tea.KeyF1})
	waitText(t, tm, "/invite", "ctrl+k", "↓ more")
	for range 30 {
		tm.Send(tea.KeyMsg{Type: tea.KeyDown})
	}
	waitText(t, tm, "/panic", "/quit")
	v := finalView(t, tm)
	if !strings.Contains(v, "/quit") {
		t.Fatalf("help screen:\n%s", v)
	}
	tm, _ = start(t, cfg, 80, 24) // the setting was stored in the profile
	waitText(t, tm, "Enter your PIN")
	tm.Type("correct horse")
	tm.Send(enter())
	waitText(t, tm, "alt+enter send")
	finalView(t, tm)
}

// TestPanicChord: off by default; once on in the settings, ctrl+\ erases
// the profile and exits with no question.
func TestPanicChord(t *testing.T) {
	cfg, p := testConfig(t)
	tm, _ := start(t, cfg, 80, 24)
	createProfile(t, tm, "correct horse", "")
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlBackslash})
	tm.Send(tea.KeyMsg{Type: tea.KeyF2})
	waitText(t, tm, "Panic key")
	if ok, _ := p.Exists(); !ok {
		t.Fatal("ctrl+\\ erased the profile while the panic key was off")
	}
	for range 3 {
		tm.Send(tea.KeyMsg{Type: tea.KeyDown})
	}
	tm.Send(enter())
	waitText(t, tm, "saved")
	tm.Send(tea.KeyMsg{Type: tea.KeyEsc})
	waitText(t, tm, "ctrl+k find chat")
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlBackslash})
	tm.WaitFinished(t, teatest.WithFinalTimeout(waitMax))
	if ok, err := p.Exists(); ok || err != nil {
		t.Fatalf("profile still there after the panic key (err %v)", err)
	}
}
