package relay_test

import (
	"context"
	"github.com/prometheus/client_golang/prometheus"

	"sync"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/store"
	"veil/relay/store/badger"
	"veil/relay/store/memory"
)

// BenchmarkRoundTrip measures one SEND → MSG → ACK through a real relay
// on 127.0.0.1, one message at a time (latency, not throughput: veil-load
// measures throughput).
func BenchmarkRoundTrip(b *testing.B) {
	stores := map[string]func(b *testing.B) store.Store{
		"memory": func(*testing.B) store.Store { return memory.New(memory.Config{}) },
		"badger": func(b *testing.B) store.Store {
			st, err := badger.Open(badger.Config{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			return st
		},
	}
	for _, name := range []string{"memory", "badger"} {
		b.Run(name, func(b *testing.B) {
			id, _ := crypto.GenerateSign(nil)
			tr := serveRelay(b, relay.Config{Store: stores[name](b), Identity: id}, &testClock{t: time.Now()})
			sender, recv := tr.dial(b), tr.dial(b)
			m := newMailbox(b, recv)
			ctx := benchCtx(b)
			if err := recv.Subscribe(ctx, m.rid, m.key); err != nil {
				b.Fatal(err)
			}
			msg := body(1024, 1)
			b.SetBytes(1024)
			b.ResetTimer()
			for b.Loop() {
				if err := sender.Send(ctx, m.sid, &m.cap, msg); err != nil {
					b.Fatal(err)
				}
				p := nextPush(b, recv)
				if err := recv.Ack(ctx, m.rid, p.Seq); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkThroughput routes b.N messages through a real relay on
// 127.0.0.1 over 16 sender and 16 receiver connections, with up to 64
// SENDs in flight per sender and asynchronous ACKs; clients and relay
// share the process (veil-load measures them apart).
func BenchmarkThroughput(b *testing.B) {
	const pairs, inflight = 16, 64
	id, _ := crypto.GenerateSign(nil)
	lim := relay.DefaultLimits
	lim.Rate, lim.Burst = 1e6, 1e6
	reg := prometheus.NewRegistry()
	tr := serveRelay(b, relay.Config{Store: memory.New(memory.Config{}), Identity: id, Limits: lim, Registerer: reg}, &testClock{t: time.Now()})
	ctx := benchCtx(b)
	type pair struct {
		s, r *conn.Conn
		m    *mailbox
	}
	ps := make([]pair, pairs)
	for i := range ps {
		ps[i].s, ps[i].r = tr.dial(b), tr.dial(b)
		ps[i].m = newMailbox(b, ps[i].r)
		if err := ps[i].r.Subscribe(ctx, ps[i].m.rid, ps[i].m.key); err != nil {
			b.Fatal(err)
		}
	}
	per := b.N/pairs + 1
	msg := body(1024, 1)
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := range ps {
		p := ps[i]
		wg.Add(2)
		go func() { // sender
			defer wg.Done()
			sem := make(chan struct{}, inflight)
			var swg sync.WaitGroup
			for range per {
				sem <- struct{}{}
				swg.Add(1)
				go func() {
					defer swg.Done()
					defer func() { <-sem }()
					if err := p.s.Send(ctx, p.m.sid, &p.m.cap, msg); err != nil {
						b.Error(err)
					}
				}()
			}
			swg.Wait()
		}()
		go func() { // receiver
			defer wg.Done()
			var awg sync.WaitGroup
			for got := 0; got < per; got++ {
				push := nextPush(b, p.r)
				awg.Add(1)
				go func() {
					defer awg.Done()
					if err := p.r.Ack(ctx, p.m.rid, push.Seq); err != nil {
						b.Error(err)
					}
				}()
			}
			awg.Wait()
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(per*pairs)/b.Elapsed().Seconds(), "msgs/s")
	// Blocks per routed message show how well batching works (§5.3).
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		switch mf.GetName() {
		case "veil_relay_blocks_received_total":
			b.ReportMetric(mf.GetMetric()[0].GetCounter().GetValue()/float64(per*pairs), "blocks_in/msg")
		case "veil_relay_blocks_sent_total":
			b.ReportMetric(mf.GetMetric()[0].GetCounter().GetValue()/float64(per*pairs), "blocks_out/msg")
		}
	}
}

// benchCtx bounds a benchmark only by its own end: b.N decides how long it runs.
func benchCtx(b *testing.B) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	return ctx
}

// BenchmarkRelayForward measures one SEND forwarded through a forwarding
// relay to a destination relay (FWD → RFWD → FRES, spec/relay.md §7.6),
// then its MSG there (ACKs go out lazily), one message at a time; both relays run in
// this process on 127.0.0.1 with the memory store.
func BenchmarkRelayForward(b *testing.B) {
	d := startRelay(b)
	f := startRelay(b)
	sender, recv := f.dial(b), d.dial(b)
	m := newMailbox(b, recv)
	ctx := benchCtx(b)
	if err := recv.Subscribe(ctx, m.rid, m.key); err != nil {
		b.Fatal(err)
	}
	route, err := sender.FKey(ctx, nil, d.addr)
	if err != nil {
		b.Fatal(err)
	}
	item := sendItem(m, 1)
	b.SetBytes(1024)
	b.ResetTimer()
	for b.Loop() {
		if _, err := sender.ForwardCommand(ctx, route, item, d.clock.Now(), nil); err != nil {
			b.Fatal(err)
		}
		p := nextPush(b, recv)
		if err := recv.AckNoWait(m.rid, p.Seq); err != nil { // Ack would add AckDelay
			b.Fatal(err)
		}
	}
}
