package jetstream

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"veil/relay/store"
	"veil/relay/store/jetstream/jstest"
)

// The per-message JetStream cost model of the README: one SEND (publish),
// one delivery (Pending: two gets) and one ACK (get, delete), on one
// server with one replica and on three servers with three.

func benchStore(b *testing.B, nodes int) *Store {
	b.Helper()
	c := jstest.Start(b, nodes)
	s, err := Open(context.Background(), Config{URLs: c.URLs()[:1], Prefix: "bench", Replicas: nodes, MaxPending: 1000})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
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

func benchSendDeliverAck(b *testing.B, nodes int) {
	s := benchStore(b, nodes)
	var n atomic.Int64
	body := make([]byte, 1024)
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		m := benchMailbox(b, s, n.Add(1))
		for pb.Next() {
			if err := sendDeliverAck(context.Background(), s, m, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkSendDeliverAck1(b *testing.B) { benchSendDeliverAck(b, 1) }
func BenchmarkSendDeliverAck3(b *testing.B) { benchSendDeliverAck(b, 3) }

func BenchmarkSend3(b *testing.B) {
	s := benchStore(b, 3)
	var n atomic.Int64
	body := make([]byte, 1024)
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		m := benchMailbox(b, s, n.Add(1))
		sent := 0
		for pb.Next() {
			if sent == 900 { // stay under the quota
				if err := s.msgs.Purge(context.Background()); err != nil {
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
