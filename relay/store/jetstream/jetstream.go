// Package jetstream is the relay store for more than one machine: any
// number of relay nodes share one NATS JetStream cluster
// (github.com/nats-io/nats.go and its jetstream package), and the
// cluster's Raft replication makes every acknowledged write survive the
// loss of a minority of NATS nodes.
//
// The mapping of the relay's state onto streams, subjects and KV buckets
// is normative and lives in spec/relay-jetstream.md; the code cites it.
// In short: mailbox messages are subjects of replicated shard streams
// (a hash of the mailbox ID picks the shard, so no single stream leader
// carries every message) with per-message TTL, and ACK is deletion by
// sequence; group logs are
// subjects of a second stream read from a cursor; mailbox and log
// metadata, one-time blobs, file chunks and subscriber claims are KV buckets; a Send
// publishes a core NATS notification that reaches the recipient's node
// wherever it is in the cluster.
//
// Every write is a JetStream publish acknowledged only after the stream's
// replicas have it (and, with file storage, after it is written), so the
// store.Store durability contract holds cluster-wide. Publishes are
// pipelined on the connection (asynchronous, within a bounded window), but
// a call returns only after its own acknowledgement. The store keeps no
// state of its own between calls beyond short-lived caches of mailbox
// records (cache.go), so relay nodes are interchangeable.
package jetstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"veil/relay/store"
)

// Tuning constants (not from the spec).
const (
	// MaxBody is the largest body the store accepts (Send, Append, PutBlob).
	MaxBody = 1 << 20
	// ChunkBody is the size of every chunk body (spec/relay.md §7.7):
	// the store counts chunks, not their bytes.
	ChunkBody = 16000
	// defaultOpTimeout bounds one store call, retries included, when the
	// caller's context has no earlier deadline: long enough to ride out a
	// JetStream leader election after a NATS node is lost.
	defaultOpTimeout = 20 * time.Second
	// attemptTimeout bounds one request to the cluster.
	attemptTimeout = 3 * time.Second
	// maxCAS bounds the optimistic-concurrency retries of one call.
	maxCAS = 64
	// sizeEvery is how long Size may serve a cached figure.
	sizeEvery = time.Second
	// claimTTL removes subscriber claims that nobody released (a node
	// that died) after a day.
	claimTTL = 24 * time.Hour
	// logTTLGrace is added to a log entry's server-side TTL: Expire, not
	// the server, removes entries on time, so that it can record the log's
	// floor first (spec §5.2); the server's TTL is the backstop.
	logTTLGrace = 24 * time.Hour
	// defaultPublishWindow is how many publishes may await their
	// acknowledgement at once on one node's connection.
	defaultPublishWindow = 4096
	// migrateTimeout bounds the copy of an unsharded message stream
	// (spec §3.6) at Open.
	migrateTimeout = time.Hour
	// scanBatch is how many records one Expire fetch asks for.
	scanBatch = 256
	// day is the granularity of mailbox times (store.Mailbox).
	day = 24 * time.Hour
)

// Config configures Open.
type Config struct {
	// URLs are the NATS servers to connect to (any member of the cluster;
	// the client learns the others). Ignored when Conn is set.
	URLs []string
	// Conn is an existing connection to use; the caller keeps ownership
	// and closes it after the store.
	Conn *nats.Conn
	// Name is the NATS client name; "veil-relay" when empty.
	Name string
	// Prefix names every stream, bucket and subject the store uses, so
	// several relays can share one NATS account (spec §2); "veil" when
	// empty. It must be a single subject token of [A-Za-z0-9_-].
	Prefix string
	// Replicas is the replication factor of every stream: 3 for a
	// three-node cluster (the default), 1 for a single NATS server.
	Replicas int
	// Memory selects memory storage instead of file storage: faster, and
	// durable only while a majority of replicas stays up. Not for
	// production.
	Memory bool
	// MaxPending is the relay's per-mailbox quota (relay.Limits.MaxPending).
	// When set, the message stream enforces it per subject (discard new
	// per subject) and a Send with this maxPending is one publish with no
	// count (spec §3.2); Sends with another maxPending count first. Zero:
	// every Send counts.
	MaxPending int
	// MaxBytes is the relay's storage quota: Send, Append and PutBlob fail
	// with store.ErrDiskQuota while the streams hold more. Zero: no quota.
	MaxBytes int64
	// ChunkStorage is the relay's chunk quota (relay.Limits.ChunkStorage):
	// the chunk bucket's stream holds at most ChunkStorage/ChunkBody
	// chunks and refuses more (discard new), whatever concurrent PutChunks
	// on any node do (spec §6.3). Zero: only PutChunk's count bounds them.
	ChunkStorage int64
	// Now is the clock; time.Now when nil. The server's per-message TTL
	// uses the real clock, so an injected clock must not run behind it.
	Now func() time.Time
	// Logger receives connection events (never IDs or bodies). Nil: silent.
	Logger *slog.Logger
	// ExpireLease, when set, lets one relay node per period do Expire's
	// scans: Expire first takes a lease in the claims bucket for this long
	// (spec §8) and returns at once if another node holds it. Set it a
	// little below the relay's expiry interval. Zero: every call scans.
	ExpireLease time.Duration
	// OpTimeout bounds one call, retries included, when the caller's
	// context has no deadline; 20s when zero.
	OpTimeout time.Duration
	// Shards is how many message streams a new deployment spreads its
	// mailboxes over (spec §3.1); DefaultShards when zero. A cluster that
	// already has message shards keeps its count whatever this says.
	Shards int
	// PublishWindow bounds the publishes this node has sent and whose
	// acknowledgement it still awaits; 4096 when zero. A call past the
	// window waits for room.
	PublishWindow int
}

