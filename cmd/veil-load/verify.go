package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
)

// verifyState is what the send phase of --verify leaves for the receive
// phase: the mailboxes (with their keys: the file is a secret of the test
// run, written 0600) and which messages the relay acknowledged.
type verifyState struct {
	Bucket    int          `json:"bucket"`
	Mailboxes []verifyMbox `json:"mailboxes"`
}

type verifyMbox struct {
	RID     string   `json:"rid"`
	SID     string   `json:"sid"`
	KeySeed string   `json:"key_seed"`
	Cap     string   `json:"cap"`
	Sent    int      `json:"sent"`
	Acked   []uint64 `json:"acked"`
}

// runVerifySend creates cfg.conns mailboxes, sends cfg.messages messages
// into them without receiving, and writes what was acknowledged to
// statePath. It keeps going when the relay dies (every later SEND fails)
// and always writes the state it has.
func runVerifySend(ctx context.Context, cfg config, statePath string) (Result, error) {
	res := Result{Mode: "verify-send", Conns: cfg.conns, Bucket: cfg.bucket, RateTarget: cfg.rate}
	n := cfg.conns
	conns, err := dialAll(ctx, cfg.relay, n, 32, nil)
	if err != nil {
		return res, err
	}
	defer closeAll(conns)
	boxes := make([]*mailbox, n)
	setup := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			boxes[i], setup[i] = newMailbox(ctx, conns[i], cfg.password)
		}()
	}
	wg.Wait()
	if err := firstErr(setup); err != nil {
		return res, fmt.Errorf("setting up mailboxes: %w", err)
	}
	state := verifyState{Bucket: cfg.bucket, Mailboxes: make([]verifyMbox, n)}
	var errs errCount
	var sent, acked atomic.Int64
	start := time.Now()
	var ackMu sync.Mutex
	for i, c := range conns {
		per := cfg.messages / n
		if i < cfg.messages%n {
			per++
		}
		state.Mailboxes[i] = verifyMbox{
			RID: hex.EncodeToString(boxes[i].RID[:]), SID: hex.EncodeToString(boxes[i].SID[:]),
			KeySeed: hex.EncodeToString(boxes[i].Key.Seed()), Cap: hex.EncodeToString(boxes[i].Cap[:]), Sent: per,
		}
		var next atomic.Int64
		for range cfg.window {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					k := next.Add(1) - 1
					if k >= int64(per) {
						return
					}
					sent.Add(1)
					err := c.Send(ctx, boxes[i].SID, &boxes[i].Cap, makeBody(cfg.bucket, uint32(i), uint64(k), time.Since(start)))
					if err != nil {
						errs.add(fmt.Errorf("SEND: %w", err))
						if errors.Is(err, conn.ErrClosed) || ctx.Err() != nil {
							return
						}
						continue
					}
					acked.Add(1)
					ackMu.Lock()
					state.Mailboxes[i].Acked = append(state.Mailboxes[i].Acked, uint64(k))
					ackMu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	res.ElapsedSec = time.Since(start).Seconds()
	res.Sent, res.Acked = sent.Load(), acked.Load()
	res.Errors, res.FirstError = errs.get()
	b, err := json.Marshal(&state)
	if err != nil {
		return res, err
	}
	if err := os.WriteFile(statePath, b, 0o600); err != nil {
		return res, fmt.Errorf("writing state: %w", err)
	}
	return res, nil
}

// runVerifyReceive reads statePath, subscribes to every mailbox, drains
// it (ACKing each message) and counts what survived: every acknowledged
// message must be delivered (lost = 0).
func runVerifyReceive(ctx context.Context, cfg config, statePath string) (Result, error) {
	res := Result{Mode: "verify-receive"}
	b, err := os.ReadFile(statePath)
	if err != nil {
		return res, fmt.Errorf("reading state: %w", err)
	}
	var state verifyState
	if err := json.Unmarshal(b, &state); err != nil {
		return res, fmt.Errorf("reading state: %w", err)
	}
	boxes := make([]*mailbox, len(state.Mailboxes))
	for i, m := range state.Mailboxes {
		if boxes[i], err = parseStateBox(m); err != nil {
			return res, fmt.Errorf("reading state: mailbox %d: %w", i, err)
		}
	}
	n := len(boxes)
	res.Conns, res.Bucket = n, state.Bucket
	conns, err := dialAll(ctx, cfg.relay, n, 32, func(int) *conn.Options { return &conn.Options{PushBuffer: 1024} })
	if err != nil {
		return res, err
	}
	defer closeAll(conns)
	var errs errCount
	var routed atomic.Int64
	var wg sync.WaitGroup
	seen := make([][]bool, n)
	for i, c := range conns {
		m := state.Mailboxes[i]
		seen[i] = make([]bool, m.Sent)
		res.Acked += int64(len(m.Acked))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Subscribe(ctx, boxes[i].RID, boxes[i].Key); err != nil {
				errs.add(fmt.Errorf("SUB: %w", err))
				return
			}
			want := len(m.Acked)
			got := 0
			quiet := time.NewTimer(cfg.drain)
			defer quiet.Stop()
			for {
				select {
				case p, ok := <-c.Pushes():
					if !ok {
						return
					}
					if p.Type != wire.TypeMSG {
						continue
					}
					from, k, _, ok := parseBody(p.Body)
					switch {
					case !ok || from != uint32(i) || k >= uint64(len(seen[i])):
						atomic.AddInt64(&res.Unexpected, 1)
					case seen[i][k]:
						atomic.AddInt64(&res.Duplicates, 1)
					default:
						seen[i][k] = true
						got++
					}
					if err := c.Ack(ctx, boxes[i].RID, p.Seq); err != nil {
						errs.add(fmt.Errorf("ACK: %w", err))
					} else {
						routed.Add(1)
					}
					if got >= want {
						// Everything acknowledged arrived; give stragglers
						// (unacknowledged sends that were stored) a moment.
						quiet.Reset(200 * time.Millisecond)
					} else {
						quiet.Reset(cfg.drain)
					}
				case <-quiet.C:
					return
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, m := range state.Mailboxes {
		acked := make(map[uint64]bool, len(m.Acked))
		for _, k := range m.Acked {
			acked[k] = true
			if k < uint64(len(seen[i])) && seen[i][k] {
				res.Delivered++
			} else {
				res.Lost++
			}
		}
		for k, ok := range seen[i] {
			if ok && !acked[uint64(k)] {
				res.Unexpected++
			}
		}
	}
	res.ReceiverAck = routed.Load()
	res.Errors, res.FirstError = errs.get()
	return res, nil
}

func parseStateBox(m verifyMbox) (*mailbox, error) {
	var box mailbox
	for _, f := range []struct {
		dst []byte
		src string
	}{{box.RID[:], m.RID}, {box.SID[:], m.SID}, {box.Cap[:], m.Cap}} {
		b, err := hex.DecodeString(f.src)
		if err != nil || len(b) != len(f.dst) {
			return nil, errors.New("bad ID or capability")
		}
		copy(f.dst, b)
	}
	seed, err := hex.DecodeString(m.KeySeed)
	if err != nil {
		return nil, errors.New("bad key")
	}
	if box.Key, err = crypto.ParseSignPrivate(seed); err != nil {
		return nil, err
	}
	return &box, nil
}
