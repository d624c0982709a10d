package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/relay/store"
	"veil/relay/store/badger"
	"veil/relay/store/memory"
)

// serve runs a relay with st on ln until the test ends or stop is called.
func serve(t *testing.T, st store.Store, id crypto.SignPrivate, ln net.Listener, opts ...func(*relay.Config)) (address string, stop func()) {
	t.Helper()
	cfg := relay.Config{Store: st, Identity: id, ForwardPrivate: true} // forwards to 127.0.0.1
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, nil) }()
	port := ln.Addr().(*net.TCPAddr).Port
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return srv.Address("127.0.0.1", uint16(port), false).String(), stop
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func testConfig(address string) config {
	return config{relay: address, conns: 4, messages: 2000, bucket: 1024, window: 16, drain: 10 * time.Second}
}

// TestFilesRate: files mode against a relay whose chunk rate is far
// below what it sends gets RATE answers, pauses and sends those commands
// again: every chunk is stored and read back, with no error.
func TestFilesRate(t *testing.T) {
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New(memory.Config{})
	t.Cleanup(func() { st.Close() })
	address, _ := serve(t, st, id, listen(t, "127.0.0.1:0"), func(c *relay.Config) { c.Limits.ChunkRate = 100 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := testConfig(address)
	cfg.conns = 1
	cfg.window = 64
	res, err := runFiles(ctx, cfg, 1, 150*16000, time.Hour, 0)
	if err != nil || res.Uploaded != 150 || res.Corrupt != 0 || res.Errors != 0 || res.RateRetries == 0 {
		t.Fatalf("files run: %+v, %v", res, err)
	}
}

// TestModes runs every mode of veil-load against a real relay with the
// memory store.
func TestModes(t *testing.T) {
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New(memory.Config{})
	t.Cleanup(func() { st.Close() }) // after the relay stops (cleanups run last first)
	address, _ := serve(t, st, id, listen(t, "127.0.0.1:0"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	res, err := runMailbox(ctx, testConfig(address))
	if err != nil {
		t.Fatal(err)
	}
	if res.Acked != 2000 || res.Delivered != 2000 || res.ReceiverAck != 2000 || res.Lost != 0 || res.Duplicates != 0 || res.Errors != 0 {
		t.Fatalf("mailbox run: %+v", res)
	}
	if res.MsgsPerSec <= 0 || res.P50ms <= 0 || res.P99ms < res.P50ms || res.P999ms < res.P99ms {
		t.Fatalf("mailbox run figures: %+v", res)
	}

	rated := testConfig(address)
	rated.messages, rated.rate = 200, 1000
	if res, err = runMailbox(ctx, rated); err != nil || res.Delivered != 200 || res.Lost != 0 {
		t.Fatalf("rated run: %+v, %v", res, err)
	}
	if res.ElapsedSec < 0.1 {
		t.Fatalf("200 messages at 1000/s took %.3fs: the rate was not applied", res.ElapsedSec)
	}

	lc := testConfig(address)
	lc.messages = 600
	if res, err = runLogs(ctx, lc, time.Hour); err != nil || res.Delivered != 600 || res.Lost != 0 || res.Duplicates != 0 {
		t.Fatalf("logs run: %+v, %v", res, err)
	}

	ic := testConfig(address)
	ic.relayPID = os.Getpid()
	if res, err = runIdle(ctx, ic, idleConfig{n: 20, sub: true, hold: 10 * time.Millisecond}); err != nil || res.Idle != 20 || res.Errors != 0 || res.RelayRSSAfter <= 0 {
		t.Fatalf("idle run: %+v, %v", res, err)
	}

	// Files: 3 files of 5 chunks (the last one short) on 4 connections.
	res, err = runFiles(ctx, testConfig(address), 3, 4*16000+1, time.Hour, os.Getpid())
	if err != nil || res.Chunks != 15 || res.Uploaded != 15 || res.Corrupt != 0 || res.Errors != 0 ||
		res.UploadMBps <= 0 || res.DownloadMBps <= 0 || res.RelayRSSPeak <= 0 {
		t.Fatalf("files run: %+v, %v", res, err)
	}
	if n := st.ChunkBytes(); n != 0 {
		t.Fatalf("files run left %d chunk bytes on the relay", n)
	}

	state := filepath.Join(t.TempDir(), "state.json")
	if res, err = runVerifySend(ctx, testConfig(address), state); err != nil || res.Acked != 2000 {
		t.Fatalf("verify send: %+v, %v", res, err)
	}
	vc := testConfig(address)
	vc.drain = 2 * time.Second
	if res, err = runVerifyReceive(ctx, vc, state); err != nil || res.Acked != 2000 || res.Delivered != 2000 || res.Lost != 0 {
		t.Fatalf("verify receive: %+v, %v", res, err)
	}
}

// TestVerifyAcrossRestart sends with --verify send to a relay on the
// Badger store, stops the relay and closes the store, reopens both and
// checks with --verify receive that everything acknowledged survived.
func TestVerifyAcrossRestart(t *testing.T) {
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := badger.Open(badger.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t, "127.0.0.1:0")
	hostport := ln.Addr().String()
	address, stop := serve(t, st, id, ln)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	state := filepath.Join(t.TempDir(), "state.json")
	res, err := runVerifySend(ctx, testConfig(address), state)
	if err != nil || res.Acked != 2000 {
		t.Fatalf("verify send: %+v, %v", res, err)
	}
	stop()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = badger.Open(badger.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	address, _ = serve(t, st, id, listen(t, hostport))
	vc := testConfig(address)
	vc.drain = 2 * time.Second
	res, err = runVerifyReceive(ctx, vc, state)
	if err != nil || res.Acked != 2000 || res.Delivered != 2000 || res.Lost != 0 || res.Duplicates != 0 {
		t.Fatalf("verify receive after restart: %+v, %v", res, err)
	}
}

// TestForwardMode runs the mailbox mode with senders going through a
// forwarding relay (spec/relay.md §7.6).
func TestForwardMode(t *testing.T) {
	var addrs []string
	for range 2 {
		id, err := crypto.GenerateSign(nil)
		if err != nil {
			t.Fatal(err)
		}
		st := memory.New(memory.Config{})
		t.Cleanup(func() { st.Close() })
		a, _ := serve(t, st, id, listen(t, "127.0.0.1:0"))
		addrs = append(addrs, a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := testConfig(addrs[0])
	cfg.messages = 1000
	cfg.forward = addrs[1]
	res, err := runMailbox(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != "mailbox-forward" || res.Acked != 1000 || res.Delivered != 1000 || res.Lost != 0 || res.Duplicates != 0 || res.Errors != 0 {
		t.Fatalf("forward run: %+v", res)
	}
}
