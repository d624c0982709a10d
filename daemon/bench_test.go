package daemon

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"veil/relay/relaytest"
)

// reportLatency reports the median and the 99th percentile of ds.
func reportLatency(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(ds[len(ds)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkAPIChats is one chats round trip over the profile's socket to
// an unlocked daemon with a few chats.
func BenchmarkAPIChats(b *testing.B) {
	r := relaytest.Start(b)
	ana := newPeer(b, r.Address.String())
	for i := range 5 {
		must(b, ana.c, "invite", map[string]string{"name": fmt.Sprint("chat", i)}, nil)
	}
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		must(b, ana.c, "chats", nil, nil)
		ds = append(ds, time.Since(start))
	}
	reportLatency(b, ds)
}

// BenchmarkAPISend is one send to a paired chat through a running daemon
// over its socket: the message is stored and queued; the engine sends it
// in the background.
func BenchmarkAPISend(b *testing.B) {
	r := relaytest.Start(b)
	ana, ben := newPeer(b, r.Address.String()), newPeer(b, r.Address.String())
	_, benChat, _, _ := pairPeers(b, ana, ben)
	params := map[string]string{"chat": benChat, "text": "a message of a usual length, some forty bytes"}
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		must(b, ben.c, "send", params, nil)
		ds = append(ds, time.Since(start))
	}
	reportLatency(b, ds)
}

// BenchmarkAPISendPeerAway is BenchmarkAPISend with the peer's profile
// locked after pairing: only the sender's engine and the relay share the
// machine, as when the peer is on another device.
func BenchmarkAPISendPeerAway(b *testing.B) {
	r := relaytest.Start(b)
	ana, ben := newPeer(b, r.Address.String()), newPeer(b, r.Address.String())
	_, benChat, _, _ := pairPeers(b, ana, ben)
	ana.s.Lock()
	params := map[string]string{"chat": benChat, "text": "a message of a usual length, some forty bytes"}
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		must(b, ben.c, "send", params, nil)
		ds = append(ds, time.Since(start))
	}
	reportLatency(b, ds)
}