// Store is the JetStream-backed store.Store. Create it with Open.
type Store struct {
	nc        *nats.Conn
	ownConn   bool
	js        js.JetStream
	names     names
	now       func() time.Time
	log       *slog.Logger
	maxBytes  int64
	maxChunks int64 // the chunk stream's MaxMsgs; zero: none
	maxPend   int
	lease     time.Duration
	opTimeout time.Duration

	msgs                          []js.Stream // message shards, spec §3.1
	logs                          js.Stream   // spec §5
	boxes, senders, logMeta, blob js.Stream   // KV buckets, spec §4
	claims                        js.Stream   // spec §7
	chunk                         js.Stream   // KV bucket, spec §6.3

	closing chan struct{} // closed by Close
	wg      sync.WaitGroup
	writers keyLocks  // this node's writers per mailbox and log (lock.go)
	cache   boxCache  // recent mailbox records and delivered sequences (cache.go)
	gets    batchGets // batch direct gets' answers (batchget.go)
	lookups lookups   // mailbox reads shared by concurrent misses (cache.go)

	mu          sync.Mutex // guards the fields below
	closed      bool
	watchers    map[*watcher]struct{}
	logWatchers map[*logWatcher]struct{}
	claimSet    map[store.ID]map[*claim]struct{}
	claimCC     js.ConsumeContext // the node's claim watcher; nil until the first Claim
	size        int64
	sizeAt      time.Time
	chunks      uint64    // chunks in the bucket, as last counted (chunkCount)
	chunksAt    time.Time // when; zero: count again
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.Claimer     = (*Store)(nil)
	_ store.LogNotifier = (*Store)(nil)
)

