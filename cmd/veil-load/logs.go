package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"veil/crypto"
	"veil/relay/wire"
)

// runLogs is the group-log mode: each connection creates a log and
// appends its share of the messages; the next connection in the ring
// reads that log from its own cursor, as a group member would.
func runLogs(ctx context.Context, cfg config, ttl time.Duration) (Result, error) {
	res := Result{Mode: "logs", Conns: cfg.conns, Bucket: cfg.bucket, RateTarget: cfg.rate}
	n := cfg.conns
	conns, err := dialAll(ctx, cfg.relay, n, 32, nil)
	if err != nil {
		return res, err
	}
	defer closeAll(conns)
	type glog struct {
		id          crypto.ID
		write, read [wire.CapSize]byte
	}
	logs := make([]glog, n)
	setup := make([]error, n)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := &logs[i]
			if err := crypto.RandomBytes(nil, l.write[:]); err != nil {
				setup[i] = err
				return
			}
			if err := crypto.RandomBytes(nil, l.read[:]); err != nil {
				setup[i] = err
				return
			}
			l.id, setup[i] = c.NewLog(ctx, &l.write, &l.read, ttl, cfg.password)
		}()
	}
	wg.Wait()
	if err := firstErr(setup); err != nil {
		return res, fmt.Errorf("creating logs: %w", err)
	}
	var errs errCount
	var sent, acked, delivered, dups atomic.Int64
	ackedPer := make([]atomic.Int64, n)
	var writersDone atomic.Bool
	start := time.Now()
	var lastRead atomic.Int64
	lats := make([][]int64, n)

	var readWG sync.WaitGroup
	for i, c := range conns {
		src := (i + n - 1) % n
		readWG.Add(1)
		go func() {
			defer readWG.Done()
			var cursor uint64
			var drainEnd time.Time
			seen := map[uint64]bool{}
			for ctx.Err() == nil {
				entries, err := c.ReadLog(ctx, logs[src].id, &logs[src].read, cursor, wire.MaxReadLimit)
				if err != nil {
					errs.add(fmt.Errorf("LREAD: %w", err))
					return
				}
				for _, e := range entries {
					cursor = max(cursor, e.Seq)
					from, k, at, ok := parseBody(e.Body)
					if !ok || from != uint32(src) {
						continue
					}
					if seen[k] {
						dups.Add(1)
						continue
					}
					seen[k] = true
					delivered.Add(1)
					lats[i] = append(lats[i], int64(time.Since(start)-at))
					lastRead.Store(int64(time.Since(start)))
				}
				if len(entries) > 0 {
					continue
				}
				if writersDone.Load() {
					if int64(len(seen)) >= ackedPer[src].Load() {
						return
					}
					if drainEnd.IsZero() {
						drainEnd = time.Now().Add(cfg.drain)
					} else if time.Now().After(drainEnd) {
						return
					}
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}

	// Senders: messages paced evenly over all connections (pace.go).
	pace := newPacer(time.Now(), cfg.rate, n)
	var sendWG sync.WaitGroup
	for i, c := range conns {
		per := cfg.messages / n
		if i < cfg.messages%n {
			per++
		}
		var next atomic.Int64
		for range cfg.window {
			sendWG.Add(1)
			go func() {
				defer sendWG.Done()
				for {
					k := next.Add(1) - 1
					if k >= int64(per) || ctx.Err() != nil {
						return
					}
					if !pace.wait(ctx, i, k) {
						return
					}
					sent.Add(1)
					if _, err := c.Append(ctx, logs[i].id, &logs[i].write, makeBody(cfg.bucket, uint32(i), uint64(k), time.Since(start))); err != nil {
						errs.add(fmt.Errorf("LAPPEND: %w", err))
						continue
					}
					acked.Add(1)
					ackedPer[i].Add(1)
				}
			}()
		}
	}
	sendWG.Wait()
	writersDone.Store(true)
	readWG.Wait()
	res.Sent, res.Acked, res.Delivered, res.Duplicates = sent.Load(), acked.Load(), delivered.Load(), dups.Load()
	res.Lost = max(0, res.Acked-res.Delivered)
	res.Errors, res.FirstError = errs.get()
	res.ElapsedSec = time.Duration(lastRead.Load()).Seconds()
	if res.ElapsedSec > 0 {
		res.MsgsPerSec = float64(res.Delivered) / res.ElapsedSec
	}
	var all []int64
	for _, l := range lats {
		all = append(all, l...)
	}
	res.percentiles(all)
	return res, nil
}
