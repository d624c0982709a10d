package client

import (
	"context"
	"errors"
	"sync"
	"time"
)

// outboxTick is how often Run's outbox loop looks for items whose back-off
// has passed, between kicks.
const outboxTick = time.Second

// Run connects to every relay that holds one of our mailboxes, receives,
// sends the outbox and applies the timers until ctx ends (spec/client.md
// §7). It reconnects with back-off and jitter and resubscribes, so a relay
// restart loses nothing. It returns after every goroutine it started has
// stopped. Only one Run may be active per Engine.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.running {
		e.mu.Unlock()
		return errors.New("client: Run is already active")
	}
	e.running = true
	e.outKick = make(chan struct{}, 1)
	e.newRel = make(chan struct{}, 1)
	e.relays = map[string]chan struct{}{}
	e.groupKick = make(chan struct{}, 1)
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.running, e.outKick, e.newRel, e.relays, e.groupKick = false, nil, nil, nil, nil
		e.mu.Unlock()
	}()

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { e.outboxLoop(ctx) })
	wg.Go(func() { e.timerLoop(ctx) })
	wg.Go(func() { e.groupLoop(ctx) })
	wg.Go(func() { e.transferLoop(ctx) })
	for {
		addrs, err := e.receivingRelays(ctx)
		if err != nil && ctx.Err() == nil {
			e.emit(ctx, Event{Type: EventWarning, Err: err.Error()})
		}
		e.mu.Lock()
		for _, a := range addrs {
			if _, ok := e.relays[a]; ok {
				continue
			}
			kick := make(chan struct{}, 1)
			e.relays[a] = kick
			wg.Go(func() { e.receiveLoop(ctx, a, kick) })
		}
		newRel := e.newRel
		e.mu.Unlock()
		select {
		case <-newRel:
		case <-ctx.Done():
			return nil
		}
	}
}

// mailboxesChanged tells Run that a mailbox was created or deleted on relay
// addr, so it subscribes (and starts a loop for a new relay).
func (e *Engine) mailboxesChanged(addr string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.running {
		return
	}
	if k, ok := e.relays[addr]; ok {
		select {
		case k <- struct{}{}:
		default:
		}
		return
	}
	select {
	case e.newRel <- struct{}{}:
	default:
	}
}

// outboxLoop is owned by Run: it flushes the outbox when kicked (a new
// message, a relay that came back) and every outboxTick for items whose
// back-off has passed, until ctx ends.
func (e *Engine) outboxLoop(ctx context.Context) {
	e.mu.Lock()
	kick := e.outKick
	e.mu.Unlock()
	t := time.NewTicker(outboxTick)
	defer t.Stop()
	for {
		force := false
		select {
		case <-kick:
			force = true
		case <-t.C:
		case <-ctx.Done():
			return
		}
		if _, err := e.flush(ctx, force); err != nil && ctx.Err() == nil && !isConnErr(err) {
			e.emit(ctx, Event{Type: EventWarning, Err: err.Error()})
		}
	}
}
