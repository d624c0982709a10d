// Package memory is a relay store that keeps everything in memory: for
// tests, and to measure the relay's bare ceiling without durability. It
// loses everything when the process ends, so its writes are "durable" only
// in the sense of the store.Store contract within one process.
package memory

import (
	"context"
	"slices"
	"sync"
	"time"

	"veil/relay/store"
)

// day is the granularity of mailbox times (store.Mailbox).
const day = 24 * time.Hour

// Config configures a Store. The zero value is usable.
type Config struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MaxBytes is the limit on stored bodies; Send, Append and PutBlob
	// fail with store.ErrDiskQuota above it. Zero means no limit.
	MaxBytes int64
}

// Store is an in-memory store.Store.
type Store struct {
	now      func() time.Time
	maxBytes int64

	mu       sync.Mutex // guards every field below
	closed   bool
	size     int64
	boxes    map[store.ID]*mailbox // by recipient ID
	senders  map[store.ID]*mailbox // by sender ID
	blobs    map[store.ID]blob
	chunks   map[store.ID]store.Chunk
	chunkLen int64 // bytes of chunk bodies, also counted in size
	logs     map[store.ID]*log
	watchers map[store.ID]map[*watcher]struct{}
}

var (
	_ store.Store      = (*Store)(nil)
	_ store.ChunkStore = (*Store)(nil)
)

type mailbox struct {
	meta    store.Mailbox
	lastSeq uint64
	msgs    []store.Message // ascending Seq
}

// blob is a stored blob, or once taken the reservation of its ID until
// its deadline (store.Store.TakeBlob): taken set and no body.
type blob struct {
	body     []byte
	deadline time.Time
	taken    bool
}

type log struct {
	meta    store.Log
	lastSeq uint64
	entries []store.Entry // ascending Seq
}

type watcher struct{ ch chan struct{} }

// New returns an empty store.
func New(cfg Config) *Store {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Store{
		now:      now,
		maxBytes: cfg.MaxBytes,
		boxes:    map[store.ID]*mailbox{},
		senders:  map[store.ID]*mailbox{},
		blobs:    map[store.ID]blob{},
		chunks:   map[store.ID]store.Chunk{},
		logs:     map[store.ID]*log{},
		watchers: map[store.ID]map[*watcher]struct{}{},
	}
}

// lock takes the mutex and reports ErrClosed if the store is closed, in
// which case the mutex is released again.
func (s *Store) lock() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	return nil
}

func dayOf(t time.Time) time.Time { return t.UTC().Truncate(day) }

// touchLocked marks mb active today; the time changes at most once a day.
func (s *Store) touchLocked(mb *mailbox) {
	if today := dayOf(s.now()); today.After(mb.meta.LastActive) {
		mb.meta.LastActive = today
	}
}

func (s *Store) fullLocked(n int) bool {
	return s.maxBytes > 0 && s.size+int64(n) > s.maxBytes
}

// CreateMailbox implements store.Store.
func (s *Store) CreateMailbox(ctx context.Context, m store.Mailbox) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.boxes[m.RecipientID] != nil || s.senders[m.SenderID] != nil {
		return store.ErrExists
	}
	now := s.now()
	if m.Created.IsZero() {
		m.Created = now
	}
	if m.LastActive.IsZero() {
		m.LastActive = now
	}
	m.Created, m.LastActive = dayOf(m.Created), dayOf(m.LastActive)
	m.SenderKey = slices.Clone(m.SenderKey)
	mb := &mailbox{meta: m}
	s.boxes[m.RecipientID] = mb
	s.senders[m.SenderID] = mb
	return nil
}

func copyMailbox(m store.Mailbox) store.Mailbox {
	m.SenderKey = slices.Clone(m.SenderKey)
	return m
}

// Mailbox implements store.Store.
func (s *Store) Mailbox(ctx context.Context, rid store.ID) (store.Mailbox, error) {
	if err := s.lock(); err != nil {
		return store.Mailbox{}, err
	}
	defer s.mu.Unlock()
	mb := s.boxes[rid]
	if mb == nil {
		return store.Mailbox{}, store.ErrNotFound
	}
	return copyMailbox(mb.meta), nil
}

