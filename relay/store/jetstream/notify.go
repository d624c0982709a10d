package jetstream

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"veil/relay/store"
)

// watcher is one Notify registration: a core NATS subscription on the
// mailbox's notification subject (spec §3.4). Its callback runs on the
// NATS client's goroutine for the subscription, which Unsubscribe stops.
type watcher struct {
	ch   chan struct{}
	sub  *nats.Subscription
	once sync.Once
}

func (w *watcher) wake() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

func (w *watcher) unsubscribe() {
	w.once.Do(func() {
		if w.sub != nil {
			_ = w.sub.Unsubscribe()
		}
	})
}

// Notify implements store.Store. The notification crosses the cluster: a
// Send through any relay node publishes on the mailbox's notification
// subject, and NATS routes it to whichever nodes have a watcher. After a
// reconnection every watcher is woken once, since notifications sent
// while disconnected are lost.
func (s *Store) Notify(rid store.ID) (<-chan struct{}, func()) {
	w := &watcher{ch: make(chan struct{}, 1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return w.ch, func() {}
	}
	s.watchers[w] = struct{}{}
	s.mu.Unlock()
	sub, err := s.nc.Subscribe(s.names.notifySubject(rid), func(*nats.Msg) { w.wake() })
	if err != nil {
		// Only when the connection is closed; the store is closing too.
		s.log.Warn("jetstream: notify subscription failed", "err", err)
	} else {
		w.sub = sub
		// Make sure the server holds the interest before the caller reads
		// what is pending, so a Send after that read is not missed.
		_ = s.nc.FlushTimeout(time.Second)
	}
	return w.ch, func() {
		s.mu.Lock()
		delete(s.watchers, w)
		s.mu.Unlock()
		w.unsubscribe()
	}
}

// wakeAll wakes every watcher and log watcher (after a reconnection).
func (s *Store) wakeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers {
		w.wake()
	}
	for w := range s.logWatchers {
		w.wake(0)
	}
}

// claim is one live-subscriber claim held on this node (spec §7).
type claim struct {
	rid   store.ID
	token string
	rev   uint64 // the claim's sequence in the claims bucket
	lost  chan struct{}
	once  sync.Once
}

func (c *claim) end() { c.once.Do(func() { close(c.lost) }) }

// Claim implements store.Claimer (spec §7): it writes a fresh token under
// the mailbox's key in the claims bucket. The node's claim watcher sees
// every later write to the bucket in stream order and ends a local claim
// when a newer write for its mailbox carries another token; a read after
// registering covers a takeover that happened before the watcher saw it.
func (s *Store) Claim(ctx context.Context, rid store.ID) (<-chan struct{}, func(), error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer cancel()
	if err := s.startClaimWatcher(ctx); err != nil {
		return nil, nil, err
	}
	c := &claim{rid: rid, token: newToken(), lost: make(chan struct{})}
	subject := kvSubject(s.names.claimBucket, rid)
	c.rev, err = s.publish(ctx, pub{subject: subject, data: []byte(c.token), ttl: claimTTL})
	if err != nil {
		return nil, nil, fmt.Errorf("jetstream: claim: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, store.ErrClosed
	}
	set := s.claimSet[rid]
	if set == nil {
		set = map[*claim]struct{}{}
		s.claimSet[rid] = set
	}
	set[c] = struct{}{}
	s.mu.Unlock()
	latest, err := last(ctx, s.claims, subject)
	if err == nil && latest != nil && latest.Sequence > c.rev && string(latest.Data) != c.token {
		c.end()
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			s.mu.Lock()
			if set := s.claimSet[rid]; set != nil {
				delete(set, c)
				if len(set) == 0 {
					delete(s.claimSet, rid)
				}
			}
			closed := s.closed
			s.mu.Unlock()
			c.end()
			if closed {
				return
			}
			// Remove the record if it is still ours (a newer claim has
			// already replaced it otherwise): best effort, its TTL is
			// the backstop.
			ctx, cancel := context.WithTimeout(context.Background(), attemptTimeout)
			defer cancel()
			_ = remove(ctx, s.claims, c.rev)
		})
	}
	return c.lost, release, nil
}

// startClaimWatcher starts the node's one ordered consumer on the claims
// bucket, delivering only writes made from now on. It is owned by the
// store and stopped by Close.
func (s *Store) startClaimWatcher(ctx context.Context) error {
	s.mu.Lock()
	running := s.claimCC != nil
	s.mu.Unlock()
	if running {
		return nil
	}
	var cons js.Consumer
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		cons, err = s.claims.OrderedConsumer(ctx, js.OrderedConsumerConfig{
			DeliverPolicy:     js.DeliverNewPolicy,
			InactiveThreshold: time.Minute,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("jetstream: claim watcher: %w", err)
	}
	cc, err := cons.Consume(s.onClaim)
	if err != nil {
		return fmt.Errorf("jetstream: claim watcher: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.claimCC != nil || s.closed { // another Claim won the race, or Close ran
		cc.Stop()
		if s.closed {
			return store.ErrClosed
		}
		return nil
	}
	s.claimCC = cc
	return nil
}

// onClaim ends the local claims that a newer claim replaced.
func (s *Store) onClaim(msg js.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		return
	}
	rid, ok := lastToken(msg.Subject())
	if !ok {
		return
	}
	token := string(msg.Data())
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.claimSet[rid] {
		if c.token != token && c.rev < md.Sequence.Stream {
			c.end()
		}
	}
}
