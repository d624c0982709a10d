package client

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"veil/relay"
	"veil/relay/conn"
	"veil/relay/relaytest"
	"veil/relay/store"
	"veil/vault"
)

// withholdStore is a relay store that never answers a CGET of the chunks
// in hold: a hostile relay that keeps the connection open and stays
// silent instead of answering AUTH.
type withholdStore struct {
	store.Store
	mu      sync.Mutex
	hold    map[store.ID]bool
	asked   chan store.ID
	release chan struct{}
}

func newWithholdStore() *withholdStore {
	return &withholdStore{hold: map[store.ID]bool{}, asked: make(chan store.ID, 1024), release: make(chan struct{})}
}

func (s *withholdStore) withhold(id store.ID) {
	s.mu.Lock()
	s.hold[id] = true
	s.mu.Unlock()
}

func (s *withholdStore) GetChunk(ctx context.Context, id store.ID) (store.Chunk, error) {
	s.mu.Lock()
	held := s.hold[id]
	s.mu.Unlock()
	if !held {
		return s.Store.GetChunk(ctx, id)
	}
	select {
	case s.asked <- id:
	default:
	}
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return store.Chunk{}, errors.New("withheld")
}

// startWithholdRelay starts a relay over a withholdStore; the store lets
// go of every held CGET when the test ends.
func startWithholdRelay(t *testing.T) (*relaytest.Relay, *withholdStore) {
	t.Helper()
	ws := newWithholdStore()
	r := relaytest.Start(t, func(c *relay.Config) {
		ws.Store = c.Store
		c.Store = ws
	})
	t.Cleanup(func() { close(ws.release) })
	return r, ws
}

// waitAsked waits until the relay has been asked for a withheld chunk.
func (s *withholdStore) waitAsked(t *testing.T) {
	t.Helper()
	select {
	case <-s.asked:
	case <-time.After(15 * time.Second):
		t.Fatal("the withheld chunk was never asked for")
	}
}

// TestReviewWithheldChunkNeverFails: a relay that never answers the CGET
// of one chunk (spec/files.md §10: "A malicious relay can withhold chunks
// (the download fails: "missing")") keeps the download "downloading"
// forever: two days later on the receiver's clock — past any sensible
// wait, with no progress at all — the transfer has neither failed nor
// reported an error, so `veil save` (which gives up only on an error)
// waits forever too.
func TestReviewWithheldChunkNeverFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, ws := startWithholdRelay(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	a := startLive(t, r.Address.String(), nil)
	b := startLive(t, r.Address.String(), func(c *Config) { c.Now = now })
	aChat, bChat := liveChat(t, a, b, InviteOptions{}, JoinOptions{})
	id, bid := sentOffered(t, a, b, aChat, bChat, "withheld.bin", 100_000, nil)
	keys, n := fileKeysOf(t, a.Engine, aChat, id)
	ws.withhold(store.ID(keys.ChunkID(n - 1)))
	if err := b.FetchFile(ctx, bChat, bid); err != nil {
		t.Fatal(err)
	}
	ws.waitAsked(t)
	clock.Add(int64(48 * time.Hour))
	b.kickTransfers()
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	err := b.WaitTransfer(wctx, bChat, bid)
	fi := fileState(t, b.Engine, bChat, bid)
	if errors.Is(err, context.DeadlineExceeded) && fi.State == FileDownloading && fi.Err == "" {
		t.Fatalf("48 h after the relay went silent on chunk %d of %d the download still waits, with no error: %+v", n, n, fi)
	}
}

// TestReviewWithheldChunksStarveOtherDownloads: three files whose relay
// stays silent on one chunk each take every download slot of Run's loop
// (xferMaxDownloads) for good, so a fourth file, whose chunks the relay
// serves, sent by another contact in another chat, is never downloaded
// although it was fetched. A hostile relay
// of one chat (a group's relay is the group creator's choice) thus stops
// every download of the profile, in every chat.
func TestReviewWithheldChunksStarveOtherDownloads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, ws := startWithholdRelay(t)
	a, b, aChat, bChat := oneShotPair(t, r.Address.String())
	var held []string
	for _, name := range []string{"held1.bin", "held2.bin", "held3.bin"} {
		id, bid := sentOffered(t, a, b, aChat, bChat, name, 50_000, nil)
		keys, n := fileKeysOf(t, a.Engine, aChat, id)
		ws.withhold(store.ID(keys.ChunkID(n - 1)))
		held = append(held, bid)
	}
	// Another contact, in another chat, sends a file the relay serves.
	c := startLive(t, r.Address.String(), nil)
	cChat, bcChat := liveChat(t, c, b, InviteOptions{}, JoinOptions{})
	_, good := sentOffered(t, c, b, cChat, bcChat, "honest.bin", 50_000, nil)
	for _, bid := range held {
		if err := b.FetchFile(ctx, bChat, bid); err != nil {
			t.Fatal(err)
		}
		ws.waitAsked(t)
	}
	if err := b.FetchFile(ctx, bcChat, good); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if fileState(t, b.Engine, bcChat, good).State == FileReady {
			return
		}
		b.kickTransfers()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("a file whose chunks the relay serves was not downloaded in 15 s while three others wait on withheld chunks: %+v",
		fileState(t, b.Engine, bcChat, good))
}

