package main

import (
	"context"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay/store/jetstream/jstest"
)

// TestServeJetStream runs two relays as the command does, both on one
// in-process NATS server with --store jetstream: a message sent through
// one is delivered by the other.
func TestServeJetStream(t *testing.T) {
	nats := jstest.Start(t, 1)
	base := []string{"serve", "--store", "jetstream", "--nats", nats.URL(), "--nats-replicas", "1", "--listen", "127.0.0.1:0", "--log-level", "error"}
	dir := t.TempDir() // one identity for both nodes, as in a deployment
	addrA, stopA := start(t, append(base, "--data", dir))
	defer stopA()
	addrB, stopB := start(t, append(base, "--data", dir))
	defer stopB()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := dial(t, addrA), dial(t, addrB)
	defer a.Close()
	defer b.Close()
	k, _ := crypto.GenerateSign(nil)
	rid, sid, err := a.New(ctx, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Subscribe(ctx, rid, k); err != nil {
		t.Fatal(err)
	}
	var capability [32]byte
	if err := b.SecureSender(ctx, sid, &capability); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(ctx, sid, &capability, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-a.Pushes():
		if len(p.Body) != 1024 {
			t.Fatalf("got %d bytes", len(p.Body))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("message sent through relay B not delivered by relay A")
	}
}

func TestJetStreamOptions(t *testing.T) {
	for _, bad := range [][]string{{"--store", "jetstream"}, {"--nats", "nats://127.0.0.1:4222"}} {
		if _, err := parseOptions(bad, noEnv); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	o, err := parseOptions([]string{"--store", "jetstream"}, func(k string) string {
		return map[string]string{"VEIL_RELAY_NATS": "nats://a:4222,nats://b:4222"}[k]
	})
	if err != nil || o.NATS != "nats://a:4222,nats://b:4222" || o.NATSReplicas != 3 {
		t.Fatalf("got %+v, %v", o, err)
	}
}
