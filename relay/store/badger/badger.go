// Package badger is the relay's embedded, durable store: mailboxes,
// sequence reservations, logs, log entries and blobs in
// github.com/dgraph-io/badger/v4, and mailbox messages in a message
// journal of its own (journal.go) in the same directory.
//
// Durability and throughput come from group commit: every write goes to
// one writer goroutine, which gathers the writes waiting at that moment
// into one group, commits the group's Badger transaction with SyncWrites
// (one fsync for the whole group) and then appends the group's journal
// records with one write and one fdatasync, and only then answers every
// caller. Because one goroutine applies every write, quota checks,
// sequence numbers and TakeBlob's exactly-once rule need no retries on
// conflict. A commit that fails leaves the store refusing writes until it
// is opened again, since what reached the disk is then unknown.
//
// Messages live in the journal rather than in Badger because they are
// short-lived: in an LSM tree each one costs a memtable insert, a
// tombstone and a share of every memtable flush, and the flushes stalled
// the group commit for 5–29 ms at 10,000 msgs/s. Log entries, blobs and
// the reservations of taken blob IDs carry Badger's native expiry, so
// they disappear on time even if Expire never runs; Expire additionally
// removes what has expired by the caller's clock, expired messages from
// the journal's index, idle mailboxes and orphaned entries. Values stay in the LSM tree (they are
// far below Badger's value threshold); value-log GC still runs
// periodically for anything large.
package badger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bdg "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"veil/relay/store"
	"veil/relay/store/journal"
	"veil/relay/store/record"
)

// Tuning constants (not from the spec).
const (
	defaultGCInterval   = 10 * time.Minute
	defaultSizeInterval = time.Second
	gcDiscardRatio      = 0.5
	maxGCRunsPerTick    = 16
	queueLen            = 4096
	// maxBatchOps and maxBatchBytes bound one group commit far below
	// Badger's transaction limit (15% of a memtable), so no operation
	// ever meets ErrTxnTooBig; Open lowers the byte bound further for
	// small memtables (batchBytes).
	maxBatchOps   = 2048
	maxBatchBytes = 4 << 20
	// DefaultMemTableSize is the memtable size when Config.MemTableSize
	// is zero. Badger's own default (64 MiB, three of them) is allocated
	// on the Go heap and sets the collector's goal: with GOGC=100 a relay
	// would keep up to that much garbage resident. 16 MiB flushes more
	// often and keeps idle connections cheap (spec/relay.md §13).
	DefaultMemTableSize = 16 << 20
	// minMemTableSize keeps a group commit of one largest body possible.
	minMemTableSize = 8 << 20
	// MaxBody is the largest body the store accepts (Send, Append, PutBlob).
	MaxBody = journal.MaxBody
	// journalDir is the message journal's directory in Config.Dir.
	journalDir = "journal"
	// deleteChunk bounds the records one delete operation removes.
	deleteChunk = 512
	// maxCached bounds the writer's per-mailbox and per-log caches; they are
	// dropped and rebuilt from disk when they grow past it.
	maxCached = 1 << 17
)

// Config configures Open.
type Config struct {
	// Dir is the data directory; it is created if missing.
	Dir string
	// MaxBytes is the disk quota: writes that add data fail with
	// store.ErrDiskQuota while the store occupies more. Zero: no quota.
	MaxBytes int64
	// Now is the clock; time.Now when nil. Badger's native expiry uses the
	// real clock, so an injected clock must not run behind it.
	Now func() time.Time
	// Logger receives Badger's warnings and errors, with their arguments
	// removed (they may hold keys, that is IDs). Nil: Badger is silent.
	Logger *slog.Logger
	// GCInterval is how often value-log GC runs; 10 minutes when zero.
	GCInterval time.Duration
	// MemTableSize is Badger's memtable size; DefaultMemTableSize when
	// zero, at least 8 MiB. Badger keeps up to three.
	MemTableSize int64
}

// batchLimit is the byte bound of one group commit for memtables of mt
// bytes: Badger refuses a transaction above 15% of a memtable, and the
// bound is checked before an op of up to MaxBody bytes (plus keys and
// Badger's per-entry overhead, well under 64 KiB for maxBatchOps ops) is
// added.
func batchLimit(mt int64) int {
	return int(min(maxBatchBytes, mt*15/100-MaxBody-64<<10))
}

