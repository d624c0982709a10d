package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

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
	acks     int // ACKs in flight per connection
	password []byte
	drain    time.Duration // how long to wait for deliveries after the last send
	// forward, when set, is the address of a forwarding relay: senders
	// get a route to relay there once per connection and send through
	// it (spec/relay.md §7.6); receivers stay on relay.
	forward         string
	forwardPassword []byte
}

// runMailbox is the default mode: conns connections, each with its own
// mailbox; connection i sends to the mailbox of connection i+1 (a ring),
// so every message crosses the relay from one connection to another. Each
// receiver ACKs what it gets. It returns when every acknowledged message
// has been delivered and ACKed, or cfg.drain after the last send.
func runMailbox(ctx context.Context, cfg config) (Result, error) {
	res := Result{Mode: "mailbox", Conns: cfg.conns, Bucket: cfg.bucket, RateTarget: cfg.rate}
	n := cfg.conns
	conns, err := dialAll(ctx, cfg.relay, n, 32, &conn.Options{PushBuffer: 1024})
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
			if setup[i] == nil {
				setup[i] = conns[i].Subscribe(ctx, boxes[i].RID, boxes[i].Key)
			}
		}()
	}
	wg.Wait()
	if err := firstErr(setup); err != nil {
		return res, fmt.Errorf("setting up mailboxes: %w", err)
	}

	perConn := make([]int, n)
	for i := range n {
		perConn[i] = cfg.messages / n
		if i < cfg.messages%n {
			perConn[i]++
		}
	}
	var (
		errs      errCount
		sent      atomic.Int64
		acked     atomic.Int64
		routed    atomic.Int64               // receiver ACKs answered OK
		lastAck   atomic.Int64               // nanoseconds since start
		ackedFlag = make([][]atomic.Bool, n) // set by SEND callbacks
		recvs     = make([]*receiver, n)
	)
	for i := range n {
		ackedFlag[i] = make([]atomic.Bool, perConn[i])
		from := (i + n - 1) % n
		recvs[i] = &receiver{from: uint32(from), seen: make([]bool, perConn[from])}
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	start := time.Now()
	pace := newPacer(start, cfg.rate, n)

	// Receivers: one goroutine per connection reads its pushes and ACKs
	// each without waiting (AckAsync), at most cfg.acks in flight.
	var recvWG sync.WaitGroup
	for i, c := range conns {
		recvWG.Add(1)
		go func() {
			defer recvWG.Done()
			slots := make(chan struct{}, cfg.acks)
			ack := func(seq uint64) {
				select {
				case slots <- struct{}{}:
				case <-runCtx.Done():
					return
				}
				err := c.AckAsync(boxes[i].RID, seq, func(err error) {
					<-slots
					if err != nil {
						if runCtx.Err() == nil {
							errs.add(fmt.Errorf("ACK: %w", err))
						}
						return
					}
					routed.Add(1)
					lastAck.Store(int64(time.Since(start)))
				})
				if err != nil {
					<-slots
					if runCtx.Err() == nil {
						errs.add(fmt.Errorf("ACK: %w", err))
					}
				}
			}
			recvs[i].run(c.Pushes(), start, pace, ack, &errs)
		}()
	}

	// Senders: one goroutine per connection sends its messages without
	// waiting (SendAsync), at most cfg.window in flight, paced evenly
	// over all connections (pace.go).
	var sendWG sync.WaitGroup
	for i := range conns {
		dst := boxes[(i+1)%n]
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			slots := make(chan struct{}, cfg.window)
			defer func() { // wait for the answers to what was sent
				for range cfg.window {
					select {
					case slots <- struct{}{}:
					case <-runCtx.Done():
						return
					}
				}
			}()
			body := makeBody(cfg.bucket, 0, 0, 0)
			t := time.NewTimer(time.Hour)
			defer t.Stop()
			for k := range perConn[i] {
				if d := time.Until(pace.due(i, int64(k))); pace.interval > 0 && d > 0 {
					t.Reset(d)
					select {
					case <-t.C:
					case <-runCtx.Done():
						return
					}
				}
				select {
				case slots <- struct{}{}:
				case <-runCtx.Done():
					return
				}
				sent.Add(1)
				fillBody(body, uint32(i), uint64(k), time.Since(start)) // SendAsync copies it
				err := send(i, dst, body, func(err error) {
					if err != nil {
						if runCtx.Err() == nil {
							errs.add(fmt.Errorf("SEND: %w", err))
						}
					} else {
						ackedFlag[i][k].Store(true)
						acked.Add(1)
					}
					<-slots
				})
				if err != nil {
					<-slots
					errs.add(fmt.Errorf("SEND: %w", err))
					if errors.Is(err, conn.ErrClosed) || runCtx.Err() != nil {
						return
					}
				}
			}
		}()
	}
	sendWG.Wait()
	deadline := time.Now().Add(cfg.drain)
	for routed.Load() < acked.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	closeSenders()
	closeAll(conns) // ends the readers
	recvWG.Wait()

	res.Sent, res.Acked, res.ReceiverAck = sent.Load(), acked.Load(), routed.Load()
	var lat, latDue []int64
	for i, r := range recvs {
		res.Delivered += r.delivered
		res.Duplicates += r.dups
		res.Unexpected += r.unexpected
		lat = append(lat, r.lat...)
		latDue = append(latDue, r.latDue...)
		from := (i + n - 1) % n
		for k := range ackedFlag[from] {
			ok := ackedFlag[from][k].Load()
			if ok && !r.seen[k] {
				res.Lost++
			}
			if !ok && r.seen[k] {
				res.Unexpected++
			}
		}
	}
	res.Errors, res.FirstError = errs.get()
	res.ElapsedSec = time.Duration(lastAck.Load()).Seconds()
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

// receiver reads one connection's pushes. It is owned by one goroutine
// until its channel closes.
type receiver struct {
	from       uint32 // the one sender this mailbox hears from
	seen       []bool
	lat        []int64 // from send to delivery
	latDue     []int64 // from when the message was due (paced runs only)
	delivered  int64
	dups       int64
	unexpected int64
}

func (r *receiver) run(pushes <-chan conn.Push, start time.Time, pace pacer, ack func(seq uint64), errs *errCount) {
	for p := range pushes {
		if p.Type != wire.TypeMSG {
			errs.add(errors.New("subscription ended by the relay (END)"))
			continue
		}
		from, k, at, ok := parseBody(p.Body)
		switch {
		case !ok || from != r.from || k >= uint64(len(r.seen)):
			r.unexpected++
		case r.seen[k]:
			r.dups++
		default:
			r.seen[k] = true
			r.delivered++
			now := time.Now()
			r.lat = append(r.lat, int64(now.Sub(start)-at))
			if pace.interval > 0 {
				r.latDue = append(r.latDue, int64(now.Sub(pace.due(int(r.from), int64(k)))))
			}
		}
		ack(p.Seq)
	}
}
