package client

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/relaytest"
	"veil/vault"
)

// TestGroupBurnDeletesOfflineSendersChunks: spec/files.md §8 queues
// the deletion of a file's chunks on "a group's burn (every member;
// duplicates are harmless)": when the group ends, each member deletes
// every file of it it knows of, the others' too (every member holds S,
// so D), so the chunks of a sender who is offline, or whose device is
// gone, do not stay readable on the relay for the rest of their lifetime.
func TestGroupBurnDeletesOfflineSendersChunks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	es, chats, _ := groupOfThree(t, r.Address.String())
	path, _ := writeTestFile(t, t.TempDir(), "minutes.pdf", 100_000)
	id, err := es[1].SendFile(ctx, chats[1], path, SendFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := es[1].WaitTransfer(ctx, chats[1], id); err != nil {
		t.Fatal(err)
	}
	keys, _ := fileKeysOf(t, es[1], chats[1], id)
	groupSync(t, es[:]...)
	for _, i := range []int{0, 2} {
		fid := receivedFileID(t, es[i], chats[i], "minutes.pdf")
		if err := es[i].WaitTransfer(ctx, chats[i], fid); err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	es[1].Close() // the sender goes offline for good
	if err := es[0].Burn(ctx, chats[0]); err != nil {
		t.Fatal(err)
	}
	groupSync(t, es[0], es[2])
	for _, i := range []int{0, 2} {
		if _, err := es[i].Flush(ctx); err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	c, err := conn.Dial(ctx, r.Address.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GetChunk(ctx, keys.ChunkID(0), keys.ReadCap(0)); err == nil {
		t.Fatal("after the group's burn by every member online, the offline sender's file is still readable on the relay")
	}
}

// TestExpiredOfferDropsFileSecret: a file offered and never fetched
// becomes "expired" once its chunks' deadline passes, by the engine's
// clock, and the sweep drops its file secret S (spec/client.md §5.16:
// "S is dropped"), so a relay that kept the chunks past their deadline
// keeps ciphertext nobody can read. Before the deadline it keeps S.
func TestExpiredOfferDropsFileSecret(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	a := startLive(t, r.Address.String(), nil)
	b := startLive(t, r.Address.String(), func(c *Config) { c.Now = now })
	aChat, bChat := liveChat(t, a, b, InviteOptions{}, JoinOptions{})
	_, bid := sentOffered(t, a, b, aChat, bChat, "unwanted.pdf", 20_000, nil)
	hasSecret := func() bool { return fileHasSecret(t, b.Engine, bChat, bid) }
	clock.Add(int64(6 * 24 * time.Hour)) // within the chunks' lifetime
	if err := b.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if !hasSecret() || fileState(t, b.Engine, bChat, bid).State != FileOffered {
		t.Fatal("a file within its deadline lost its secret or its offer")
	}
	clock.Add(int64(2 * 24 * time.Hour)) // past every chunk lifetime
	if st := fileState(t, b.Engine, bChat, bid).State; st != FileExpired {
		t.Fatalf("by the engine's clock past its deadline, the file is %q", st)
	}
	if err := b.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.FetchFile(ctx, bChat, bid); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("fetching a file past its deadline: %v", err)
	}
	if hasSecret() {
		t.Error("an expired file, never downloaded, still has its file secret S in the vault")
	}
	if st := fileState(t, b.Engine, bChat, bid).State; st != FileExpired {
		t.Fatalf("after the sweep the file is %q", st)
	}
	err := b.v.View(ctx, func(tx *vault.Tx) error {
		p, err := profile(tx)
		if _, ok := p.Settings[settingOfferDue+bChat]; ok {
			t.Error("the chat's file deadline is still noted with nothing left to expire")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGroupLeaveKeepsOthersChunks: a member who only leaves a group
// deletes its own files' chunks, never the others': the group goes on,
// and its members still fetch them.
func TestGroupLeaveKeepsOthersChunks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	es, chats, _ := groupOfThree(t, r.Address.String())
	path, _ := writeTestFile(t, t.TempDir(), "agenda.pdf", 50_000)
	id, err := es[1].SendFile(ctx, chats[1], path, SendFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := es[1].WaitTransfer(ctx, chats[1], id); err != nil {
		t.Fatal(err)
	}
	keys, _ := fileKeysOf(t, es[1], chats[1], id)
	groupSync(t, es[:]...)
	fid := receivedFileID(t, es[2], chats[2], "agenda.pdf")
	if err := es[2].WaitTransfer(ctx, chats[2], fid); err != nil {
		t.Fatal(err)
	}
	if err := es[2].GroupLeave(ctx, chats[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := es[2].Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := conn.Dial(ctx, r.Address.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GetChunk(ctx, keys.ChunkID(0), keys.ReadCap(0)); err != nil {
		t.Fatalf("a member who left deleted another member's file: %v", err)
	}
}

// fileHasSecret reports whether e's file message id in chat still holds
// its file secret S.
func fileHasSecret(t *testing.T, e *Engine, chat, id string) bool {
	t.Helper()
	var ok bool
	err := e.v.View(context.Background(), func(tx *vault.Tx) error {
		m, err := tx.Message(chat, id)
		if err != nil {
			return err
		}
		if fm, _ := fileOf(&m); fm != nil {
			_, ok = fm.secret()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestExpiredOldOfferDropsFileSecret: a file offered before the profile
// noted offers' deadlines (no deadline noted, no scan made) loses its S
// too once its deadline has passed: the first sweep notes every chat
// for one look at its files.
func TestExpiredOldOfferDropsFileSecret(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	a := startLive(t, r.Address.String(), nil)
	b := startLive(t, r.Address.String(), func(c *Config) { c.Now = now })
	aChat, bChat := liveChat(t, a, b, InviteOptions{}, JoinOptions{})
	_, bid := sentOffered(t, a, b, aChat, bChat, "old.pdf", 20_000, nil)
	err := b.v.Update(ctx, func(tx *vault.Tx) error { // as an older veil left it
		p, err := profile(tx)
		if err != nil {
			return err
		}
		delete(p.Settings, settingOfferDue+bChat)
		delete(p.Settings, settingOfferScan)
		return tx.PutProfile(&p)
	})
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(int64(8 * 24 * time.Hour)) // past every chunk lifetime
	if err := b.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if fileHasSecret(t, b.Engine, bChat, bid) {
		t.Error("a file offered before deadlines were noted keeps its file secret past its deadline")
	}
	if st := fileState(t, b.Engine, bChat, bid).State; st != FileExpired {
		t.Fatalf("after the sweep the old offer is %q, want expired", st)
	}
}

// TestSweepLeavesFreshProfileUnset: the sweep that notes old offers must
// not write a profile record into a vault not set up yet: a profile
// record is what marks a profile set up (Initialized), and a decoy or a
// new profile would then never get its relay.
func TestSweepLeavesFreshProfileUnset(t *testing.T) {
	ctx := context.Background()
	cfg := Config{Dir: t.TempDir(),
		Vault: vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1, MemTableSize: testMemTableSize}}
	e, err := Create(ctx, cfg, []byte("test pin"), CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for range 2 {
		if err := e.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := e.Initialized(ctx); err != nil || ok {
		t.Fatalf("after sweeps a profile never set up reads as set up (%v, %v)", ok, err)
	}
}
