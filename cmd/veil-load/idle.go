package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"veil/relay/conn"
)

// idleConfig is idle mode's settings.
type idleConfig struct {
	n       int           // connections
	sub     bool          // create and subscribe one mailbox per connection
	hold    time.Duration // how long to hold them
	sources int           // source addresses 127.0.0.2 … 127.0.0.(sources+1); 0: the kernel's choice
}

// runIdle opens ic.n connections (each with a mailbox it subscribes to
// when ic.sub is set), holds them for ic.hold, and reports the relay's
// memory before and after: resident set from /proc/PID/status
// (cfg.relayPID) or its metrics (cfg.metrics), and the Go heap from its
// metrics.
func runIdle(ctx context.Context, cfg config, ic idleConfig) (Result, error) {
	res := Result{Mode: "idle", Conns: ic.n, Idle: ic.n, Sources: ic.sources}
	before, err := relayMemory(cfg)
	if err != nil {
		return res, err
	}
	conns := make([]*conn.Conn, ic.n)
	var errs errCount
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range ic.n {
		wg.Add(1)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Done()
			continue
		}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			opt := &conn.Options{PushBuffer: 1}
			if ic.sources > 0 {
				opt.Dial = sourceDialer(i % ic.sources)
			}
			c, err := conn.Dial(dctx, cfg.relay, opt)
			if err != nil {
				errs.add(err)
				return
			}
			conns[i] = c
			if ic.sub {
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
	case <-time.After(ic.hold):
	case <-ctx.Done():
	}
	after, err := relayMemory(cfg)
	if err != nil {
		return res, err
	}
	if kib, err := rssKiB(os.Getpid()); err == nil {
		res.LoadRSS = kib // veil-load's own: the machine must hold both
	}
	res.memory(before, after, open)
	for _, c := range conns {
		if c != nil && c.Err() != nil {
			errs.add(fmt.Errorf("connection ended while idle: %w", c.Err()))
		}
	}
	res.Errors, res.FirstError = errs.get()
	return res, nil
}

// sourceDialer dials from source address 127.0.0.(2+i), so that the
// connections of a run are not limited to one address's ports.
func sourceDialer(i int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: sourceAddr(i)}}
	return d.DialContext
}

// sourceAddr is the i-th source address: 127.0.0.2, 127.0.0.3, … and on
// into 127.0.1.x past 255.
func sourceAddr(i int) net.IP {
	n := 2 + i
	return net.IPv4(127, byte(n>>16), byte(n>>8), byte(n))
}

// memSample is a relay's memory at one moment, in bytes; -1 where unknown.
type memSample struct {
	rss, heapInuse, heapAlloc int64
}

// relayMemory reads the relay's memory: RSS from /proc when its pid is
// known, else from its metrics, and the Go heap from its metrics.
func relayMemory(cfg config) (memSample, error) {
	m := memSample{-1, -1, -1}
	if cfg.relayPID > 0 {
		kib, err := rssKiB(cfg.relayPID)
		if err != nil {
			return m, err
		}
		m.rss = kib * 1024
	}
	if cfg.metrics != "" {
		got, err := scrapeMetrics(cfg.metrics, "process_resident_memory_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_heap_alloc_bytes")
		if err != nil {
			return m, err
		}
		if m.rss < 0 {
			m.rss = int64(got["process_resident_memory_bytes"])
		}
		m.heapInuse, m.heapAlloc = int64(got["go_memstats_heap_inuse_bytes"]), int64(got["go_memstats_heap_alloc_bytes"])
	}
	return m, nil
}

// memory fills the idle fields from the relay's memory before and after
// open connections.
func (r *Result) memory(before, after memSample, open int) {
	kib := func(b int64) int64 { return b / 1024 }
	per := func(a, b int64) float64 {
		if open == 0 {
			return 0
		}
		return float64(b-a) / 1024 / float64(open)
	}
	if before.rss >= 0 && after.rss >= 0 {
		r.RelayRSSBefore, r.RelayRSSAfter = kib(before.rss), kib(after.rss)
		r.BytesPerIdleCon = per(before.rss, after.rss) * 1024
		r.RSSKiBPerConn = per(before.rss, after.rss)
	}
	if before.heapInuse >= 0 && after.heapInuse >= 0 {
		r.HeapInuseBefore, r.HeapInuseAfter = kib(before.heapInuse), kib(after.heapInuse)
		r.HeapAllocBefore, r.HeapAllocAfter = kib(before.heapAlloc), kib(after.heapAlloc)
		r.HeapInuseKiBPerConn = per(before.heapInuse, after.heapInuse)
		r.HeapAllocKiBPerConn = per(before.heapAlloc, after.heapAlloc)
	}
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
