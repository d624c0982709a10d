package jetstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"veil/relay/store"
)

// JetStream API error codes the store branches on.
const (
	codeWrongLastSeq      = js.JSErrCodeStreamWrongLastSequence
	codeWrongLastSeqConst = js.JSErrCodeStreamWrongLastSequenceConstant
	codeMsgNotFound       = js.JSErrCodeMessageNotFound
	codeStoreFailed       = 10077 // JSStreamStoreFailedF: limits such as MaxBytes
	codeInsufficient      = 10023 // JSInsufficientResourcesErr
)

// errConflict reports an optimistic-concurrency conflict (a
// Nats-Expected-Last-Subject-Sequence mismatch): the caller re-reads.
var errConflict = errors.New("jetstream: concurrent update")

// transient reports errors worth retrying: the cluster is electing a
// leader, a node went away, or a request timed out.
func transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, js.ErrNoStreamResponse) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, js.ErrNoHeartbeat) ||
		errors.Is(err, js.ErrAsyncPublishTimeout) || errors.Is(err, js.ErrTooManyStalledMsgs) ||
		errors.Is(err, nats.ErrDisconnected) {
		return true
	}
	var api *js.APIError
	if errors.As(err, &api) {
		// 503 is the cluster's "not now" (no leader, no quorum); a store
		// failure or a full disk is also 503 but will not pass by waiting.
		return (api.Code == 503 || api.Code == 408) &&
			api.ErrorCode != codeStoreFailed && api.ErrorCode != codeInsufficient
	}
	return errors.Is(err, errRetryDelete)
}

// errRetryDelete marks a delete the cluster refused for now.
var errRetryDelete = errors.New("jetstream: delete refused for now")

// retry runs op until it succeeds, fails for good, or ctx ends; each
// attempt gets attemptTimeout. The wait doubles from 25ms to 500ms.
func retry(ctx context.Context, op func(context.Context) error) error {
	wait := 25 * time.Millisecond
	od, _ := ctx.(*opDeadline)
	for {
		var (
			actx   context.Context
			cancel context.CancelFunc
		)
		if od != nil {
			d := time.Now().Add(attemptTimeout)
			if od.deadline.Before(d) {
				d = od.deadline
			}
			actx, cancel = context.WithDeadline(od.Context, d)
		} else {
			actx, cancel = context.WithTimeout(ctx, attemptTimeout)
		}
		err := op(actx)
		cancel()
		if !transient(err) || ctx.Err() != nil {
			if err != nil && ctx.Err() != nil && transient(err) {
				return fmt.Errorf("jetstream: cluster unavailable: %w", err)
			}
			return err
		}
		if od != nil { // its Done channel does not close at the deadline
			wait = min(wait, time.Until(od.deadline))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("jetstream: cluster unavailable: %w", err)
		case <-t.C:
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// mapPubErr turns a publish error into the store's vocabulary.
func mapPubErr(err error) error {
	var api *js.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode {
		case codeWrongLastSeq, codeWrongLastSeqConst:
			return errConflict
		case js.JSErrCodeStreamMessageExceedsMaximum:
			return fmt.Errorf("jetstream: body too large: %w", err)
		case codeStoreFailed:
			// The client keeps only the text of the server's reason.
			if strings.Contains(api.Description, "maximum messages per subject") {
				return store.ErrQuota
			}
			return fmt.Errorf("%w: %w", store.ErrDiskQuota, err)
		}
	}
	return err
}

// pub is one publish: headers, payload, and the optimistic-concurrency
// and TTL settings of spec §3.2.
type pub struct {
	subject string
	data    []byte
	header  nats.Header
	ttl     time.Duration // Nats-TTL; zero: none
	expect  *uint64       // Nats-Expected-Last-Subject-Sequence
	msgID   string        // Nats-Msg-Id; empty: a fresh random token
}

// publish stores p and returns its stream sequence once the stream's
// replicas hold it. The publish is asynchronous on the connection, so
// concurrent calls share it without waiting for each other's round
// trips, but each call waits for its own acknowledgement (spec §1.2).
// Retries carry the same Nats-Msg-Id, so a publish whose acknowledgement
// was lost is not stored twice (spec §9.1).
func (s *Store) publish(ctx context.Context, p pub) (uint64, error) {
	id := p.msgID
	if id == "" {
		id = newToken()
	}
	opts := []js.PublishOpt{js.WithMsgID(id), js.WithStallWait(attemptTimeout)}
	if p.ttl > 0 {
		opts = append(opts, js.WithMsgTTL(max(p.ttl, time.Second).Truncate(time.Second)))
	}
	if p.expect != nil {
		opts = append(opts, js.WithExpectLastSequencePerSubject(*p.expect))
	}
	var seq uint64
	err := retry(ctx, func(ctx context.Context) error {
		// A fresh message per attempt: the client keeps an abandoned
		// attempt's message and may still send it again.
		m := &nats.Msg{Subject: p.subject, Data: p.data, Header: nats.Header{}}
		for k, v := range p.header {
			m.Header[k] = v
		}
		f, err := s.js.PublishMsgAsync(m, opts...)
		if err != nil {
			return err
		}
		select {
		case ack := <-f.Ok():
			seq = ack.Sequence
			return nil
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if err != nil {
		return 0, mapPubErr(err)
	}
	return seq, nil
}

// last returns the last message on subject, or nil when there is none.
func last(ctx context.Context, st js.Stream, subject string) (*js.RawStreamMsg, error) {
	var m *js.RawStreamMsg
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		m, err = st.GetLastMsgForSubject(ctx, subject)
		return err
	})
	if errors.Is(err, js.ErrMsgNotFound) {
		return nil, nil
	}
	return m, err
}

// next returns the first message on subject with sequence >= seq, or nil.
func next(ctx context.Context, st js.Stream, seq uint64, subject string) (*js.RawStreamMsg, error) {
	var m *js.RawStreamMsg
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		m, err = st.GetMsg(ctx, seq, js.WithGetMsgSubject(subject))
		return err
	})
	if errors.Is(err, js.ErrMsgNotFound) {
		return nil, nil
	}
	return m, err
}

// bySeq returns message seq, or nil when it is not there.
func bySeq(ctx context.Context, st js.Stream, seq uint64) (*js.RawStreamMsg, error) {
	var m *js.RawStreamMsg
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		m, err = st.GetMsg(ctx, seq)
		return err
	})
	if errors.Is(err, js.ErrMsgNotFound) {
		return nil, nil
	}
	return m, err
}

