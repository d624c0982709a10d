package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"veil/relay/store"
)

// migrateRounds bounds how often migrate copies an unsharded stream that
// keeps receiving messages before it seals it.
const migrateRounds = 5

// migrateParallel is how many copies migrate keeps in flight.
const migrateParallel = 64

// migrate moves the messages of the unsharded message stream of earlier
// releases (`P_MSG`, spec §3.6) into the shards and then deletes that
// stream. Each copy keeps the message's body and expiry and carries a
// Nats-Msg-Id derived from the old stream's creation time and the
// message's old sequence, so nodes that start together store it once.
//
// While the stream still takes messages, each one is deleted from it once
// its copy is acknowledged, so a message its mailbox's quota refuses keeps
// only itself (and the messages behind it in that mailbox) for a later
// start. When a round leaves nothing refused, migrate seals the stream:
// an older node's publish now fails instead of being acknowledged and
// then deleted with the stream. It copies what arrived before the seal
// and deletes the stream.
//
// A node that finds the stream gone part-way (another node finished the
// move) returns without error.
func (s *Store) migrate(ctx context.Context) error {
	err := s.migrateLegacy(ctx)
	if err == nil {
		return nil
	}
	// Past ctx's end too: a node that waited on a stream another node
	// deleted must still be able to see that.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), attemptTimeout)
	defer cancel()
	if s.legacyGone(cctx) {
		n, cerr := s.shardCount(cctx, len(s.msgs))
		if cerr == nil && n == len(s.msgs) {
			s.log.Info("jetstream: another node moved the unsharded message stream into shards")
			return nil
		}
	}
	return fmt.Errorf("jetstream: migrate: %w", err)
}

// legacyGone reports whether the unsharded stream certainly no longer
// exists.
func (s *Store) legacyGone(ctx context.Context) bool {
	err := retry(ctx, func(ctx context.Context) error {
		_, err := s.js.Stream(ctx, s.names.msgStream)
		return err
	})
	return errors.Is(err, js.ErrStreamNotFound)
}

func (s *Store) migrateLegacy(ctx context.Context) error {
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
		return err
	}
	info := old.CachedInfo()
	// A P_MSG created again later numbers from 1 again: its creation
	// time keeps its copies' IDs apart from an earlier one's.
	idPrefix := "migrate-" + strconv.FormatInt(info.Created.UnixNano(), 10) + "-"
	if !info.Config.Sealed {
		for range migrateRounds {
			copied, kept, err := s.copyLegacy(ctx, old, idPrefix, true)
			if err != nil {
				return err
			}
			if kept > 0 {
				s.log.Warn("jetstream: messages left in the unsharded stream: their mailboxes are full", "messages", kept)
				return nil
			}
			if copied == 0 {
				break
			}
		}
		cfg := info.Config
		cfg.Sealed = true
		err := retry(ctx, func(ctx context.Context) error {
			_, err := s.js.UpdateStream(ctx, cfg)
			return err
		})
		if err != nil {
			return err
		}
	}
	// Sealed: nothing arrives any more, and nothing can be deleted from
	// it; copy what the rounds above did not see, then delete it whole.
	_, kept, err := s.copyLegacy(ctx, old, idPrefix, false)
	if err != nil {
		return err
	}
	if kept > 0 {
		s.log.Warn("jetstream: messages left in the sealed unsharded stream: their mailboxes are full", "messages", kept)
		return nil
	}
	err = retry(ctx, func(ctx context.Context) error {
		return s.js.DeleteStream(ctx, s.names.msgStream)
	})
	if err != nil && !errors.Is(err, js.ErrStreamNotFound) {
		return err
	}
	s.log.Info("jetstream: unsharded message stream moved into shards")
	return nil
}

// sealedErr reports whether err is the server's refusal to change a
// sealed stream.
func sealedErr(err error) bool {
	var api *js.APIError
	if errors.As(err, &api) && api.ErrorCode == codeStreamSealed {
		return true
	}
	// A refused delete keeps only the text of the server's answer.
	return err != nil && strings.Contains(err.Error(), "err_code=10109")
}

// codeStreamSealed is the server's "invalid operation on sealed stream".
const codeStreamSealed = 10109

// copyLegacy copies every live message of old into its shard and returns
// how many it copied and how many the shards refused. With del it deletes
// each copied message from old once the copy is acknowledged (a stream
// sealed meanwhile keeps them). Copies to different mailboxes run in
// parallel; those to one mailbox one after another, in stream order, so
// its messages keep their order. A copy acknowledged as a duplicate is
// one of the same message by a node that started together with this one.
func (s *Store) copyLegacy(ctx context.Context, old js.Stream, idPrefix string, del bool) (int, int, error) {
	var (
		wg     sync.WaitGroup
		sem    = make(chan struct{}, migrateParallel)
		mu     sync.Mutex // guards copied, kept and errs
		copied int
		kept   int
		errs   []error
		now    = s.now()
		begun  = time.Now()
		prev   = map[store.ID]chan struct{}{} // each mailbox's last copy
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
			msgID:   idPrefix + formatUint(r.seq),
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
			if err == nil && del {
				err = remove(ctx, old, r.seq)
				if errors.Is(err, errGone) || sealedErr(err) {
					err = nil // another node copied and deleted it, or sealed the stream
				}
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				copied++
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
		return 0, 0, err
	}
	if err := errors.Join(errs...); err != nil {
		return 0, 0, err
	}
	s.log.Info("jetstream: unsharded messages copied", "messages", copied, "took", time.Since(begun))
	return copied, kept, nil
}
