package tui

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
)

// TestGroupJoinerWaitsAndKeepsText: a group whose admin has not let us in
// yet says so in its header, a message sent to it is refused with that
// text, and what was typed stays in the compose box.
func TestGroupJoinerWaitsAndKeepsText(t *testing.T) {
	ctx := context.Background()
	addr, _ := startRelay(t)
	cfg, p := testConfig(t)
	ana := &dirProfile{dir: filepath.Join(t.TempDir(), "ana")}
	admin, err := client.Create(ctx, ana.cfg(nil), []byte("peer pin"), client.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Setup(ctx, addr); err != nil {
		t.Fatal(err)
	}
	gid, err := admin.GroupCreate(ctx, client.GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := admin.GroupInvite(ctx, gid, 0)
	if err != nil {
		t.Fatal(err)
	}
	admin.Close()
	ben, err := client.Create(ctx, p.cfg(nil), []byte("correct horse"), client.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ben.Setup(ctx, addr); err != nil {
		t.Fatal(err)
	}
	if _, err := ben.Join(ctx, key, client.JoinOptions{As: "ben"}); err != nil {
		t.Fatal(err)
	}
	ben.Close()

	tm := unlock(t, cfg, "correct horse")
	waitText(t, tm, "river")
	tm.Send(tea.KeyMsg{Type: tea.KeyDown, Alt: true})
	waitText(t, tm, "waiting for an admin")
	tm.Type("anyone here?")
	tm.Send(enter())
	waitText(t, tm, "! waiting for an admin to let you in")
	if v := finalView(t, tm); !strings.Contains(v, "anyone here?") {
		t.Fatalf("the refused text left the compose box:\n%s", v)
	}
}

// TestGroupSetArgs parses /group set's pairs; a bad pair changes nothing.
func TestGroupSetArgs(t *testing.T) {
	opt, note, err := groupSetArgs("timer 1h expires off")
	if err != nil || opt.Timer == nil || *opt.Timer != time.Hour || opt.Expires == nil || *opt.Expires != 0 {
		t.Fatalf("timer 1h expires off: %+v, %v", opt, err)
	}
	if note != "group timer 1h; group lifetime off" {
		t.Fatalf("note %q", note)
	}
	for _, bad := range []string{"", "timer", "timer 1h expires", "colour red", "timer soon"} {
		if _, _, err := groupSetArgs(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
