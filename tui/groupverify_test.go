package tui

import (
	"context"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
)

// TestGroupVerifyAndMembers: in a group's chat, /verify shows the group
// verification code with its epoch, and /group members lists the member.
func TestGroupVerifyAndMembers(t *testing.T) {
	ctx := context.Background()
	addr, _ := startRelay(t)
	cfg, p := testConfig(t)
	ana, err := client.Create(ctx, p.cfg(nil), []byte("correct horse"), client.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ana.Setup(ctx, addr); err != nil {
		t.Fatal(err)
	}
	if _, err := ana.GroupCreate(ctx, client.GroupOptions{Name: "river", As: "ana"}); err != nil {
		t.Fatal(err)
	}
	code, _, err := ana.GroupVerifyCode(ctx, "river")
	if err != nil {
		t.Fatal(err)
	}
	ana.Close()

	tm := unlock(t, cfg, "correct horse")
	waitText(t, tm, "river")
	tm.Send(tea.KeyMsg{Type: tea.KeyDown, Alt: true})
	tm.Type("/verify")
	tm.Send(enter())
	waitText(t, tm, "Group verification code", "Epoch 1.", code[:11])
	tm.Send(tea.KeyMsg{Type: tea.KeyEsc})
	tm.Type("/group members")
	tm.Send(enter())
	waitText(t, tm, "nick#key where two look alike", "ana (admin) (you)")
	finalView(t, tm)
}
