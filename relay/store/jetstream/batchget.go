package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"veil/relay/store"
)

// maxBatch bounds the messages one batch read asks for.
const maxBatch = 256

// batchMaxBytes bounds the bodies one batch read asks for; the server
// always sends at least one message, however large.
const batchMaxBytes = 1 << 20

// batchGets reads with batch direct gets (spec §3.3, nats-server 2.11 or
// later): one request, answered by up to n messages and an end-of-batch
// status saying how many more match. The answers of every request arrive
// on one wildcard subscription, created on first use, and go to the
// request's channel by the reply subject's last token.
type batchGets struct {
	mu      sync.Mutex // guards the fields below
	prefix  string     // the reply subjects' prefix, ending in '.'
	sub     *nats.Subscription
	next    uint64
	waiting map[string]chan *nats.Msg
	stopped bool // by Close: no subscription is made after it
}

// start subscribes to the reply subjects if that has not been done.
func (b *batchGets) start(nc *nats.Conn) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return store.ErrClosed
	}
	if b.sub != nil {
		return nil
	}
	// A fresh inbox, not the client's request inbox: its requests'
	// answers must not reach this subscription.
	prefix := nc.NewInbox() + "."
	sub, err := nc.Subscribe(prefix+"*", b.route)
	if err != nil {
		return err
	}
	// Each request's answers are bounded by n and batchMaxBytes.
	_ = sub.SetPendingLimits(-1, -1)
	b.prefix, b.sub, b.waiting = prefix, sub, map[string]chan *nats.Msg{}
	return nil
}

// stop removes the subscription (Close).
func (b *batchGets) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	if b.sub != nil {
		_ = b.sub.Unsubscribe()
		b.sub = nil
	}
}

func lastTokenOf(subject string) string {
	for i := len(subject) - 1; i >= 0; i-- {
		if subject[i] == '.' {
			return subject[i+1:]
		}
	}
	return subject
}

// route hands an answer to its request; answers to a request that gave
// up are dropped.
func (b *batchGets) route(m *nats.Msg) {
	b.mu.Lock()
	ch := b.waiting[lastTokenOf(m.Subject)]
	b.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- m:
	default: // more than was asked for: not a batch answer
	}
}

// register returns a fresh reply subject with room for n answers.
func (b *batchGets) register(n int) (string, string, chan *nats.Msg) {
	ch := make(chan *nats.Msg, n)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	token := strconv.FormatUint(b.next, 36)
	b.waiting[token] = ch
	return token, b.prefix + token, ch
}

func (b *batchGets) unregister(token string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.waiting, token)
}

// batchNext returns up to n messages on subject from sequence from on,
// in order, read by one batch direct get, and whether more follow them.
func (s *Store) batchNext(ctx context.Context, st js.Stream, subject string, from uint64, n int) ([]*nats.Msg, bool, error) {
	if err := s.gets.start(s.nc); err != nil {
		return nil, false, err
	}
	var (
		out  []*nats.Msg
		more bool
	)
	err := retry(ctx, func(ctx context.Context) error {
		out, more = out[:0], false
		token, reply, ch := s.gets.register(n + 1)
		defer s.gets.unregister(token)
		req := fmt.Appendf(nil, `{"seq":%d,"next_by_subj":%q,"batch":%d,"max_bytes":%d}`, from, subject, n, batchMaxBytes)
		err := s.nc.PublishMsg(&nats.Msg{Subject: directGetPrefix + st.CachedInfo().Config.Name, Reply: reply, Data: req})
		if err != nil {
			return err
		}
		for {
			select {
			case m := <-ch:
				end, pending, err := batchStatus(m)
				if err != nil || end {
					more = pending
					return err
				}
				out = append(out, m)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	return out, more, err
}

// batchStatus reads one answer to a batch direct get: a message (end
// false), or the end of the answers (end true; more when messages
// matching the request follow the batch), or an error. 503 (no
// responders: the stream has no leader now) is retried; 408 is the
// server refusing the request as malformed, which no retry mends.
func batchStatus(m *nats.Msg) (end, more bool, err error) {
	switch status := m.Header.Get("Status"); status {
	case "":
		return false, false, nil
	case "404": // nothing from the request's sequence on
		return true, false, nil
	case "204": // the end of the batch
		return true, m.Header.Get("Nats-Num-Pending") != "0", nil
	case "503":
		return true, false, nats.ErrNoResponders
	default:
		return true, false, fmt.Errorf("%w: status %s %s", errBatchGet, status, m.Header.Get("Description"))
	}
}

// directGetPrefix is the subject prefix of direct gets.
const directGetPrefix = "$JS.API.DIRECT.GET."

var errBatchGet = errors.New("jetstream: batch read refused")

// batchHeaders reads the stream sequence and subject a batch answer
// carries.
func batchHeaders(m *nats.Msg) (uint64, string, error) {
	seq, err := strconv.ParseUint(m.Header.Get(js.SequenceHeader), 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("%w: no sequence", errBatchGet)
	}
	return seq, m.Header.Get(js.SubjectHeader), nil
}
