package jetstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"veil/relay/store"
)

// TestMigrateQuotaDoesNotRecopy: when one legacy message is refused by its
// mailbox's quota, P_MSG keeps only what was not copied, so a later start,
// even after the shard's duplicate window has passed (2 min in production;
// shortened here), does not deliver an ACKed message again.
func TestMigrateQuotaDoesNotRecopy(t *testing.T) {
	_, nc, j := oneServer(t)
	ctx := context.Background()
	old, err := j.CreateStream(ctx, js.StreamConfig{
		Name: "RQ_MSG", Subjects: []string{"rq.m.*"}, Storage: js.MemoryStorage, AllowMsgTTL: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	full := store.Mailbox{RecipientID: randomID(t), SenderID: randomID(t)}
	y := store.Mailbox{RecipientID: randomID(t), SenderID: randomID(t)}
	put := func(m store.Mailbox, body string) {
		msg := &nats.Msg{Subject: "rq.m." + key(m.RecipientID), Data: []byte(body),
			Header: nats.Header{hdrExpires: []string{formatMillis(time.Now().Add(time.Hour))}}}
		if _, err := j.PublishMsg(ctx, msg, js.WithMsgTTL(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	put(full, "f1")
	put(full, "f2") // refused by MaxPending 1: keeps P_MSG
	put(y, "y")
	cfg := Config{Conn: nc, Prefix: "rq", Replicas: 1, Memory: true, Shards: 1, MaxPending: 1}
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateMailbox(ctx, y); err != nil {
		t.Fatal(err)
	}
	msgs, err := s.Pending(ctx, y.RecipientID, 0, 10)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Pending = %v, %v", msgs, err)
	}
	if err := s.Ack(ctx, y.RecipientID, msgs[0].Seq); err != nil {
		t.Fatal(err)
	}
	s.Close()
	info, err := old.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("P_MSG after migration keeps %d messages, want the 1 refused", info.State.Msgs)
	}

	// Let the shard's duplicate window lapse (production: 2 minutes).
	sh, err := j.Stream(ctx, "RQ_MSG_0")
	if err != nil {
		t.Fatal(err)
	}
	sc := sh.CachedInfo().Config
	sc.Duplicates = 200 * time.Millisecond
	if _, err := j.UpdateStream(ctx, sc); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)

	s2, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	again, err := s2.Pending(ctx, y.RecipientID, msgs[0].Seq, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Fatalf("message %q, ACKed at seq %d, delivered again as seq %d after a restart", again[0].Body, msgs[0].Seq, again[0].Seq)
	}
}

// TestMigrateMsgIDUniqueAcrossStreams: a P_MSG created again (an
// old-release node restarted after a migration) numbers its messages from
// 1 again; a migration within the shard's duplicate window must not take
// its copies for duplicates of the earlier migration's.
func TestMigrateMsgIDUniqueAcrossStreams(t *testing.T) {
	_, nc, j := oneServer(t)
	ctx := context.Background()
	legacy := func(m store.Mailbox, body string) {
		if _, err := j.CreateStream(ctx, js.StreamConfig{
			Name: "MR_MSG", Subjects: []string{"mr.m.*"}, Storage: js.MemoryStorage, AllowMsgTTL: true,
		}); err != nil {
			t.Fatal(err)
		}
		msg := &nats.Msg{Subject: "mr.m." + key(m.RecipientID), Data: []byte(body),
			Header: nats.Header{hdrExpires: []string{formatMillis(time.Now().Add(time.Hour))}}}
		if _, err := j.PublishMsg(ctx, msg, js.WithMsgTTL(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{Conn: nc, Prefix: "mr", Replicas: 1, Memory: true, Shards: 1}
	a := store.Mailbox{RecipientID: randomID(t), SenderID: randomID(t)}
	b := store.Mailbox{RecipientID: randomID(t), SenderID: randomID(t)}
	legacy(a, "for a") // old sequence 1
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	legacy(b, "for b") // P_MSG again: old sequence 1 again
	s2, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := j.Stream(ctx, "MR_MSG"); !errors.Is(err, js.ErrStreamNotFound) {
		t.Fatalf("P_MSG: %v", err)
	}
	if err := s2.CreateMailbox(ctx, b); err != nil {
		t.Fatal(err)
	}
	msgs, err := s2.Pending(ctx, b.RecipientID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("mailbox b holds %d messages after the migration deleted P_MSG, want 1: its message was lost", len(msgs))
	}
}

// deleteHook runs before a DeleteStream: the moment an old-release
// node's publish would land between migrate's last look and its
// DeleteStream.
type deleteHook struct {
	js.JetStream
	before func()
}

func (d deleteHook) DeleteStream(ctx context.Context, name string) error {
	d.before()
	return d.JetStream.DeleteStream(ctx, name)
}

// TestMigrateSealsBeforeDelete: a SEND an old-release node tries just
// before migrate deletes P_MSG must be refused (the stream is sealed), not
// acknowledged and then deleted with the stream.
func TestMigrateSealsBeforeDelete(t *testing.T) {
	_, nc, j := oneServer(t)
	ctx := context.Background()
	s, err := Open(ctx, Config{Conn: nc, Prefix: "md", Replicas: 1, Memory: true, Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := j.CreateStream(ctx, js.StreamConfig{
		Name: "MD_MSG", Subjects: []string{"md.m.*"}, Storage: js.MemoryStorage, AllowMsgTTL: true,
	}); err != nil {
		t.Fatal(err)
	}
	m := store.Mailbox{RecipientID: randomID(t), SenderID: randomID(t)}
	oldSend := func(body string) error {
		msg := &nats.Msg{Subject: "md.m." + key(m.RecipientID), Data: []byte(body),
			Header: nats.Header{hdrExpires: []string{formatMillis(time.Now().Add(time.Hour))}}}
		_, err := j.PublishMsg(ctx, msg, js.WithMsgTTL(time.Hour))
		return err
	}
	if err := oldSend("before"); err != nil {
		t.Fatal(err)
	}
	var late error
	s.js = deleteHook{JetStream: s.js, before: func() { late = oldSend("sent by an old node") }}
	if err := s.migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if late == nil {
		t.Fatal("an old node's SEND just before the delete was acknowledged, then deleted with P_MSG")
	}
	if err := s.CreateMailbox(ctx, m); err != nil {
		t.Fatal(err)
	}
	msgs, err := s.Pending(ctx, m.RecipientID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d messages after migrate, want 1", len(msgs))
	}
}

// TestMigrateTwoNodes: two nodes open at once on a cluster holding P_MSG;
// both must start, and each message must be in its shard once, even when
// one deletes P_MSG while the other still scans it.
func TestMigrateTwoNodes(t *testing.T) {
	c, _, j := oneServer(t)
	ctx := context.Background()
	if _, err := j.CreateStream(ctx, js.StreamConfig{
		Name: "M2_MSG", Subjects: []string{"m2.m.*"}, Storage: js.MemoryStorage, AllowMsgTTL: true,
	}); err != nil {
		t.Fatal(err)
	}
	m := store.Mailbox{RecipientID: randomID(t), SenderID: randomID(t)}
	const n = 3000
	for i := range n {
		msg := &nats.Msg{Subject: "m2.m." + key(m.RecipientID), Data: []byte(fmt.Sprint(i)),
			Header: nats.Header{hdrExpires: []string{formatMillis(time.Now().Add(time.Hour))}}}
		if _, err := j.PublishMsgAsync(msg, js.WithMsgTTL(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	<-j.PublishAsyncComplete()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	stores := make([]*Store, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(ctx, Config{URLs: c.URLs(), Prefix: "m2", Replicas: 1, Memory: true, Shards: 2})
		}()
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(60 * time.Second):
		t.Fatal("Open still running after 60 s")
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d did not start: %v", i, err)
		} else {
			defer stores[i].Close()
		}
	}
	s := stores[0]
	if s == nil {
		s = stores[1]
	}
	if s == nil {
		t.FailNow()
	}
	if err := s.CreateMailbox(ctx, m); err != nil {
		t.Fatal(err)
	}
	msgs, err := s.Pending(ctx, m.RecipientID, 0, 2*n)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != n {
		t.Fatalf("%d messages after two concurrent migrations, want %d", len(msgs), n)
	}
}