// MailboxBySender implements store.Store.
func (s *Store) MailboxBySender(ctx context.Context, sid store.ID) (store.Mailbox, error) {
	if err := s.lock(); err != nil {
		return store.Mailbox{}, err
	}
	defer s.mu.Unlock()
	mb := s.senders[sid]
	if mb == nil {
		return store.Mailbox{}, store.ErrNotFound
	}
	return copyMailbox(mb.meta), nil
}

// Secure implements store.Store.
func (s *Store) Secure(ctx context.Context, sid store.ID, senderKey []byte) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	mb := s.senders[sid]
	if mb == nil {
		return store.ErrNotFound
	}
	if len(mb.meta.SenderKey) != 0 {
		return store.ErrAlreadySecured
	}
	mb.meta.SenderKey = slices.Clone(senderKey)
	s.touchLocked(mb)
	return nil
}

// DeleteMailbox implements store.Store.
func (s *Store) DeleteMailbox(ctx context.Context, rid store.ID) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	mb := s.boxes[rid]
	if mb == nil {
		return store.ErrNotFound
	}
	s.deleteMailboxLocked(mb)
	return nil
}

func (s *Store) deleteMailboxLocked(mb *mailbox) {
	for _, m := range mb.msgs {
		s.size -= int64(len(m.Body))
	}
	delete(s.boxes, mb.meta.RecipientID)
	delete(s.senders, mb.meta.SenderID)
}

// Send implements store.Store.
func (s *Store) Send(ctx context.Context, sid store.ID, body []byte, ttl time.Duration, maxPending int) (uint64, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	mb := s.senders[sid]
	if mb == nil {
		return 0, store.ErrNotFound
	}
	now := s.now()
	mb.msgs = s.dropExpiredLocked(mb.msgs, now)
	if len(mb.msgs) >= maxPending {
		return 0, store.ErrQuota
	}
	if s.fullLocked(len(body)) {
		return 0, store.ErrDiskQuota
	}
	mb.lastSeq++
	mb.msgs = append(mb.msgs, store.Message{Seq: mb.lastSeq, Body: slices.Clone(body), Expires: now.Add(ttl)})
	s.size += int64(len(body))
	s.touchLocked(mb)
	for w := range s.watchers[mb.meta.RecipientID] {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
	return mb.lastSeq, nil
}

// dropExpiredLocked removes messages that expired at or before now.
func (s *Store) dropExpiredLocked(msgs []store.Message, now time.Time) []store.Message {
	return slices.DeleteFunc(msgs, func(m store.Message) bool {
		if !m.Expires.After(now) {
			s.size -= int64(len(m.Body))
			return true
		}
		return false
	})
}

// Pending implements store.Store.
func (s *Store) Pending(ctx context.Context, rid store.ID, after uint64, limit int) ([]store.Message, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	mb := s.boxes[rid]
	if mb == nil {
		return nil, store.ErrNotFound
	}
	s.touchLocked(mb)
	now := s.now()
	var out []store.Message
	for _, m := range mb.msgs {
		if len(out) >= limit {
			break
		}
		if m.Seq > after && m.Expires.After(now) {
			m.Body = slices.Clone(m.Body)
			out = append(out, m)
		}
	}
	return out, nil
}

// Ack implements store.Store.
func (s *Store) Ack(ctx context.Context, rid store.ID, seq uint64) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	mb := s.boxes[rid]
	if mb == nil {
		return store.ErrNotFound
	}
	i, ok := slices.BinarySearchFunc(mb.msgs, seq, func(m store.Message, seq uint64) int {
		switch {
		case m.Seq < seq:
			return -1
		case m.Seq > seq:
			return 1
		}
		return 0
	})
	if !ok {
		return store.ErrNotFound
	}
	s.size -= int64(len(mb.msgs[i].Body))
	mb.msgs = slices.Delete(mb.msgs, i, i+1)
	s.touchLocked(mb)
	return nil
}

// Notify implements store.Store.
func (s *Store) Notify(rid store.ID) (<-chan struct{}, func()) {
	w := &watcher{ch: make(chan struct{}, 1)}
	if err := s.lock(); err != nil {
		return w.ch, func() {}
	}
	defer s.mu.Unlock()
	set := s.watchers[rid]
	if set == nil {
		set = map[*watcher]struct{}{}
		s.watchers[rid] = set
	}
	set[w] = struct{}{}
	var once sync.Once
	return w.ch, func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if set := s.watchers[rid]; set != nil {
				delete(set, w)
				if len(set) == 0 {
					delete(s.watchers, rid)
				}
			}
		})
	}
}

