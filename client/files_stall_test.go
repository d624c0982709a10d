package client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"veil/relay"
	"veil/relay/relaytest"
	"veil/relay/store"
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

// TestWithheldChunkNeverFails: a relay that never answers the CGET
// of one chunk (spec/files.md §10: "A malicious relay can withhold chunks
// (the download fails: "missing")") keeps the download "downloading"
// forever: two days later on the receiver's clock — past any sensible
// wait, with no progress at all — the transfer has neither failed nor
// reported an error, so `veil save` (which gives up only on an error)
// waits forever too.
func TestWithheldChunkNeverFails(t *testing.T) {
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

// TestWithheldChunksStarveOtherDownloads: three files whose relay
// stays silent on one chunk each take every download slot of Run's loop
// (xferMaxDownloads) for good, so a fourth file, whose chunks the relay
// serves, sent by another contact in another chat, is never downloaded
// although it was fetched. A hostile relay
// of one chat (a group's relay is the group creator's choice) thus stops
// every download of the profile, in every chat.
func TestWithheldChunksStarveOtherDownloads(t *testing.T) {
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