// Open connects (unless cfg.Conn is set), creates or checks the streams
// and buckets of spec §2, and returns the store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "veil"
	}
	if !validToken(cfg.Prefix) {
		return nil, errors.New("jetstream: prefix must be one token of letters, digits, '_' or '-'")
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 3
	}
	if cfg.Replicas < 1 || cfg.Replicas > 5 {
		return nil, fmt.Errorf("jetstream: replicas %d outside 1..5", cfg.Replicas)
	}
	if cfg.Shards < 0 || cfg.Shards > MaxShards {
		return nil, fmt.Errorf("jetstream: shards %d outside 1..%d", cfg.Shards, MaxShards)
	}
	if cfg.PublishWindow <= 0 {
		cfg.PublishWindow = defaultPublishWindow
	}
	s := &Store{
		names:       newNames(cfg.Prefix),
		now:         cfg.Now,
		log:         cfg.Logger,
		maxBytes:    cfg.MaxBytes,
		maxChunks:   max(cfg.ChunkStorage, 0) / ChunkBody,
		maxPend:     max(cfg.MaxPending, 0),
		lease:       cfg.ExpireLease,
		opTimeout:   cfg.OpTimeout,
		closing:     make(chan struct{}),
		watchers:    map[*watcher]struct{}{},
		logWatchers: map[*logWatcher]struct{}{},
		claimSet:    map[store.ID]map[*claim]struct{}{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.opTimeout <= 0 {
		s.opTimeout = defaultOpTimeout
	}
	if cfg.Conn != nil {
		s.nc = cfg.Conn
	} else {
		if len(cfg.URLs) == 0 {
			return nil, errors.New("jetstream: no NATS URL")
		}
		name := cfg.Name
		if name == "" {
			name = "veil-relay"
		}
		nc, err := nats.Connect(strings.Join(cfg.URLs, ","),
			nats.Name(name),
			nats.MaxReconnects(-1),
			nats.ReconnectWait(250*time.Millisecond),
			nats.RetryOnFailedConnect(false),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				s.log.Warn("jetstream: disconnected from NATS", "err", err)
			}),
			nats.ReconnectHandler(func(*nats.Conn) {
				s.log.Info("jetstream: reconnected to NATS")
				s.wakeAll()
			}),
		)
		if err != nil {
			return nil, fmt.Errorf("jetstream: connect: %w", err)
		}
		s.nc, s.ownConn = nc, true
	}
	if cfg.Conn != nil {
		// A connection we do not own: we cannot install a reconnect
		// handler without replacing the caller's, so wake watchers on
		// every status change instead.
		s.wg.Add(1)
		go func() { // owned by the store; stops when closing is closed
			defer s.wg.Done()
			s.watchStatus()
		}()
	}
	var err error
	s.js, err = js.New(s.nc,
		js.WithPublishAsyncMaxPending(cfg.PublishWindow),
		// A lost acknowledgement frees its place in the window.
		js.WithPublishAsyncTimeout(attemptTimeout))
	if err != nil {
		s.closeConn()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	sctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := s.setup(sctx, cfg.Replicas, cfg.Memory, cfg.Shards); err != nil {
		_ = s.Close()
		return nil, err
	}
	mctx, mcancel := context.WithTimeout(ctx, migrateTimeout)
	defer mcancel()
	if err := s.migrate(mctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// watchStatus wakes every Notify channel after the caller's connection
// reconnects, so subscribers re-read what they may have missed.
func (s *Store) watchStatus() {
	ch := s.nc.StatusChanged(nats.CONNECTED)
	defer s.nc.RemoveStatusListener(ch)
	for {
		select {
		case <-s.closing:
			return
		case _, ok := <-ch:
			if !ok {
				return
			}
			s.wakeAll()
		}
	}
}

func validToken(t string) bool {
	if t == "" || len(t) > 32 {
		return false
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// setup creates every stream of spec §2 or checks the one that exists.
func (s *Store) setup(ctx context.Context, replicas int, memory bool, shards int) error {
	storage := js.FileStorage
	if memory {
		storage = js.MemoryStorage
	}
	stream := func(name string, subjects []string, perSubject int64) js.StreamConfig {
		return js.StreamConfig{
			Name:              name,
			Subjects:          subjects,
			Storage:           storage,
			Replicas:          replicas,
			Retention:         js.LimitsPolicy,
			Discard:           js.DiscardNew,
			MaxMsgs:           -1,
			MaxBytes:          -1,
			MaxMsgsPerSubject: perSubject,
			MaxMsgSize:        MaxBody + 4096,
			MaxConsumers:      -1,
			Duplicates:        2 * time.Minute,
			AllowMsgTTL:       true,
			// Reads must see every acknowledged write: direct gets may be
			// served by a follower that has not applied it yet (spec
			// §1.3). With one replica there is no follower, and a direct
			// get skips the JetStream API's request queue and JSON.
			AllowDirect: replicas == 1,
			// KV-style buckets are deleted from by sequence (spec §4).
			DenyDelete: false,
			DenyPurge:  false,
		}
	}
	n := s.names
	shardCfg := func(k, shards int) js.StreamConfig {
		cfg := stream(n.shardStream(k), []string{n.shardSubjects(k)}, -1)
		if s.maxPend > 0 { // spec §3.2: the server enforces the quota
			cfg.MaxMsgsPerSubject = int64(s.maxPend)
			cfg.DiscardNewPerSubject = true
		}
		if k == 0 {
			cfg.Metadata = map[string]string{shardsKey: strconv.Itoa(shards)}
		}
		return cfg
	}
	shards, err := s.claimShards(ctx, shards, func(shards int) js.StreamConfig { return shardCfg(0, shards) })
	if err != nil {
		return err
	}
	s.msgs = make([]js.Stream, shards)
	type spec struct {
		dst *js.Stream
		cfg js.StreamConfig
	}
	var specs []spec
	for k := range shards {
		specs = append(specs, spec{&s.msgs[k], shardCfg(k, shards)})
	}
	specs = append(specs, []spec{
		{&s.logs, stream(n.logStream, []string{n.logSubjects}, -1)},
		{&s.boxes, stream(kvStream(n.boxBucket), []string{kvSubjects(n.boxBucket)}, 1)},
		{&s.senders, stream(kvStream(n.senderBucket), []string{kvSubjects(n.senderBucket)}, 1)},
		{&s.logMeta, stream(kvStream(n.logBucket), []string{kvSubjects(n.logBucket)}, 1)},
		{&s.blob, stream(kvStream(n.blobBucket), []string{kvSubjects(n.blobBucket)}, 1)},
		{&s.claims, stream(kvStream(n.claimBucket), []string{kvSubjects(n.claimBucket)}, 1)},
		{&s.chunk, stream(kvStream(n.chunkBucket), []string{kvSubjects(n.chunkBucket)}, 1)},
	}...)
	if s.maxChunks > 0 { // spec §6.3: the server enforces the chunk quota
		specs[len(specs)-1].cfg.MaxMsgs = s.maxChunks
	}
	for _, sp := range specs {
		if sp.dst == &s.claims {
			// Claims are small and short-lived; losing them with the whole
			// cluster only means a second subscriber is not ended at once.
			sp.cfg.MaxMsgSize = 1024
		}
		if sp.cfg.MaxMsgsPerSubject == 1 {
			sp.cfg.AllowRollup = true // KV layout (spec §4)
		}
		// Retried: a cluster that just started may still be electing its
		// meta leader.
		var st js.Stream
		err := retry(ctx, func(ctx context.Context) error {
			var err error
			st, err = s.js.CreateOrUpdateStream(ctx, sp.cfg)
			return err
		})
		if err != nil {
			return fmt.Errorf("jetstream: stream %s: %w", sp.cfg.Name, err)
		}
		*sp.dst = st
	}
	// Another node may have claimed shard 0 between our read and our
	// update: only a count read back after setup is the cluster's.
	got, err := s.shardCount(ctx, shards)
	if err != nil {
		return err
	}
	if got != shards {
		return fmt.Errorf("jetstream: stream %s records %d shards, not %d: another node set them up at the same time; start again", n.shardStream(0), got, shards)
	}
	return nil
}

// ctx bounds a call by the store's operation timeout when the caller set
// no deadline.
func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.opTimeout)
}

// begin reports ErrClosed after Close and otherwise returns the bounded
// context for one call.
func (s *Store) begin(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := s.usable(); err != nil {
		return nil, nil, err
	}
	c, cancel := s.ctx(ctx)
	return c, cancel, nil
}

// beginHot is begin for the calls made for every message (Send, Pending,
// Ack and the mailbox lookups), without a context of its own: the
// operation's deadline travels in an opDeadline, and retry derives each
// attempt's context from the caller's with the earlier of the two
// deadlines. A waiting outside retry (a mailbox's writer lock, a shared
// mailbox read) is bounded by the calls it waits for, not by this
// deadline; retry then fails at once.
func (s *Store) beginHot(ctx context.Context) (context.Context, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	d := time.Now().Add(s.opTimeout)
	if cur, ok := ctx.Deadline(); ok && !cur.After(d) {
		return ctx, nil
	}
	return &opDeadline{Context: ctx, deadline: d}, nil
}

// opDeadline is a caller's context with the operation's deadline, which
// its Deadline and Err report but its Done channel does not (see
// beginHot).
type opDeadline struct {
	context.Context
	deadline time.Time
}

func (c *opDeadline) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *opDeadline) Err() error {
	if err := c.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// usable reports ErrClosed after Close.
func (s *Store) usable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	return nil
}

// Close stops the claim watcher and every Notify subscription and closes
// the connection if the store opened it. Later calls return ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	watchers := s.watchers
	s.watchers = map[*watcher]struct{}{}
	logWatchers := s.logWatchers
	s.logWatchers = map[*logWatcher]struct{}{}
	cc := s.claimCC
	s.claimCC = nil
	claims := s.claimSet
	s.claimSet = map[store.ID]map[*claim]struct{}{}
	s.mu.Unlock()
	close(s.closing)
	for w := range watchers {
		w.unsubscribe()
	}
	for w := range logWatchers {
		w.unsubscribe()
	}
	if cc != nil {
		cc.Stop()
	}
	for _, set := range claims {
		for c := range set {
			c.end()
		}
	}
	s.wg.Wait()
	s.gets.stop()
	s.closeConn()
	return nil
}

