package client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/store"
	"veil/relay/store/memory"
	"veil/vault"
)

// lyingStore is a real relay's store that, while lie holds a reply, answers
// log reads with it instead of the log's entries: a relay that is broken
// or hostile in the way spec/relay.md §7.3 names. It counts the reads.
type lyingStore struct {
	store.Store
	reads atomic.Int64
	lie   atomic.Pointer[func(after uint64) []store.Entry]
}

func (s *lyingStore) ReadLog(ctx context.Context, id store.ID, after uint64, limit int) ([]store.Entry, error) {
	s.reads.Add(1)
	if f := s.lie.Load(); f != nil {
		return (*f)(after), nil
	}
	return s.Store.ReadLog(ctx, id, after, limit)
}

// testClock is an injectable clock that moves only when told.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestGroupSyncDoesNotSpinOnEntriesThatDoNotAdvance: a relay that answers a
// log read with entries that do not move past the reader's cursor (one at
// the cursor, a repeat, one going backwards) makes GroupSync fail with
// conn.ErrBadReply after one read, applying none of them, and the log is
// then read again only after a back-off of 1 s doubling up to 5 min, reset
// by a good read (spec/groups.md §6.2).
func TestGroupSyncDoesNotSpinOnEntriesThatDoNotAdvance(t *testing.T) {
	t.Parallel()
	body := make([]byte, 1024) // a padding bucket: only the seqs are wrong
	for _, tc := range []struct {
		name string
		lie  func(after uint64) []store.Entry
	}{
		{"at the cursor", func(after uint64) []store.Entry { return []store.Entry{{Seq: after, Body: body}} }},
		{"repeated", func(after uint64) []store.Entry {
			return []store.Entry{{Seq: after + 1, Body: body}, {Seq: after + 1, Body: body}}
		}},
		{"backwards", func(after uint64) []store.Entry {
			return []store.Entry{{Seq: after + 2, Body: body}, {Seq: after + 1, Body: body}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testGroupSyncDoesNotSpin(t, tc.lie)
		})
	}
}

func testGroupSyncDoesNotSpin(t *testing.T, lie func(after uint64) []store.Entry) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := &lyingStore{Store: memory.New(memory.Config{})}
	addr := startGroupRelay(t, func(c *relay.Config) { c.Store = st }).String()
	clk := &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg := Config{Dir: t.TempDir(), Now: clk.now,
		Vault: vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1, MemTableSize: testMemTableSize}}
	ana, err := Create(ctx, cfg, []byte("test pin"), CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ana.Close() })
	if err := ana.Setup(ctx, addr); err != nil {
		t.Fatal(err)
	}
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ana.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	cursor := func() uint64 {
		var c uint64
		if err := ana.withGroupOffline(ctx, gid, func(g *groupState) error { c = g.cur.cursor; return nil }); err != nil {
			t.Fatal(err)
		}
		return c
	}
	before := cursor()

	st.lie.Store(&lie)
	// sync tries one GroupSync and reports whether it read the log; a read
	// must fail as refused, a held log must not be read at all.
	sync := func(step string) bool {
		t.Helper()
		n := st.reads.Load()
		err := ana.GroupSync(ctx)
		read := st.reads.Load() - n
		switch {
		case read > 1:
			t.Fatalf("%s: %d log reads in one sync, want at most 1", step, read)
		case read == 1 && !errors.Is(err, conn.ErrBadReply):
			t.Fatalf("%s: GroupSync = %v, want conn.ErrBadReply", step, err)
		case read == 0 && err != nil:
			t.Fatalf("%s: GroupSync of a held log = %v, want nil", step, err)
		}
		return read == 1
	}
	if !sync("first") {
		t.Fatal("the first sync did not read the log")
	}
	if got := cursor(); got != before {
		t.Fatalf("cursor moved from %d to %d on a refused reply", before, got)
	}
	// Held for 1 s, then 2 s, 4 s, ... up to 5 min.
	hold := time.Second
	for i := range 12 {
		if sync("at once") {
			t.Fatalf("refusal %d: read again at once", i+1)
		}
		clk.advance(hold - time.Millisecond)
		if sync("just before the hold ends") {
			t.Fatalf("refusal %d: read again before %v", i+1, hold)
		}
		clk.advance(time.Millisecond)
		if !sync("when the hold ends") {
			t.Fatalf("refusal %d: not read again after %v", i+1, hold)
		}
		hold = min(hold*2, 5*time.Minute)
	}
	if hold != 5*time.Minute {
		t.Fatalf("the hold grew to %v only", hold)
	}
	// A good read forgets the back-off.
	st.lie.Store(nil)
	clk.advance(hold)
	if err := ana.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	st.lie.Store(&lie)
	if !sync("after a good read") {
		t.Fatal("the log was held after a good read")
	}
	clk.advance(time.Second)
	if !sync("1 s after a good read and a refusal") {
		t.Fatal("the back-off did not restart at 1 s after a good read")
	}
	if got := cursor(); got != before {
		t.Fatalf("cursor moved from %d to %d on refused replies", before, got)
	}
}

// TestGroupSyncReadsABoundedAmount: a relay that makes up well-formed
// entries without end (each above the one before) is read for a bounded
// number of LREADs per GroupSync, and the cursor it reached is kept.
func TestGroupSyncReadsABoundedAmount(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := &lyingStore{Store: memory.New(memory.Config{})}
	addr := startGroupRelay(t, func(c *relay.Config) { c.Store = st }).String()
	ana := testEngine(t, nil) // no event reader: one warning per made-up entry
	if err := ana.Setup(ctx, addr); err != nil {
		t.Fatal(err)
	}
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ana.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	cursor := func() uint64 {
		var c uint64
		if err := ana.withGroupOffline(ctx, gid, func(g *groupState) error { c = g.cur.cursor; return nil }); err != nil {
			t.Fatal(err)
		}
		return c
	}
	start := cursor()
	body := make([]byte, 1024)
	endless := func(after uint64) []store.Entry {
		es := make([]store.Entry, 10)
		for i := range es {
			es[i] = store.Entry{Seq: after + uint64(i) + 1, Body: body}
		}
		return es
	}
	st.lie.Store(&endless)
	for range 2 {
		n := st.reads.Load()
		if err := ana.GroupSync(ctx); err != nil {
			t.Fatal(err)
		}
		if read := st.reads.Load() - n; read != groupPollReads {
			t.Fatalf("%d log reads in one sync, want %d", read, groupPollReads)
		}
	}
	if got, want := cursor(), start+2*groupPollReads*10; got != want {
		t.Fatalf("cursor %d after two syncs, want %d", got, want)
	}
}
