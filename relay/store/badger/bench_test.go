package badger

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	bdg "github.com/dgraph-io/badger/v4"

	"veil/relay/store"
)

// benchParallelism is goroutines per GOMAXPROCS: enough concurrent writers
// (like many relay connections) for group commit to gather.
const benchParallelism = 32

func benchMailbox(b *testing.B, s *Store, n uint64) store.Mailbox {
	var m store.Mailbox
	binary.BigEndian.PutUint64(m.RecipientID[:], n)
	binary.BigEndian.PutUint64(m.SenderID[:], n)
	m.SenderID[23] = 1
	if err := s.CreateMailbox(context.Background(), m); err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkBadgerSend1K measures durable 1 KiB sends from many goroutines,
// each to its own mailbox; every Send returns only after its fsync.
func BenchmarkBadgerSend1K(b *testing.B) {
	s := open(b)
	defer s.Close()
	body := make([]byte, 1024)
	var next atomic.Uint64
	b.SetBytes(int64(len(body)))
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		m := benchMailbox(b, s, next.Add(1))
		for pb.Next() {
			if _, err := s.Send(context.Background(), m.SenderID, body, time.Hour, 1<<30); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBadgerSendAckRoundTrip measures a message's whole life in the
// store: Send, Pending, Ack, from many goroutines each with its mailbox.
func BenchmarkBadgerSendAckRoundTrip(b *testing.B) {
	s := open(b)
	defer s.Close()
	body := make([]byte, 1024)
	var next atomic.Uint64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		m := benchMailbox(b, s, next.Add(1))
		for pb.Next() {
			seq, err := s.Send(ctx, m.SenderID, body, time.Hour, 128)
			if err != nil {
				b.Error(err)
				return
			}
			msgs, err := s.Pending(ctx, m.RecipientID, seq-1, 1)
			if err != nil || len(msgs) != 1 {
				b.Errorf("Pending: %d messages, %v", len(msgs), err)
				return
			}
			if err := s.Ack(ctx, m.RecipientID, seq); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBadgerTxnPerWrite is the baseline group commit replaces: one
// synced Badger transaction per 1 KiB write, from as many goroutines.
// Badger batches concurrent transactions into one write, but syncs its
// write-ahead log once per transaction.
func BenchmarkBadgerTxnPerWrite(b *testing.B) {
	db, err := bdg.Open(bdg.DefaultOptions(b.TempDir()).WithSyncWrites(true).WithLogger(nil).WithMemTableSize(8 << 20))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	body := make([]byte, 1024)
	var next atomic.Uint64
	b.SetBytes(int64(len(body)))
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := binary.BigEndian.AppendUint64(nil, next.Add(1))
			if err := db.Update(func(txn *bdg.Txn) error { return txn.Set(key, body) }); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBadgerSendSerial measures one durable Send at a time: the
// latency of one group commit (its fsync) with nothing to share it with.
func BenchmarkBadgerSendSerial(b *testing.B) {
	s := open(b)
	defer s.Close()
	m := benchMailbox(b, s, 1)
	body := make([]byte, 1024)
	b.ResetTimer()
	for range b.N {
		if _, err := s.Send(context.Background(), m.SenderID, body, time.Hour, 1<<30); err != nil {
			b.Fatal(err)
		}
	}
}