// PutBlob implements store.Store.
func (s *Store) PutBlob(ctx context.Context, id store.ID, body []byte, deadline time.Time) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if b, ok := s.blobs[id]; ok {
		if b.deadline.After(s.now()) {
			return store.ErrExists
		}
		s.size -= int64(len(b.body))
		delete(s.blobs, id)
	}
	if s.fullLocked(len(body)) {
		return store.ErrDiskQuota
	}
	s.blobs[id] = blob{body: slices.Clone(body), deadline: deadline}
	s.size += int64(len(body))
	return nil
}

// TakeBlob implements store.Store.
func (s *Store) TakeBlob(ctx context.Context, id store.ID) ([]byte, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	b, ok := s.blobs[id]
	if !ok || b.taken {
		return nil, store.ErrNotFound
	}
	s.size -= int64(len(b.body))
	if !b.deadline.After(s.now()) {
		delete(s.blobs, id)
		return nil, store.ErrNotFound
	}
	s.blobs[id] = blob{deadline: b.deadline, taken: true}
	return b.body, nil
}

// CreateLog implements store.Store.
func (s *Store) CreateLog(ctx context.Context, l store.Log) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.logs[l.ID] != nil {
		return store.ErrExists
	}
	if l.Created.IsZero() {
		l.Created = s.now()
	}
	l.Created = dayOf(l.Created)
	s.logs[l.ID] = &log{meta: l}
	return nil
}

// LogInfo implements store.Store.
func (s *Store) LogInfo(ctx context.Context, id store.ID) (store.Log, error) {
	if err := s.lock(); err != nil {
		return store.Log{}, err
	}
	defer s.mu.Unlock()
	l := s.logs[id]
	if l == nil {
		return store.Log{}, store.ErrNotFound
	}
	return l.meta, nil
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, id store.ID, body []byte) (uint64, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	l := s.logs[id]
	if l == nil {
		return 0, store.ErrNotFound
	}
	if s.fullLocked(len(body)) {
		return 0, store.ErrDiskQuota
	}
	l.lastSeq++
	l.entries = append(l.entries, store.Entry{Seq: l.lastSeq, Body: slices.Clone(body), Expires: s.now().Add(l.meta.TTL)})
	s.size += int64(len(body))
	return l.lastSeq, nil
}

// ReadLog implements store.Store.
func (s *Store) ReadLog(ctx context.Context, id store.ID, after uint64, limit int) ([]store.Entry, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	l := s.logs[id]
	if l == nil {
		return nil, store.ErrNotFound
	}
	now := s.now()
	var out []store.Entry
	for _, e := range l.entries {
		if len(out) >= limit {
			break
		}
		if e.Seq > after && e.Expires.After(now) {
			e.Body = slices.Clone(e.Body)
			out = append(out, e)
		}
	}
	return out, nil
}

// DeleteLog implements store.Store.
func (s *Store) DeleteLog(ctx context.Context, id store.ID) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	l := s.logs[id]
	if l == nil {
		return store.ErrNotFound
	}
	for _, e := range l.entries {
		s.size -= int64(len(e.Body))
	}
	delete(s.logs, id)
	return nil
}

// Expire implements store.Store.
func (s *Store) Expire(ctx context.Context, now, idleBefore time.Time) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, mb := range s.boxes {
		if mb.meta.LastActive.Before(idleBefore) {
			s.deleteMailboxLocked(mb)
			continue
		}
		mb.msgs = s.dropExpiredLocked(mb.msgs, now)
	}
	for id, b := range s.blobs {
		if !b.deadline.After(now) {
			s.size -= int64(len(b.body))
			delete(s.blobs, id)
		}
	}
	for id, c := range s.chunks {
		if !c.Expires.After(now) {
			s.dropChunkLocked(id, c)
		}
	}
	for _, l := range s.logs {
		l.entries = slices.DeleteFunc(l.entries, func(e store.Entry) bool {
			if !e.Expires.After(now) {
				s.size -= int64(len(e.Body))
				return true
			}
			return false
		})
	}
	return nil
}

// Size returns the bytes of stored bodies.
func (s *Store) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// Close implements store.Store. Pending Notify channels stop firing.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.watchers = map[store.ID]map[*watcher]struct{}{}
	return nil
}
