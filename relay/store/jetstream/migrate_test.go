package jetstream

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"veil/relay/store"
	"veil/relay/store/jetstream/jstest"
)

// TestMigrateUnsharded: a store opened on a cluster that holds the
// unsharded message stream of earlier releases moves every live message into the
// shards, in order, and deletes the old stream (spec §3.6).
func TestMigrateUnsharded(t *testing.T) {
	_, nc, j := oneServer(t)
	ctx := context.Background()
	old, err := j.CreateStream(ctx, js.StreamConfig{
		Name: "MIG_MSG", Subjects: []string{"mig.m.*"}, Storage: js.MemoryStorage, AllowMsgTTL: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	boxes := []store.Mailbox{{RecipientID: randomID(t), SenderID: randomID(t)}, {RecipientID: randomID(t), SenderID: randomID(t)}, {RecipientID: randomID(t), SenderID: randomID(t)}}
	now := time.Now()
	put := func(m store.Mailbox, body string, exp time.Time) {
		msg := &nats.Msg{Subject: "mig.m." + key(m.RecipientID), Data: []byte(body),
			Header: nats.Header{hdrExpires: []string{formatMillis(exp)}}}
		if _, err := j.PublishMsg(ctx, msg, js.WithMsgTTL(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		for k, m := range boxes {
			put(m, fmt.Sprintf("%d-%d", k, i), now.Add(time.Hour))
		}
	}
	put(boxes[0], "expired", now.Add(-time.Minute))

	s, err := Open(ctx, Config{Conn: nc, Prefix: "mig", Replicas: 1, Memory: true, Shards: 4})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if _, err := old.Info(ctx); !errors.Is(err, js.ErrStreamNotFound) {
		t.Fatalf("old stream after migration: %v, want not found", err)
	}
	for k, m := range boxes {
		if err := s.CreateMailbox(ctx, m); err != nil {
			t.Fatal(err)
		}
		msgs, err := s.Pending(ctx, m.RecipientID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 5 {
			t.Fatalf("mailbox %d: %d messages after migration, want 5", k, len(msgs))
		}
		for i, msg := range msgs {
			if want := fmt.Sprintf("%d-%d", k, i); string(msg.Body) != want {
				t.Errorf("mailbox %d message %d = %q, want %q", k, i, msg.Body, want)
			}
			if d := msg.Expires.Sub(now.Add(time.Hour)); d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("mailbox %d message %d expires %v, want %v", k, i, msg.Expires, now.Add(time.Hour))
			}
		}
		if err := s.Ack(ctx, m.RecipientID, msgs[0].Seq); err != nil {
			t.Errorf("Ack of a migrated message: %v", err)
		}
	}
}

// TestShardCountFixed: a node configured with another shard count than the
// cluster's uses the cluster's, so every node finds a mailbox's messages
// in the same stream (spec §3.1).
func TestShardCountFixed(t *testing.T) {
	c := jstest.Start(t, 1)
	ctx := context.Background()
	a, err := Open(ctx, Config{URLs: c.URLs(), Prefix: "fix", Replicas: 1, Memory: true, Shards: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, Config{URLs: c.URLs(), Prefix: "fix", Replicas: 1, Memory: true, Shards: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if len(a.msgs) != 3 || len(b.msgs) != 3 {
		t.Fatalf("shards: %d and %d, want 3 and 3", len(a.msgs), len(b.msgs))
	}
	m := store.Mailbox{RecipientID: randomID(t), SenderID: randomID(t)}
	if err := a.CreateMailbox(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(ctx, m.SenderID, []byte("x"), time.Hour, 10); err != nil {
		t.Fatal(err)
	}
	if msgs, err := b.Pending(ctx, m.RecipientID, 0, 10); err != nil || len(msgs) != 1 {
		t.Fatalf("Pending on the other node = %d, %v", len(msgs), err)
	}
}

// TestShardOfSpreads: the shard hash spreads IDs that differ in one byte
// anywhere, as test and benchmark IDs do.
func TestShardOfSpreads(t *testing.T) {
	const n = 16
	var counts [n]int
	for i := range 1600 {
		var id store.ID
		id[1], id[2] = byte(i), byte(i>>8)
		counts[shardOf(id, n)]++
	}
	for k, c := range counts {
		if c < 50 || c > 150 {
			t.Errorf("shard %d got %d of 1600 IDs: %v", k, c, counts)
		}
	}
}

// oneServer starts one NATS server for a test and connects to it, with a
// JetStream handle on that connection.
func oneServer(t *testing.T) (*jstest.Cluster, *nats.Conn, js.JetStream) {
	t.Helper()
	c := jstest.Start(t, 1)
	nc, err := nats.Connect(c.URLs()[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	j, err := js.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return c, nc, j
}