// errGone reports that a delete found nothing to delete.
var errGone = errors.New("jetstream: already deleted")

// remove deletes message seq. It returns errGone when the message was
// not there at the first attempt, and nil when a retried attempt found it
// gone, since the earlier attempt may have removed it: callers that must
// know who removed a message (Ack) use removeOnce.
func remove(ctx context.Context, st js.Stream, seq uint64) error {
	err := removeOnce(ctx, st, seq)
	if errors.Is(err, errAmbiguous) {
		return nil
	}
	return err
}

// errAmbiguous: a retried delete found the message gone, and whether the
// first attempt or someone else removed it cannot be known.
var errAmbiguous = errors.New("jetstream: delete outcome unknown after a cluster fault")

// removeOnce is remove for callers that must know whether this call did
// the deleting: nil only if it certainly did.
func removeOnce(ctx context.Context, st js.Stream, seq uint64) error {
	return removeOnceConn(ctx, nil, st, seq)
}

// removeOnceConn is removeOnce sending the delete request on nc itself
// (deleteMsg) when nc is not nil: the path of every ACK.
func removeOnceConn(ctx context.Context, nc *nats.Conn, st js.Stream, seq uint64) error {
	attempts := 0
	err := retry(ctx, func(ctx context.Context) error {
		attempts++
		var err error
		if nc != nil {
			err = deleteMsg(ctx, nc, st.CachedInfo().Config.Name, seq)
		} else {
			err = st.DeleteMsg(ctx, seq)
		}
		if errors.Is(err, js.ErrMsgDeleteUnsuccessful) {
			// The client keeps only the text of the server's answer.
			switch msg := err.Error(); {
			case strings.Contains(msg, "no message found"),
				strings.Contains(msg, "err_code=10043"): // JSSequenceNotFoundErr
				return errGone
			case strings.Contains(msg, "code=503"):
				return fmt.Errorf("%w: %w", errRetryDelete, err)
			}
		}
		return err
	})
	if errors.Is(err, errGone) && attempts > 1 {
		return errAmbiguous
	}
	return err
}

// count returns how many messages subject holds.
func count(ctx context.Context, st js.Stream, subject string) (uint64, error) {
	var n uint64
	err := retry(ctx, func(ctx context.Context) error {
		info, err := st.Info(ctx, js.WithSubjectFilter(subject))
		if err != nil {
			return err
		}
		n = info.State.Subjects[subject]
		return nil
	})
	return n, err
}

// deleteMsg is js.Stream.DeleteMsg (a delete by sequence that leaves the
// bytes to compaction, spec §10) with a request body formatted in place
// and the common answer recognised without decoding it; its errors are
// the client's, so removeOnceConn reads them as it reads DeleteMsg's.
func deleteMsg(ctx context.Context, nc *nats.Conn, stream string, seq uint64) error {
	body := append(strconv.AppendUint(append([]byte(nil), deleteBody...), seq, 10), '}')
	resp, err := nc.RequestWithContext(ctx, msgDeletePrefix+stream, body)
	if err != nil {
		return err
	}
	return deleteAnswer(resp.Data)
}

// deleteAnswer reads the server's answer to a delete: nil only when it
// says the message was deleted. The server's usual answer to a delete
// that succeeded is compared whole; anything else is decoded.
func deleteAnswer(data []byte) error {
	if bytes.Equal(data, deleteOK) {
		return nil
	}
	var r struct {
		Success bool         `json:"success"`
		Error   *js.APIError `json:"error"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	if r.Success {
		return nil
	}
	if r.Error == nil {
		return fmt.Errorf("%w: no reason given", js.ErrMsgDeleteUnsuccessful)
	}
	return fmt.Errorf("%w: %s", js.ErrMsgDeleteUnsuccessful, r.Error.Error())
}

// The delete request's subject prefix and body, and the server's answer
// when the message was deleted.
const msgDeletePrefix = "$JS.API.STREAM.MSG.DELETE."

var (
	deleteBody = []byte(`{"no_erase":true,"seq":`)
	deleteOK   = []byte(`{"type":"io.nats.jetstream.api.v1.stream_msg_delete_response","success":true}`)
)