// Store is the Badger-backed store.Store. Create it with Open.
type Store struct {
	db       *bdg.DB
	now      func() time.Time
	maxBytes int64
	dir      string
	size     atomic.Int64
	// lastSweep is when Expire last walked every record (Unix ns).
	lastSweep atomic.Int64

	reqs       chan *request // to the writer; closed by Close
	batchBytes int           // bound on one group commit's bytes (batchLimit)

	// closeMu guards closed; readers and submitters hold it shared while
	// they use db or send on reqs, so Close can wait them out.
	closeMu sync.RWMutex
	closed  bool

	cache *mailboxCache
	j     *journal.Journal

	watchMu  sync.Mutex // guards watchers
	watchers map[store.ID]map[*watcher]struct{}

	// The writer and maintenance goroutines are owned by the Store and
	// stopped by Close (writer: reqs closed; maintenance: stop closed).
	stop        chan struct{}
	writerDone  chan struct{}
	maintenance sync.WaitGroup
}

// The journal's segment sizes (journal.Options): variables so that tests
// can make them small.
var (
	minSegment  int64 = journal.MinSegment
	segmentSize int64 = journal.MaxSegment
)

var _ store.Store = (*Store)(nil)

type watcher struct{ ch chan struct{} }

// Open opens (or creates) the store in cfg.Dir and starts its writer and
// maintenance goroutines; Close stops them.
func Open(cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("badger: no data directory")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	opts := bdg.DefaultOptions(cfg.Dir).
		WithSyncWrites(true).
		WithLogger(quietLogger{cfg.Logger}).
		WithMetricsEnabled(false).
		// Bodies are ciphertext: compression only costs CPU. Without
		// compression or encryption Badger needs no block cache.
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithNumMemtables(3).
		WithNumCompactors(2)
	mt := cfg.MemTableSize
	if mt == 0 {
		mt = DefaultMemTableSize
	}
	if mt < minMemTableSize {
		return nil, fmt.Errorf("badger: memtable size %d below the minimum of %d bytes", mt, minMemTableSize)
	}
	opts = opts.WithMemTableSize(mt)
	db, err := bdg.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("badger: opening the store: %w", err)
	}
	jopts := journal.Options{Quota: cfg.MaxBytes, MinSegment: minSegment, MaxSegment: segmentSize}
	j, err := journal.Open(filepath.Join(cfg.Dir, journalDir), jopts, now())
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{
		j:          j,
		db:         db,
		now:        now,
		maxBytes:   cfg.MaxBytes,
		dir:        cfg.Dir,
		reqs:       make(chan *request, queueLen),
		batchBytes: batchLimit(mt),
		watchers:   map[store.ID]map[*watcher]struct{}{},
		cache:      newMailboxCache(),
		stop:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	if err := s.settle(cfg.Logger); err != nil {
		j.Close()
		db.Close()
		return nil, err
	}
	s.refreshSize()
	w := newWriter(s)
	go w.run()
	gcEvery := cfg.GCInterval
	if gcEvery <= 0 {
		gcEvery = defaultGCInterval
	}
	s.maintenance.Add(1)
	go s.maintain(gcEvery)
	return s, nil
}

