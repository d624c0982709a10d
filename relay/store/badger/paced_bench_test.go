package badger

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkBadgerSendPaced sends at a moderate, fixed rate (pacedRate
// SENDs a second spread over pacedSenders goroutines, each with its
// mailbox) and reports the latency of Send, which returns once the
// message is durable: the wait a SEND's reply has at that rate.
func BenchmarkBadgerSendPaced(b *testing.B) {
	const (
		pacedRate    = 10000
		pacedSenders = 50
	)
	s := open(b)
	defer s.Close()
	body := make([]byte, 1024)
	per := (b.N + pacedSenders - 1) / pacedSenders
	interval := time.Second * pacedSenders / pacedRate
	lat := make([][]time.Duration, pacedSenders)
	var wg sync.WaitGroup
	b.ResetTimer()
	for g := range pacedSenders {
		m := benchMailbox(b, s, uint64(g+1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			next := time.Now().Add(interval * time.Duration(g) / pacedSenders)
			for range per {
				time.Sleep(time.Until(next))
				next = next.Add(interval)
				t := time.Now()
				if _, err := s.Send(ctx, m.SenderID, body, time.Hour, 1<<30); err != nil {
					b.Error(err)
					return
				}
				lat[g] = append(lat[g], time.Since(t))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}
