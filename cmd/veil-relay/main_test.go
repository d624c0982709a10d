package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/store/memory"
)

func noEnv(string) string { return "" }

// TestServeAndRestart runs the relay as the command does, with each store,
// sends a message, restarts it on the same data directory and checks that
// the address (fingerprint) is unchanged and, with badger, that the
// message survived.
func TestServeAndRestart(t *testing.T) {
	for _, st := range []string{"memory", "badger"} {
		t.Run(st, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"serve", "--store", st, "--listen", "127.0.0.1:0", "--data", dir, "--log-level", "error"}
			addr1, stop1 := start(t, args)
			c := dial(t, addr1)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			k, _ := crypto.GenerateSign(nil)
			rid, sid, err := c.New(ctx, k, nil)
			if err != nil {
				t.Fatal(err)
			}
			var capability [32]byte
			if err := c.SecureSender(ctx, sid, &capability); err != nil {
				t.Fatal(err)
			}
			if err := c.Send(ctx, sid, &capability, make([]byte, 1024)); err != nil {
				t.Fatal(err)
			}
			c.Close()
			stop1()

			addr2, stop2 := start(t, args)
			defer stop2()
			fp1, fp2 := addr1[strings.Index(addr1, "#"):], addr2[strings.Index(addr2, "#"):]
			if fp1 != fp2 {
				t.Fatalf("fingerprint changed across restarts: %s, %s", fp1, fp2)
			}
			c2 := dial(t, addr2)
			defer c2.Close()
			err = c2.Subscribe(ctx, rid, k)
			if st == "memory" {
				if err == nil {
					t.Fatal("memory store kept a mailbox across restarts")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			select {
			case p := <-c2.Pushes():
				if p.Seq != 1 || len(p.Body) != 1024 {
					t.Fatalf("got seq %d len %d", p.Seq, len(p.Body))
				}
			case <-time.After(10 * time.Second):
				t.Fatal("message lost across restart")
			}
		})
	}
}

func start(t *testing.T, args []string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- run(ctx, args, noEnv, &out, os.Stderr, ready) }()
	select {
	case addr := <-ready:
		if !strings.HasPrefix(addr, "veil+ws://127.0.0.1:") {
			t.Fatalf("address %q", addr)
		}
		return addr, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("relay did not start")
	}
	return "", nil
}

func dial(t *testing.T, addr string) *conn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := conn.Dial(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOptionPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "relay.conf")
	os.WriteFile(cfg, []byte("# comment\nmax-pending = 50\nrate = 10\nlisten = 127.0.0.1:9000\n"), 0o600)
	env := map[string]string{"VEIL_RELAY_RATE": "20", "VEIL_RELAY_CONFIG": cfg}
	o, err := parseOptions([]string{"--listen", "127.0.0.1:9100"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxPending != 50 || o.Rate != 20 || o.Listen != "127.0.0.1:9100" {
		t.Fatalf("got max-pending %d rate %v listen %s", o.MaxPending, o.Rate, o.Listen)
	}
	os.WriteFile(cfg, []byte("no-such-setting = 1\n"), 0o600)
	if _, err := parseOptions(nil, func(k string) string { return env[k] }); err == nil {
		t.Fatal("unknown config setting accepted")
	}
	for _, bad := range [][]string{{"--store", "sqlite"}, {"--tls-cert", "x"}, {"extra"}, {"--forward", "maybe"}, {"--forward", "password"}} {
		if _, err := parseOptions(bad, noEnv); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestDefaultDataDir(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/xdg")
	if got := defaultDataDir(); got != filepath.Join("/xdg", "veil-relay") {
		t.Fatalf("got %s", got)
	}
}

// TestAddressCommand: address prints the address of the relay whose
// identity --data holds, and never creates one: on a directory without
// it (or a missing directory) it fails, exit 1, and writes nothing.
func TestAddressCommand(t *testing.T) {
	dir := t.TempDir()
	args := []string{"address", "--data", dir, "--listen", "relay.example.org:443", "--tls-cert", "c", "--tls-key", "k"}
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, noEnv, &out, &errOut, nil)
	if !errors.Is(err, relay.ErrNoIdentity) || exitCode(err, &errOut) != 1 || out.Len() != 0 {
		t.Fatalf("address without an identity: %v, stdout %q", err, out.String())
	}
	if des, _ := os.ReadDir(dir); len(des) != 0 {
		t.Fatalf("address wrote %d files", len(des))
	}
	missing := filepath.Join(dir, "missing")
	if err := run(context.Background(), []string{"address", "--data", missing}, noEnv, &out, &errOut, nil); !errors.Is(err, relay.ErrNoIdentity) {
		t.Fatalf("address on a missing directory: %v", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("address created the data directory")
	}

	// init makes the identity, prints its address, and refuses a second time.
	initArgs := append([]string{"init"}, args[1:]...)
	if err := run(context.Background(), initArgs, noEnv, &out, os.Stderr, nil); err != nil {
		t.Fatal(err)
	}
	made := out.String()
	if err := run(context.Background(), initArgs, noEnv, &out, &errOut, nil); err == nil || exitCode(err, &errOut) != 1 {
		t.Fatalf("init over an identity: %v", err)
	}
	id, err := relay.LoadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), args, noEnv, &out, os.Stderr, nil); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.HasPrefix(s, "veil://relay.example.org:443#") {
		t.Fatalf("address %q", s)
	}
	srv, err := relay.New(relay.Config{Store: memory.New(memory.Config{}), Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	if want := srv.Address("relay.example.org", 443, true); strings.TrimSpace(out.String()) != want.String() || out.String() != made {
		t.Fatalf("address %q (init printed %q), the relay's is %q", out.String(), made, want)
	}
}

func TestForwardPrivateOption(t *testing.T) {
	o, err := parseOptions(nil, noEnv)
	if err != nil || o.FwdPrivate {
		t.Fatalf("default forward-private = %v (%v), want false", o.FwdPrivate, err)
	}
	if o, err = parseOptions([]string{"--forward-private"}, noEnv); err != nil || !o.FwdPrivate {
		t.Fatalf("--forward-private: %v (%v)", o.FwdPrivate, err)
	}
	env := map[string]string{"VEIL_RELAY_FORWARD_PRIVATE": "true"}
	if o, err = parseOptions(nil, func(k string) string { return env[k] }); err != nil || !o.FwdPrivate {
		t.Fatalf("VEIL_RELAY_FORWARD_PRIVATE: %v (%v)", o.FwdPrivate, err)
	}
}

// TestAbuseLimitOptions: the abuse limits reach relay.Limits, -1 stays
// "no limit", and --no-abuse-limits lifts them all.
func TestAbuseLimitOptions(t *testing.T) {
	none := func(string) string { return "" }
	o, err := parseOptions([]string{"--max-conns-per-addr", "1024", "--addr-bytes", "-1", "--create-rate", "5"}, none)
	if err != nil {
		t.Fatal(err)
	}
	l := o.limits()
	if l.MaxConnsPerAddr != 1024 || l.AddrBytes != -1 || l.CreateRate != 5 || l.ConnMailboxes != relay.DefaultLimits.ConnMailboxes || l.ConnBytes != 0 {
		t.Fatalf("limits %+v", l)
	}
	o, err = parseOptions([]string{"--no-abuse-limits"}, none)
	if err != nil {
		t.Fatal(err)
	}
	if l := o.limits(); l.MaxConnsPerAddr != -1 || l.AddrBytes != -1 || l.ConnBlobs != -1 || l.AddrCreateRate != -1 {
		t.Fatalf("--no-abuse-limits: %+v", l)
	}
}
