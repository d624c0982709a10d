//go:build unix

package jetstream

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"veil/relay/store"
	"veil/relay/store/jetstream/jstest"
)

// The per-message JetStream cost model of the README: one SEND, one
// delivery (Pending) and one ACK per message, many mailboxes at once, on
// one server with one replica and on three servers with three, with every
// message in one shard (like the unsharded layout of earlier releases),
// in four, or in the default number. Each benchmark reports msgs/s, the
// NATS messages the relay node sent per message (natsout/msg: requests,
// publishes and the notification), which counts its round trips, and the
// CPU time of the process (relay side and in-process NATS servers) per
// message.
//
//	go test -run='^$' -bench=Mailboxes -benchtime=20000x ./relay/store/jetstream/

// benchMailboxes is how many mailboxes a benchmark spreads its messages over.
const benchMailboxes = 1000

func benchStore(b *testing.B, c *jstest.Cluster, nodes, shards int) (*Store, *nats.Conn) {
	b.Helper()
	nc, err := nats.Connect(c.URLs()[0])
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	s, err := Open(context.Background(), Config{
		Conn: nc, Prefix: fmt.Sprintf("bench%d", shards), Replicas: nodes, MaxPending: 1000, Shards: shards,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s, nc
}

func benchMailbox(b *testing.B, s *Store, i int64) store.Mailbox {
	b.Helper()
	var m store.Mailbox
	m.RecipientID[0], m.RecipientID[1], m.RecipientID[2] = 'r', byte(i), byte(i>>8)
	m.SenderID[0], m.SenderID[1], m.SenderID[2] = 's', byte(i), byte(i>>8)
	if err := s.CreateMailbox(context.Background(), m); err != nil {
		b.Fatal(err)
	}
	return m
}

// sendDeliverAck is the store's work for one message end to end.
func sendDeliverAck(ctx context.Context, s *Store, m store.Mailbox, body []byte) error {
	seq, err := s.Send(ctx, m.SenderID, body, time.Hour, 1000)
	if err != nil {
		return err
	}
	msgs, err := s.Pending(ctx, m.RecipientID, seq-1, 1)
	if err != nil || len(msgs) != 1 {
		return fmt.Errorf("pending: %d, %v", len(msgs), err)
	}
	return s.Ack(ctx, m.RecipientID, seq)
}

// benchMany runs send, deliver and ACK from 64 goroutines per processor
// (as many connections would), each message to the next of benchMailboxes
// mailboxes. Two goroutines may share a mailbox for a moment, which is
// harmless: each reads from just below its own message.
func benchMany(b *testing.B, nodes, shards int) {
	c := jstest.Start(b, nodes)
	s, nc := benchStore(b, c, nodes, shards)
	boxes := make([]store.Mailbox, benchMailboxes)
	for i := range boxes {
		boxes[i] = benchMailbox(b, s, int64(i))
	}
	if nodes > 1 {
		leaders, err := s.ShardLeaders(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("shard leaders: %v", leaders)
	}
	body := make([]byte, 1024)
	var next atomic.Int64
	before, cpuBefore := nc.Stats(), cpuTime(b)
	b.SetParallelism(64)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m := boxes[next.Add(1)%benchMailboxes]
			if err := sendDeliverAck(context.Background(), s, m, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	after, cpuAfter := nc.Stats(), cpuTime(b)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(float64((cpuAfter-cpuBefore).Microseconds())/float64(b.N), "cpu-us/msg")
	b.ReportMetric(float64(after.OutMsgs-before.OutMsgs)/float64(b.N), "natsout/msg")
}

// cpuTime is the CPU time of the whole process so far: the NATS servers
// run in it too, so it counts both sides, and unlike msgs/s it does not
// depend on what else the machine runs.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkMailboxes(b *testing.B) {
	for _, nodes := range []int{1, 3} {
		for _, shards := range []int{1, 4, DefaultShards} {
			b.Run(fmt.Sprintf("servers=%d/shards=%d", nodes, shards), func(b *testing.B) { benchMany(b, nodes, shards) })
		}
	}
}

// BenchmarkSend3 measures SENDs alone on a three-server cluster.
func BenchmarkSend3(b *testing.B) {
	c := jstest.Start(b, 3)
	s, _ := benchStore(b, c, 3, 0)
	var n atomic.Int64
	body := make([]byte, 1024)
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		m := benchMailbox(b, s, n.Add(1))
		st, subject := s.shard(m.RecipientID)
		sent := 0
		for pb.Next() {
			if sent == 900 { // stay under the quota
				if err := st.Purge(context.Background(), js.WithPurgeSubject(subject)); err != nil {
					b.Error(err)
					return
				}
				sent = 0
			}
			if _, err := s.Send(context.Background(), m.SenderID, body, time.Hour, 1000); err != nil {
				b.Error(err)
				return
			}
			sent++
		}
	})
}
