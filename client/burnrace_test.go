package client

import (
	"context"
	"sync/atomic"
	"testing"

	"veil/relay/relaytest"
)

// burnDuringRead makes e's next read of chat burn the chat as soon as
// the read has resolved it: the read goes on in its snapshot from before
// the burn, whose records' keys the burn has erased. The returned flag
// is set once the burn ran.
func burnDuringRead(t *testing.T, e *Engine, chat string) *atomic.Bool {
	t.Helper()
	fired := &atomic.Bool{}
	f := func(id string) {
		if id != chat || fired.Swap(true) {
			return // the burn's own reads of the chat come here too
		}
		if err := e.Burn(context.Background(), chat); err != nil {
			t.Errorf("burning %s during a read: %v", chat, err)
		}
	}
	e.chatRead.Store(&f)
	t.Cleanup(func() { e.chatRead.Store(nil) })
	return fired
}

// wantGoneChat fails t unless err, from a read that a burn of its chat
// raced (fired), is the no-chat error.
func wantGoneChat(t *testing.T, what string, fired *atomic.Bool, err error) {
	t.Helper()
	if !fired.Load() {
		t.Fatalf("%s: the burn did not run inside the read", what)
	}
	if p := explain(err); p.Kind != KindNoChat {
		t.Fatalf("%s across a burn reported %q (%s: %v), want %q", what, p.Kind, p.Message, err, KindNoChat)
	}
}

// TestChatReadsAcrossBurn: every read of a 1:1 chat that began before a
// burn of the chat reports that the chat is gone, not a missing key or
// message ("something went wrong: record not found").
func TestChatReadsAcrossBurn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	a := startLive(t, r.Address.String(), nil)
	b := startLive(t, r.Address.String(), nil)
	dir := t.TempDir()
	more, _ := writeTestFile(t, dir, "more.txt", 1_000)
	// withFile sends a file in chat and returns its message ID once it is
	// uploaded.
	withFile := func(t *testing.T, chat string) string {
		t.Helper()
		path, _ := writeTestFile(t, dir, "notes.txt", 20_000)
		id, err := a.SendFile(ctx, chat, path, SendFileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.WaitTransfer(ctx, chat, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	cases := []struct {
		name string
		file bool
		read func(chat, file string) error
	}{
		{"Messages", false, func(chat, _ string) error { _, err := a.Messages(ctx, chat, 0); return err }},
		{"SafetyCode", false, func(chat, _ string) error { _, err := a.SafetyCode(ctx, chat); return err }},
		{"MoveChat", false, func(chat, _ string) error { return a.MoveChat(ctx, chat, 0, "") }},
		{"SendFile", false, func(chat, _ string) error { _, err := a.SendFile(ctx, chat, more, SendFileOptions{}); return err }},
		{"Files", true, func(chat, _ string) error { _, err := a.Files(chat); return err }},
		{"WaitTransfer", true, func(chat, file string) error { return a.WaitTransfer(ctx, chat, file) }},
		{"SaveFile", true, func(chat, file string) error { _, _, err := a.SaveFile(ctx, chat, file, dir, false); return err }},
		{"OpenFile", true, func(chat, file string) error {
			rc, _, err := a.OpenFile(chat, file)
			if err == nil {
				rc.Close()
			}
			return err
		}},
		{"CancelFile", true, func(chat, file string) error { return a.CancelFile(chat, file) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			chat, _ := liveChat(t, a, b, InviteOptions{}, JoinOptions{})
			file := ""
			if c.file {
				file = withFile(t, chat)
			}
			fired := burnDuringRead(t, a.Engine, chat)
			wantGoneChat(t, c.name, fired, c.read(chat, file))
		})
	}
}

// TestGroupReadsAcrossBurn: the same for a group's reads that load its
// record: the roster, the verification code, an invite's key, and the
// read a file send begins with.
func TestGroupReadsAcrossBurn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	e, _ := groupEngine(t, r.Address.String())
	path, _ := writeTestFile(t, t.TempDir(), "notes.txt", 1_000)
	cases := []struct {
		name   string
		invite bool
		read   func(gid string) error
	}{
		{"GroupMembers", false, func(gid string) error { _, _, err := e.GroupMembers(ctx, gid); return err }},
		{"GroupVerifyCode", false, func(gid string) error { _, _, err := e.GroupVerifyCode(ctx, gid); return err }},
		{"InviteKey", true, func(gid string) error { _, err := e.InviteKey(ctx, gid); return err }},
		{"SendFile", false, func(gid string) error { _, err := e.SendFile(ctx, gid, path, SendFileOptions{}); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gid, err := e.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
			if err != nil {
				t.Fatal(err)
			}
			if c.invite {
				if _, err := e.GroupInvite(ctx, gid, 0); err != nil {
					t.Fatal(err)
				}
			}
			fired := burnDuringRead(t, e, gid)
			wantGoneChat(t, c.name, fired, c.read(gid))
		})
	}
}
