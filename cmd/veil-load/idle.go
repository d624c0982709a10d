package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"veil/relay/conn"
)

// runIdle opens n connections (each with a mailbox it subscribes to when
// sub is set), holds them for hold, and reports the relay's resident
// memory before and after, read from /proc/PID/status when pid is set.
func runIdle(ctx context.Context, cfg config, n int, sub bool, hold time.Duration, pid int) (Result, error) {
	res := Result{Mode: "idle", Conns: n, Idle: n}
	var err error
	if pid > 0 {
		if res.RelayRSSBefore, err = rssKiB(pid); err != nil {
			return res, err
		}
	}
	conns := make([]*conn.Conn, n)
	var errs errCount
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			c, err := conn.Dial(dctx, cfg.relay, &conn.Options{PushBuffer: 1})
			if err != nil {
				errs.add(err)
				return
			}
			conns[i] = c
			if sub {
				m, err := newMailbox(dctx, c, cfg.password)
				if err == nil {
					err = c.Subscribe(dctx, m.RID, m.Key)
				}
				if err != nil {
					errs.add(err)
				}
			}
		}()
	}
	wg.Wait()
	defer closeAll(conns)
	open := 0
	for _, c := range conns {
		if c != nil {
			open++
		}
	}
	res.Idle = open
	select {
	case <-time.After(hold):
	case <-ctx.Done():
	}
	if pid > 0 {
		if res.RelayRSSAfter, err = rssKiB(pid); err != nil {
			return res, err
		}
		if open > 0 {
			res.BytesPerIdleCon = float64(res.RelayRSSAfter-res.RelayRSSBefore) * 1024 / float64(open)
		}
	}
	for _, c := range conns {
		if c != nil && c.Err() != nil {
			errs.add(fmt.Errorf("connection ended while idle: %w", c.Err()))
		}
	}
	res.Errors, res.FirstError = errs.get()
	return res, nil
}

// rssKiB returns VmRSS of process pid in KiB (Linux).
func rssKiB(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("reading the relay's memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, errors.New("reading the relay's memory: no VmRSS line")
}
