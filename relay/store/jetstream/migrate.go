package jetstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"veil/relay/store"
)

// migrateRounds bounds how often migrate copies an unsharded stream that
// keeps receiving messages.
const migrateRounds = 5

// migrateParallel is how many copies migrate keeps in flight.
const migrateParallel = 64

// migrate moves the messages of the unsharded message stream of earlier releases
// (`P_MSG`, spec §3.6) into the shards and then deletes that stream. Each
// copy keeps the message's body and expiry and carries a Nats-Msg-Id
// derived from its old sequence, so nodes that start together store it
// once; a copy interrupted by a crash is done again at the next start
// (a message then may be delivered twice, which spec/relay.md §8.3
// allows). The stream is deleted only after a pass saw no message arrive
// behind it; a message the shard refuses (its mailbox is full) keeps the
// stream alive until a later start.
func (s *Store) migrate(ctx context.Context) error {
	var old js.Stream
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		old, err = s.js.Stream(ctx, s.names.msgStream)
		return err
	})
	if errors.Is(err, js.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("jetstream: migrate: %w", err)
	}
	for range migrateRounds {
		top := old.CachedInfo().State.LastSeq
		kept, err := s.copyLegacy(ctx, old)
		if err != nil {
			return fmt.Errorf("jetstream: migrate: %w", err)
		}
		info, err := old.Info(ctx)
		if err != nil {
			return fmt.Errorf("jetstream: migrate: %w", err)
		}
		if kept > 0 {
			s.log.Warn("jetstream: messages left in the unsharded stream: their mailboxes are full", "messages", kept)
			return nil
		}
		if info.State.LastSeq == top {
			err := retry(ctx, func(ctx context.Context) error {
				return s.js.DeleteStream(ctx, s.names.msgStream)
			})
			if err != nil && !errors.Is(err, js.ErrStreamNotFound) {
				return fmt.Errorf("jetstream: migrate: %w", err)
			}
			s.log.Info("jetstream: unsharded message stream moved into shards")
			return nil
		}
	}
	return errors.New("jetstream: migrate: the unsharded message stream keeps growing: stop every relay node of an older version")
}

// copyLegacy copies every live message of old into its shard and returns
// how many the shards refused. Copies to different mailboxes run in
// parallel; those to one mailbox one after another, in stream order, so
// its messages keep their order.
func (s *Store) copyLegacy(ctx context.Context, old js.Stream) (int, error) {
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, migrateParallel)
		mu    sync.Mutex // guards kept and errs
		kept  int
		errs  []error
		now   = s.now()
		begun = time.Now()
		prev  = map[store.ID]chan struct{}{} // each mailbox's last copy
	)
	err := scan(ctx, old, false, func(r scanned) error {
		rid, ok := lastToken(r.subject)
		if !ok || r.subject != s.names.legacySubject(rid) {
			return nil // not the store's; deleted with the stream
		}
		exp, err := parseMillis(r.header.Get(hdrExpires))
		if err != nil || !exp.After(now) {
			return nil // expired or not the store's
		}
		k := shardOf(rid, len(s.msgs))
		p := pub{
			subject: s.names.msgSubject(k, rid),
			data:    r.data,
			header:  nats.Header{hdrExpires: []string{formatMillis(exp)}},
			ttl:     exp.Sub(now) + time.Second, // rounded down by publish
			msgID:   "migrate-" + formatUint(r.seq),
		}
		wait, done := prev[rid], make(chan struct{})
		prev[rid] = done
		sem <- struct{}{}
		wg.Add(1)
		go func() { // owned by copyLegacy, which waits for it
			defer func() { close(done); <-sem; wg.Done() }()
			if wait != nil {
				<-wait
			}
			_, err := s.publish(ctx, p)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
			case errors.Is(err, store.ErrQuota):
				kept++
			default:
				errs = append(errs, err)
			}
		}()
		return nil
	})
	wg.Wait()
	if err != nil {
		return 0, err
	}
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	s.log.Info("jetstream: unsharded messages copied", "took", time.Since(begun))
	return kept, nil
}
