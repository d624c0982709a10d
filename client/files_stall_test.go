package client

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"veil/relay"
	"veil/relay/relaytest"
	"veil/relay/store"
)

// withholdStore is a relay store that never answers a CGET of the chunks
// in hold, nor, with holdPuts, any CPUT: a hostile relay that keeps the
// connection open and stays silent instead of answering AUTH.
type withholdStore struct {
	store.Store
	mu       sync.Mutex
	hold     map[store.ID]bool
	holdPuts atomic.Bool
	asked    chan store.ID
	release  chan struct{}
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

func (s *withholdStore) PutChunk(ctx context.Context, id store.ID, c store.Chunk, maxBytes int64) error {
	if !s.holdPuts.Load() {
		return s.Store.PutChunk(ctx, id, c, maxBytes)
	}
	select {
	case s.asked <- id:
	default:
	}
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return errors.New("withheld")
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

// stallOut waits for a transfer of file id to end, moving the clock on
// by xferStallAfter and kicking Run's loop until it does: chunks the
// relay did answer may still arrive after one move, and each move is a
// fresh chance for the watchdog to find no chunk done since.
func stallOut(t *testing.T, b *live, clock *atomic.Int64, chat, id string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.WaitTransfer(ctx, chat, id) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			clock.Add(int64(xferStallAfter))
			b.kickTransfers()
		}
	}
}

// TestWithheldChunkFailsDownload: a relay that never answers the CGET of
// one chunk, keeping the connection open (spec/files.md §10), does not
// keep the download waiting: once no chunk has moved for xferStallAfter
// on the receiver's clock the try ends with a stall error the file shows
// (so a waiting `veil save` gives up), and after the usual number of
// tries the file is failed with that reason.
func TestWithheldChunkFailsDownload(t *testing.T) {
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
	// Short of the deadline nothing gives up.
	clock.Add(int64(xferStallAfter - time.Second))
	b.kickTransfers()
	if x := b.runningXfer(bChat, bid); x == nil {
		t.Fatal("the download stopped before its stall deadline")
	} else {
		select {
		case <-x.done:
			t.Fatalf("the download ended before its stall deadline: %v", x.err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	err := stallOut(t, b, &clock, bChat, bid)
	if !errors.Is(err, errXferStalled) {
		t.Fatalf("the stalled try ended with %v, want the stall error", err)
	}
	fi := fileState(t, b.Engine, bChat, bid)
	if fi.State != FileDownloading || !strings.Contains(fi.Err, "stopped answering") {
		t.Fatalf("after a stalled try the file is %+v, want downloading with the stall as its error", fi)
	}
	tries := 1
	for fi.State == FileDownloading {
		if tries > xferMaxTries+2 {
			t.Fatalf("still downloading after %d stalled tries: %+v", tries, fi)
		}
		_ = stallOut(t, b, &clock, bChat, bid)
		tries++
		fi = fileState(t, b.Engine, bChat, bid)
	}
	if fi.State != FileFailed || !strings.Contains(fi.Err, "stopped answering") {
		t.Fatalf("after %d stalled tries the file is %+v, want failed with the stall as its reason", tries, fi)
	}
	if tries < xferMaxTries {
		t.Fatalf("the file failed after %d tries, before the usual %d", tries, xferMaxTries)
	}
}

// TestWithheldChunksDoNotStarveOtherDownloads: three files whose relay
// stays silent on one chunk each take every download slot of Run's loop
// (xferMaxDownloads) only until they stall: a fourth file, whose chunks
// the relay serves, sent by another contact in another chat, then gets a
// slot and is downloaded, while the three show the stall as their error.
// A hostile relay of one chat (a group's relay is the group creator's
// choice) thus cannot stop the downloads of the other chats.
func TestWithheldChunksDoNotStarveOtherDownloads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, ws := startWithholdRelay(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	a := startLive(t, r.Address.String(), nil)
	b := startLive(t, r.Address.String(), func(c *Config) { c.Now = now })
	aChat, bChat := liveChat(t, a, b, InviteOptions{}, JoinOptions{})
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
	for fileState(t, b.Engine, bcChat, good).State != FileReady {
		if time.Now().After(deadline) {
			t.Fatalf("a file whose chunks the relay serves was not downloaded in 15 s while three others wait on withheld chunks: %+v",
				fileState(t, b.Engine, bcChat, good))
		}
		clock.Add(int64(xferStallAfter))
		b.kickTransfers()
		time.Sleep(20 * time.Millisecond)
	}
	// One stall freed the slot; each of the three stalls in its turn.
	for _, bid := range held {
		for {
			fi := fileState(t, b.Engine, bChat, bid)
			if fi.State == FileDownloading && strings.Contains(fi.Err, "stopped answering") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a file with a withheld chunk is %+v, want downloading with the stall as its error", fi)
			}
			clock.Add(int64(xferStallAfter))
			b.kickTransfers()
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestSilentRelayStallsUpload: a relay that never answers CPUT holds an
// upload only until no chunk has moved for xferStallAfter on the
// sender's clock: the try ends with the stall error, which the file shows
// while it waits for the next try.
func TestSilentRelayStallsUpload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, ws := startWithholdRelay(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	a := startLive(t, r.Address.String(), func(c *Config) { c.Now = now })
	b := startLive(t, r.Address.String(), nil)
	aChat, _ := liveChat(t, a, b, InviteOptions{}, JoinOptions{})
	ws.holdPuts.Store(true)
	path, _ := writeTestFile(t, t.TempDir(), "silent.bin", 100_000)
	id, err := a.SendFile(ctx, aChat, path, SendFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ws.waitAsked(t)
	if err := stallOut(t, a, &clock, aChat, id); !errors.Is(err, errXferStalled) {
		t.Fatalf("the stalled upload ended with %v, want the stall error", err)
	}
	fi := fileState(t, a.Engine, aChat, id)
	if fi.State != FileUploading || !strings.Contains(fi.Err, "stopped answering") {
		t.Fatalf("after a stalled try the file is %+v, want uploading with the stall as its error", fi)
	}
}
