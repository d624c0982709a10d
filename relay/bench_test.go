package relay_test

import (
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
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
			ctx := tctx(b)
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