func (s *Store) closeConn() {
	if s.ownConn {
		s.nc.Close()
	}
}

// Size returns the bytes the store's streams hold, as the cluster last
// reported them (refreshed at most once a second).
func (s *Store) Size() int64 {
	s.mu.Lock()
	if s.closed || time.Since(s.sizeAt) < sizeEvery {
		n := s.size
		s.mu.Unlock()
		return n
	}
	s.sizeAt = time.Now()
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), attemptTimeout)
	defer cancel()
	var total int64
	for _, st := range append([]js.Stream{s.logs, s.boxes, s.senders, s.logMeta, s.blob, s.chunk}, s.msgs...) {
		info, err := st.Info(ctx)
		if err != nil {
			s.mu.Lock()
			n := s.size
			s.mu.Unlock()
			return n
		}
		total += int64(info.State.Bytes)
	}
	s.mu.Lock()
	s.size = total
	s.mu.Unlock()
	return total
}

// full reports whether a write of n bytes would exceed the quota.
func (s *Store) full(n int) bool {
	return s.maxBytes > 0 && s.Size()+int64(n) > s.maxBytes
}

func dayOf(t time.Time) time.Time { return t.UTC().Truncate(day) }

func newToken() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("jetstream: crypto/rand failed: " + err.Error()) // the runtime never returns an error here
	}
	return hex.EncodeToString(b[:])
}
