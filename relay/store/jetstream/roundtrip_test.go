package jetstream

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"veil/relay/store"
	"veil/relay/store/jetstream/jstest"
)

// TestRoundTrips counts what one relay node sends to NATS for a message
// to a mailbox it used less than a second ago (spec §3.2, §3.3): a SEND
// is one publish and one notification, a delivery of one message two
// gets (the message, then the end of the mailbox), an ACK one delete.
func TestRoundTrips(t *testing.T) {
	c := jstest.Start(t, 1)
	ctx := context.Background()
	nc, err := nats.Connect(c.URLs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	s, err := Open(ctx, Config{Conn: nc, Prefix: "rtt", Replicas: 1, Memory: true, MaxPending: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := store.Mailbox{RecipientID: randomID(t), SenderID: randomID(t)}
	if err := s.CreateMailbox(ctx, m); err != nil {
		t.Fatal(err)
	}
	s.Size() // the quota's figure is refreshed once a second, not per call
	if _, err := s.Send(ctx, m.SenderID, []byte("warm"), time.Hour, 100); err != nil {
		t.Fatal(err)
	}
	count := func(what string, want uint64, op func() error) {
		t.Helper()
		before := nc.Stats().OutMsgs
		if err := op(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := nc.Stats().OutMsgs - before; got != want {
			t.Errorf("%s sent %d NATS messages, want %d", what, got, want)
		}
	}
	var seq uint64
	count("Send", 2, func() (err error) {
		seq, err = s.Send(ctx, m.SenderID, []byte("x"), time.Hour, 100)
		return err
	})
	count("Pending", 2, func() error {
		_, err := s.Pending(ctx, m.RecipientID, seq-1, 10)
		return err
	})
	count("Ack", 1, func() error { return s.Ack(ctx, m.RecipientID, seq) })
}