// TestReviewInvisibleCharactersInFileNames: SECURITY.md promises that a
// receiver accepts no file name with "control, bidi or zero-width
// characters", and spec/files.md §4.2 that a name cannot "draw on a
// terminal". But names keep the default-ignorable characters that are
// not of category Cf: U+034F COMBINING GRAPHEME JOINER (zero width), the
// Hangul fillers U+3164 and U+115F (drawn blank), variation selectors.
// Every screen shows a name through SanitizeLine, which drops exactly
// these, so the user is shown one name ("report.pdf") and veil writes
// another to the disk ("report\u034f.pdf"): two files that look alike
// in a folder, and the TUI's overwrite check (which looks at the shown
// name) looks at another file than the one written.
func TestReviewInvisibleCharactersInFileNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	a, b, aChat, bChat := oneShotPair(t, r.Address.String())
	for _, name := range []string{"report\u034f.pdf", "photo\u3164.jpg", "\u115fnotes.txt", "scan.pdf\ufe0f"} {
		shown := SanitizeLine(name)
		if shown == name {
			t.Fatalf("%q: the test needs a name SanitizeLine changes", name)
		}
		if err := b.SetAutoDownloadLimit(0); err != nil {
			t.Fatal(err)
		}
		path, _ := writeTestFile(t, t.TempDir(), name, 1000)
		id, err := a.SendFile(ctx, aChat, path, SendFileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.WaitTransfer(ctx, aChat, id); err != nil {
			t.Fatal(err)
		}
		a.kickOutbox()
		ev := b.waitFor(t, "file "+shown, func(ev Event) bool {
			return ev.Type == EventMessage && ev.Chat == bChat && (ev.Text == shown || strings.Contains(ev.Text, "refused"))
		})
		fi := fileState(t, b.Engine, bChat, ev.Message)
		if fi.State == FileRefused {
			continue // refused as promised
		}
		if err := b.FetchFile(ctx, bChat, ev.Message); err != nil {
			t.Fatal(err)
		}
		if err := b.WaitTransfer(ctx, bChat, ev.Message); err != nil {
			t.Fatal(err)
		}
		out, _, err := b.SaveFile(ctx, bChat, ev.Message, t.TempDir(), false)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(out) != SanitizeLine(fi.Name) {
			t.Errorf("accepted %+q: the user is shown %+q, veil wrote %+q", fi.Name, SanitizeLine(fi.Name), filepath.Base(out))
		}
	}
}

// TestReviewGroupBurnLeavesOfflineSendersChunks: spec/files.md §8 queues
// the deletion of a file's chunks on "a group's burn (every member;
// duplicates are harmless)", and SECURITY.md says a burn "queues the
// deletion of the chat's chunks". On a group's burn each member deletes
// only the files it sent itself, so the chunks of a sender who is
// offline (or whose device is gone) stay readable on the relay, to any
// holder of the file's secret, for the rest of their lifetime (up to 7
// days), although every member still online burned the group and ran
// its tasks.
func TestReviewGroupBurnLeavesOfflineSendersChunks(t *testing.T) {
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

// TestReviewExpiredOfferKeepsFileSecret: spec/client.md §5.16 says of
// the state "expired": "the chunks' deadline passed before the download
// (S is dropped)". S is dropped only for a file already past its
// deadline when it arrives; a file offered and never fetched is shown
// "expired" once its deadline passes but keeps S in the vault for as long
// as its message lives: with a relay that kept the chunks past their
// deadline or past CDEL (spec/files.md §10: "useless without S"), whoever
// opens the profile later reads a file its user never downloaded.
func TestReviewExpiredOfferKeepsFileSecret(t *testing.T) {
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
	clock.Add(int64(8 * 24 * time.Hour)) // past every chunk lifetime
	if err := b.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.FetchFile(ctx, bChat, bid); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("fetching a file past its deadline: %v", err)
	}
	err := b.v.View(ctx, func(tx *vault.Tx) error {
		m, err := tx.Message(bChat, bid)
		if err != nil {
			return err
		}
		if fm, _ := fileOf(&m); fm != nil {
			if _, ok := fm.secret(); ok {
				t.Error("an expired file, never downloaded, still has its file secret S in the vault")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