// settle finishes opening the journal: it moves messages that an older
// version kept in Badger into the journal, drops the messages of
// mailboxes that no longer exist (a crash between a mailbox's deletion
// and its DROP record leaves them), and reports torn segments.
func (s *Store) settle(logger *slog.Logger) error {
	if err := s.migrate(); err != nil {
		return err
	}
	j := s.j
	var orphans []store.ID
	err := s.db.View(func(txn *bdg.Txn) error {
		for _, rid := range j.Mailboxes() {
			_, err := txn.Get(idKey(prefixMailbox, rid))
			if errors.Is(err, bdg.ErrKeyNotFound) {
				orphans = append(orphans, rid)
			} else if err != nil {
				return fmt.Errorf("badger: reading: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, rid := range orphans {
		// Recorded too: a mailbox created later with the same IDs must
		// not find these messages after the next restart.
		j.AppendDrop(rid)
	}
	if err := j.Commit(); err != nil {
		return err
	}
	j.Recount()
	if j.Torn() > 0 && logger != nil {
		logger.Warn("badger: journal segments ended in a cut-off write (expected after a crash)", "segments", j.Torn())
	}
	return nil
}

// migrate moves the messages an older version of this store kept in
// Badger (prefixMessage keys) into the journal: each chunk is appended
// and synced before its keys are deleted, so a crash in between leaves
// copies that replay finds twice and keeps once.
func (s *Store) migrate() error {
	j := s.j
	for {
		// A new head first, if due: the records name the segment they
		// are written to (their offsets and checksums).
		j.Rotate()
		var keys [][]byte
		size := 0
		now := s.now()
		err := s.db.View(func(txn *bdg.Txn) error {
			pre := []byte{prefixMessage}
			it := txn.NewIterator(bdg.IteratorOptions{Prefix: pre})
			defer it.Close()
			for it.Seek(pre); it.ValidForPrefix(pre) && len(keys) < deleteChunk && size < maxBatchBytes; it.Next() {
				item := it.Item()
				keys = append(keys, item.KeyCopy(nil))
				rid, seq, ok := parseSeqKey(item.Key())
				if !ok || expired(item.ExpiresAt(), now) || item.ValueSize() > MaxBody {
					continue
				}
				if j.Has(rid, seq) {
					continue
				}
				body, err := item.ValueCopy(nil)
				if err != nil {
					return fmt.Errorf("badger: reading: %w", err)
				}
				j.AppendMigrated(rid, seq, item.ExpiresAt(), body)
				size += len(body)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		if err := j.Commit(); err != nil {
			return err
		}
		err = s.db.Update(func(txn *bdg.Txn) error {
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("badger: moving messages to the journal: %w", err)
		}
	}
}

// Close waits for queued writes to commit, stops the goroutines and closes
// the database. Later calls return store.ErrClosed; Close itself is
// idempotent.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	close(s.stop)
	s.closeMu.Unlock()
	<-s.writerDone
	s.maintenance.Wait()
	s.watchMu.Lock()
	s.watchers = map[store.ID]map[*watcher]struct{}{}
	s.watchMu.Unlock()
	s.j.Close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("badger: closing: %w", err)
	}
	return nil
}

// maintain refreshes the size estimate and runs value-log GC until stop is
// closed.
func (s *Store) maintain(gcEvery time.Duration) {
	defer s.maintenance.Done()
	sizeTick := time.NewTicker(defaultSizeInterval)
	defer sizeTick.Stop()
	gcTick := time.NewTicker(gcEvery)
	defer gcTick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-sizeTick.C:
			s.refreshSize()
		case <-gcTick.C:
			for range maxGCRunsPerTick {
				select {
				case <-s.stop:
					return
				default:
				}
				// ErrNoRewrite (nothing to collect) and ErrRejected
				// (closing) both end the round.
				if s.db.RunValueLogGC(gcDiscardRatio) != nil {
					break
				}
			}
		}
	}
}

// Size returns the bytes the store occupies on disk (LSM tables, value log
// and write-ahead log, as allocated), refreshed every second.
func (s *Store) Size() int64 { return s.size.Load() }

func (s *Store) refreshSize() {
	if n, err := dirUsage(s.dir); err == nil {
		s.size.Store(n)
	}
}

func (s *Store) overQuota() bool { return s.maxBytes > 0 && s.size.Load() > s.maxBytes }

// view runs fn in a read-only transaction unless the store is closed.
func (s *Store) view(fn func(txn *bdg.Txn) error) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return s.db.View(fn)
}

// getValue returns a copy of the value at key, store.ErrNotFound if it is
// missing or expired at now.
func getValue(txn *bdg.Txn, key []byte, now time.Time) ([]byte, uint64, error) {
	item, err := txn.Get(key)
	if errors.Is(err, bdg.ErrKeyNotFound) {
		return nil, 0, store.ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("badger: reading: %w", err)
	}
	if expired(item.ExpiresAt(), now) {
		return nil, 0, store.ErrNotFound
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, 0, fmt.Errorf("badger: reading: %w", err)
	}
	return v, item.ExpiresAt(), nil
}

func getMailbox(txn *bdg.Txn, rid store.ID) (store.Mailbox, error) {
	v, _, err := getValue(txn, idKey(prefixMailbox, rid), time.Time{})
	if err != nil {
		return store.Mailbox{}, err
	}
	m, err := record.DecodeMailbox(v, record.BadgerV1)
	if err != nil {
		return store.Mailbox{}, errCorrupt
	}
	if m.RecipientID != rid {
		return store.Mailbox{}, errCorrupt
	}
	return m, nil
}

func getRecipient(txn *bdg.Txn, sid store.ID) (store.ID, error) {
	var rid store.ID
	v, _, err := getValue(txn, idKey(prefixSender, sid), time.Time{})
	if err != nil {
		return rid, err
	}
	if len(v) != store.IDSize {
		return rid, errCorrupt
	}
	copy(rid[:], v)
	return rid, nil
}

// Mailbox implements store.Store.
func (s *Store) Mailbox(ctx context.Context, rid store.ID) (store.Mailbox, error) {
	m, gen, ok := s.cache.recipient(rid)
	if ok && s.open() {
		return m, nil
	}
	err := s.view(func(txn *bdg.Txn) (err error) {
		m, err = getMailbox(txn, rid)
		return err
	})
	if err == nil {
		s.cache.put(m, gen)
	}
	return m, err
}

// open reports whether the store is still open.
func (s *Store) open() bool {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	return !s.closed
}

// MailboxBySender implements store.Store.
func (s *Store) MailboxBySender(ctx context.Context, sid store.ID) (store.Mailbox, error) {
	m, gen, ok := s.cache.sender(sid)
	if ok && s.open() {
		return m, nil
	}
	err := s.view(func(txn *bdg.Txn) error {
		rid, err := getRecipient(txn, sid)
		if err != nil {
			return err
		}
		m, err = getMailbox(txn, rid)
		if err == nil && m.SenderID != sid {
			err = errCorrupt
		}
		return err
	})
	if err == nil {
		s.cache.put(m, gen)
	}
	return m, err
}

// Pending implements store.Store.
func (s *Store) Pending(ctx context.Context, rid store.ID, after uint64, limit int) ([]store.Message, error) {
	now := s.now()
	var out []store.Message
	var stale bool
	// A secured mailbox marked active today in the cache needs no read of
	// its record: Pending runs after every notification.
	cached, gen, hit := s.cache.recipient(rid)
	hit = hit && record.DayNumber(cached.LastActive) >= record.DayNumber(now)
	var loaded store.Mailbox
	err := s.view(func(txn *bdg.Txn) (err error) {
		if !hit {
			if loaded, err = getMailbox(txn, rid); err != nil {
				return err
			}
			stale = record.DayNumber(now) > record.DayNumber(loaded.LastActive)
		}
		if limit > 0 {
			// Under the store's close lock: the segments stay open.
			out, err = s.j.Pending(rid, after, limit, now)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if !hit && !stale {
		s.cache.put(loaded, gen)
	}
	if stale {
		// Once a day: record that the recipient was here.
		if err := s.submit(ctx, &touchOp{rid: rid}); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return out, nil
}

// scanSeq calls fn with every unexpired record under prefix|id with a
// sequence number above after, in order, until fn returns false.
func scanSeq(txn *bdg.Txn, prefix byte, id store.ID, after uint64, now time.Time, fn func(seq uint64, body []byte, exp uint64) bool) error {
	pre := idKey(prefix, id)
	it := txn.NewIterator(bdg.IteratorOptions{Prefix: pre, PrefetchValues: false})
	defer it.Close()
	for it.Seek(seqKey(prefix, id, after+1)); it.ValidForPrefix(pre); it.Next() {
		item := it.Item()
		_, seq, ok := parseSeqKey(item.Key())
		if !ok || seq <= after {
			continue
		}
		if expired(item.ExpiresAt(), now) {
			continue
		}
		body, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("badger: reading: %w", err)
		}
		if !fn(seq, body, item.ExpiresAt()) {
			return nil
		}
	}
	return nil
}

// Notify implements store.Store. Notifications reach subscribers of this
// process only.
func (s *Store) Notify(rid store.ID) (<-chan struct{}, func()) {
	w := &watcher{ch: make(chan struct{}, 1)}
	s.closeMu.RLock()
	closed := s.closed
	s.closeMu.RUnlock()
	if closed {
		return w.ch, func() {}
	}
	s.watchMu.Lock()
	set := s.watchers[rid]
	if set == nil {
		set = map[*watcher]struct{}{}
		s.watchers[rid] = set
	}
	set[w] = struct{}{}
	s.watchMu.Unlock()
	var once sync.Once
	return w.ch, func() {
		once.Do(func() {
			s.watchMu.Lock()
			defer s.watchMu.Unlock()
			if set := s.watchers[rid]; set != nil {
				delete(set, w)
				if len(set) == 0 {
					delete(s.watchers, rid)
				}
			}
		})
	}
}

// notify wakes the watchers of every mailbox in rids.
func (s *Store) notify(rids []store.ID) {
	if len(rids) == 0 {
		return
	}
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for _, rid := range rids {
		for w := range s.watchers[rid] {
			select {
			case w.ch <- struct{}{}:
			default:
			}
		}
	}
}

// LogInfo implements store.Store.
func (s *Store) LogInfo(ctx context.Context, id store.ID) (store.Log, error) {
	var l store.Log
	err := s.view(func(txn *bdg.Txn) (err error) {
		l, err = getLog(txn, id)
		return err
	})
	return l, err
}

func getLog(txn *bdg.Txn, id store.ID) (store.Log, error) {
	v, _, err := getValue(txn, idKey(prefixLog, id), time.Time{})
	if err != nil {
		return store.Log{}, err
	}
	l, err := record.DecodeLog(v, record.BadgerV1)
	if err != nil || l.ID != id {
		return store.Log{}, errCorrupt
	}
	return l.Log, nil
}

// ReadLog implements store.Store.
func (s *Store) ReadLog(ctx context.Context, id store.ID, after uint64, limit int) ([]store.Entry, error) {
	now := s.now()
	var out []store.Entry
	err := s.view(func(txn *bdg.Txn) error {
		if _, err := getLog(txn, id); err != nil {
			return err
		}
		if limit <= 0 {
			return nil
		}
		return scanSeq(txn, prefixEntry, id, after, now, func(seq uint64, body []byte, exp uint64) bool {
			out = append(out, store.Entry{Seq: seq, Body: body, Expires: time.Unix(int64(exp), 0)})
			return len(out) < limit
		})
	})
	return out, err
}
