package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
)

// config is one run's settings (see usage in main.go).
type config struct {
	relay    string
	conns    int
	messages int
	rate     float64 // messages per second over all connections; 0: as fast as possible
	bucket   int
	window   int // SENDs in flight per connection
	password []byte
	drain    time.Duration // how long to wait for deliveries after the last send
	// forward, when set, is the address of a forwarding relay: senders
	// get a route to relay there once per connection and send through
	// it (spec/relay.md §7.6); receivers stay on relay.
	forward         string
	forwardPassword []byte
	// relayPID, forwardPID and metrics locate the relays' CPU time: the
	// pids of --relay and --forward (read from /proc) or the metrics URL
	// of --relay; zero or empty where unknown.
	relayPID, forwardPID int
	metrics              string
}

// runMailbox is the default mode: conns connections, each with its own
// mailbox; connection i sends to the mailbox of connection i+1 (a ring),
// so every message crosses the relay from one connection to another. Each
// receiver ACKs what it gets. It returns when every acknowledged message
// has been delivered and ACKed, or cfg.drain after the last send.
//
// veil-load shares the machine with the relay it measures, so a message
// costs it as little as it can: no goroutine per connection (the pacer
// releases messages and the relay's answers refill the windows, see
// sender), deliveries handled on each connection's reader goroutine
// (conn.Options.OnPush) and ACKed from there, and no copy of a body.
func runMailbox(ctx context.Context, cfg config) (Result, error) {
	res := Result{Mode: "mailbox", Conns: cfg.conns, Bucket: cfg.bucket, RateTarget: cfg.rate}
	n := cfg.conns
	recvs := make([]*receiver, n)
	conns, err := dialAll(ctx, cfg.relay, n, 32, func(i int) *conn.Options {
		return &conn.Options{OnPush: func(p conn.Push) { recvs[i].push(p) }}
	})
	if err != nil {
		return res, err
	}
	defer closeAll(conns)
	send, closeSenders, err := senders(ctx, cfg, conns)
	if err != nil {
		return res, err
	}
	defer closeSenders()
	if cfg.forward != "" {
		res.Mode = "mailbox-forward"
	}
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

	perConn := make([]int, n)
	total := 0
	for i := range n {
		perConn[i] = cfg.messages / n
		if i < cfg.messages%n {
			perConn[i]++
		}
		total += perConn[i]
	}
	var stopped atomic.Bool
	run := &mailboxRun{window: cfg.window, stopped: stopped.Load}
	sends := make([]*sender, n)
	for i := range n {
		sends[i] = &sender{i: i, dst: boxes[(i+1)%n], send: send, run: run,
			acked: make([]atomic.Bool, perConn[i]), body: makeBody(cfg.bucket, 0, 0, 0)}
		from := (i + n - 1) % n
		recvs[i] = &receiver{from: uint32(from), seen: make([]bool, perConn[from]),
			lat: make([]int64, 0, perConn[from]), c: conns[i], rid: boxes[i].RID, run: run}
		if cfg.rate > 0 {
			recvs[i].latDue = make([]int64, 0, perConn[from])
		}
		recvs[i].ackDone = recvs[i].acked
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			setup[i] = conns[i].Subscribe(ctx, boxes[i].RID, boxes[i].Key)
		}()
	}
	wg.Wait()
	if err := firstErr(setup); err != nil {
		return res, fmt.Errorf("subscribing: %w", err)
	}
	pace := newPacer(time.Now(), cfg.rate, n)
	run.pace.Store(&pace) // the receivers' readers see it with the first message

	meter := startCPU(relayClock(cfg.relayPID, cfg.metrics), relayClock(cfg.forwardPID, ""))
	blocks0, blocksErr := relayBlocks(cfg.metrics)
	pace.release(ctx, total, func(i int) { sends[i].release() })
	var deadline time.Time
	for ctx.Err() == nil {
		if run.settled.Load() >= int64(total) {
			if deadline.IsZero() {
				deadline = time.Now().Add(cfg.drain)
			}
			if run.routed.Load() >= run.acked.Load() || time.Now().After(deadline) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	self, relays := meter.perMsg(run.routed.Load())
	res.LoadCPUus, res.RelayCPUus, res.ForwardCPUus = self, relays[0], relays[1]
	if blocks1, err := relayBlocks(cfg.metrics); err == nil && blocksErr == nil && run.routed.Load() > 0 {
		routed := float64(run.routed.Load())
		res.RelayBlocksIn = (blocks1[0] - blocks0[0]) / routed
		res.RelayBlocksOut = (blocks1[1] - blocks0[1]) / routed
	}
	stopped.Store(true)
	closeSenders()
	closeAll(conns) // ends the readers: no push or callback runs after this

	res.Sent, res.Acked, res.ReceiverAck = run.sent.Load(), run.acked.Load(), run.routed.Load()
	var lat, latDue []int64
	for i, r := range recvs {
		res.Delivered += r.delivered
		res.Duplicates += r.dups
		res.Unexpected += r.unexpected
		lat = append(lat, r.lat...)
		latDue = append(latDue, r.latDue...)
		from := (i + n - 1) % n
		for k := range sends[from].acked {
			ok := sends[from].acked[k].Load()
			if ok && !r.seen[k] {
				res.Lost++
			}
			if !ok && r.seen[k] {
				res.Unexpected++
			}
		}
	}
	res.Errors, res.FirstError = run.errs.get()
	res.ElapsedSec = time.Duration(run.lastAck.Load()).Seconds()
	if res.ElapsedSec > 0 {
		res.MsgsPerSec = float64(res.ReceiverAck) / res.ElapsedSec
	}
	res.percentiles(lat)
	res.duePercentiles(latDue)
	return res, nil
}

// sendFunc sends body to dst from sender i without waiting: done gets
// nil once the relay stored it, or why not. body may be reused once it
// returns.
type sendFunc func(i int, dst *mailbox, body []byte, done func(error)) error

// senders returns how sender i sends: on conns[i] directly, or, with
// cfg.forward, on its own connection to the forwarder through a route
// to cfg.relay fetched once (FKEY). closeSenders closes the forwarder
// connections; it may be called twice.
func senders(ctx context.Context, cfg config, conns []*conn.Conn) (send sendFunc, closeSenders func(), err error) {
	if cfg.forward == "" {
		return func(i int, dst *mailbox, body []byte, done func(error)) error {
			return conns[i].SendAsync(dst.SID, &dst.Cap, body, done)
		}, func() {}, nil
	}
	dest, err := wire.ParseAddress(cfg.relay)
	if err != nil {
		return nil, nil, err
	}
	fconns, err := dialAll(ctx, cfg.forward, len(conns), 32, nil)
	if err != nil {
		return nil, nil, err
	}
	var once sync.Once
	closeSenders = func() { once.Do(func() { closeAll(fconns) }) }
	routes := make([]conn.Route, len(fconns))
	for i, c := range fconns {
		if routes[i], err = c.FKey(ctx, cfg.forwardPassword, dest); err != nil {
			closeSenders()
			return nil, nil, fmt.Errorf("FKEY: %w", err)
		}
	}
	return func(i int, dst *mailbox, body []byte, done func(error)) error {
		item := wire.Frame{Type: wire.TypeSEND, ID: dst.SID, Cap: dst.Cap, Body: body}
		return fconns[i].ForwardCommandAsync(routes[i], item, time.Now(), nil, func(_ wire.Frame, err error) { done(err) })
	}, closeSenders, nil
}

// receiver takes one connection's pushes on its reader goroutine
// (conn.Options.OnPush) and ACKs each at once (AckAsync, sent lazily:
// spec/relay.md §5.3); the relay's delivery window bounds how many are in
// flight. Its fields are the reader's until the connection is closed.
type receiver struct {
	from       uint32 // the one sender this mailbox hears from
	c          *conn.Conn
	rid        crypto.ID
	run        *mailboxRun
	ackDone    func(error) // acked, made once
	seen       []bool
	lat        []int64 // from send to delivery
	latDue     []int64 // from when the message was due (paced runs only)
	delivered  int64
	dups       int64
	unexpected int64
}

func (r *receiver) push(p conn.Push) {
	if p.Type != wire.TypeMSG {
		r.run.errs.add(errors.New("subscription ended by the relay (END)"))
		return
	}
	from, k, at, ok := parseBody(p.Body)
	pace := r.run.pace.Load()
	switch {
	case !ok || from != r.from || k >= uint64(len(r.seen)) || pace == nil:
		r.unexpected++
	case r.seen[k]:
		r.dups++
	default:
		r.seen[k] = true
		r.delivered++
		now := time.Now()
		r.lat = append(r.lat, int64(now.Sub(pace.start)-at))
		if pace.interval > 0 {
			r.latDue = append(r.latDue, int64(now.Sub(pace.due(int(r.from), int64(k)))))
		}
	}
	if err := r.c.AckAsync(r.rid, p.Seq, r.ackDone); err != nil && !r.run.stopped() {
		r.run.errs.add(fmt.Errorf("ACK: %w", err))
	}
}

// acked is the callback of an ACK.
func (r *receiver) acked(err error) {
	if err != nil {
		if !r.run.stopped() {
			r.run.errs.add(fmt.Errorf("ACK: %w", err))
		}
		return
	}
	r.run.routed.Add(1)
	if pace := r.run.pace.Load(); pace != nil {
		r.run.lastAck.Store(int64(time.Since(pace.start)))
	}
}
