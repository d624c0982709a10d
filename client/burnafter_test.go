package client

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"veil/relay/relaytest"
)

// TestSendFileBurnAfterRead: a file send reads its chat, then seals the
// file into a blob (seconds for a large file) and only then stores the
// message. A burn of the chat that lands after the read, while the file
// is being sealed, must be reported as the chat being gone, as a burn
// during the read is (TestGroupReadsAcrossBurn), not as a missing record.
// The burn runs at the send's first clock reading after its read of the
// chat; the engine runs no Run loop, so nothing else reads the clock.
func TestSendFileBurnAfterRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	var armed atomic.Bool
	var burn atomic.Pointer[func()]
	e := relayEngine(t, r.Address.String(), func(c *Config) {
		c.Now = func() time.Time {
			if armed.Swap(false) {
				if f := burn.Load(); f != nil {
					(*f)()
				}
			}
			return time.Now()
		}
	})
	gid, err := e.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	path, _ := writeTestFile(t, t.TempDir(), "notes.txt", 1_000)
	fired := &atomic.Bool{}
	do := func() {
		fired.Store(true)
		if err := e.Burn(ctx, gid); err != nil {
			t.Errorf("burning %s after the send's read: %v", gid, err)
		}
	}
	burn.Store(&do)
	hook := func(id string) {
		if id == gid && !fired.Load() {
			armed.Store(true) // the next clock reading, after this read, burns
		}
	}
	e.chatRead.Store(&hook)
	t.Cleanup(func() { e.chatRead.Store(nil) })
	_, err = e.SendFile(ctx, gid, path, SendFileOptions{})
	wantGoneChat(t, "SendFile with a burn after its read", fired, err)
}

// TestReadByNameAcrossBurnAndRename: a read that names its chat by its
// local name, across a burn of that chat, reports that the chat is gone
// even when another chat took the name meanwhile: the chat the read found
// is the one that went, whatever the name names now.
func TestReadByNameAcrossBurnAndRename(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	a := startLive(t, r.Address.String(), nil)
	b := startLive(t, r.Address.String(), nil)
	burned, _ := liveChat(t, a, b, InviteOptions{}, JoinOptions{})
	other, _ := liveChat(t, a, b, InviteOptions{}, JoinOptions{})
	if err := a.Rename(ctx, burned, "alice"); err != nil {
		t.Fatal(err)
	}
	fired := &atomic.Bool{}
	f := func(id string) {
		if id != burned || fired.Swap(true) {
			return
		}
		if err := a.Burn(context.Background(), burned); err != nil {
			t.Errorf("burning %s during a read: %v", burned, err)
		}
		if err := a.Rename(context.Background(), other, "alice"); err != nil {
			t.Errorf("renaming %s: %v", other, err)
		}
	}
	a.chatRead.Store(&f)
	t.Cleanup(func() { a.chatRead.Store(nil) })
	_, err := a.SafetyCode(ctx, "alice")
	wantGoneChat(t, "SafetyCode by name", fired, err)
}
