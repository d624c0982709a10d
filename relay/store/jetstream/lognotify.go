package jetstream

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"veil/relay/store"
)

// logWatcher is one NotifyLog registration: a core NATS subscription on
// the log's notification subject (spec §5.5). Its callback runs on the
// NATS client's goroutine for the subscription, which Unsubscribe stops.
type logWatcher struct {
	mu   sync.Mutex // makes a wake's drain and send one step
	ch   chan uint64
	sub  *nats.Subscription
	once sync.Once
}

// wake hands n to the channel without blocking, merged with an unread
// value: the larger number, or 0 when either is 0 (numbers unknown: the
// receiver looks at the log itself, which covers any number).
func (w *logWatcher) wake(n uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case old := <-w.ch:
		if old == 0 || n == 0 {
			n = 0
		} else {
			n = max(old, n)
		}
	default:
	}
	w.ch <- n // cannot block: the buffer is empty and senders hold mu
}

func (w *logWatcher) unsubscribe() {
	w.once.Do(func() {
		if w.sub != nil {
			_ = w.sub.Unsubscribe()
		}
	})
}

// NotifyLog implements store.LogNotifier (spec §5.5): an Append through
// any relay node publishes the entry's number on the log's notification
// subject. After a reconnection every log watcher gets 0, since numbers
// published while disconnected are lost.
func (s *Store) NotifyLog(id store.ID) (<-chan uint64, func()) {
	w := &logWatcher{ch: make(chan uint64, 1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return w.ch, func() {}
	}
	s.logWatchers[w] = struct{}{}
	s.mu.Unlock()
	sub, err := s.nc.Subscribe(s.names.logNotifySubject(id), func(m *nats.Msg) {
		if len(m.Data) == 8 {
			if n := binary.BigEndian.Uint64(m.Data); n != 0 {
				w.wake(n)
			}
		}
	})
	if err != nil {
		s.log.Warn("jetstream: log notify subscription failed", "err", err)
	} else {
		w.sub = sub
		// The server holds the interest before the caller reads what the
		// log holds, so an append after that read is not missed.
		_ = s.nc.FlushTimeout(time.Second)
	}
	return w.ch, func() {
		s.mu.Lock()
		delete(s.logWatchers, w)
		s.mu.Unlock()
		w.unsubscribe()
	}
}

// appended publishes an appended entry's number to the log's watchers on
// every node: core NATS, at most once (§5.5).
func (s *Store) appended(id store.ID, n uint64) {
	_ = s.nc.Publish(s.names.logNotifySubject(id), binary.BigEndian.AppendUint64(nil, n))
}
