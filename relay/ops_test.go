package relay_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"veil/crypto"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/store/memory"
	"veil/relay/wire"
)

// TestTLS serves over TLS (a test certificate) and dials a veil:// address.
func TestTLS(t *testing.T) {
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	tlsCfg, client := ts.TLS.Clone(), ts.Client()
	ts.Close()

	id, _ := crypto.GenerateSign(nil)
	srv, err := relay.New(relay.Config{Store: memory.New(memory.Config{}), Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, tlsCfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	a := srv.Address("127.0.0.1", uint16(ln.Addr().(*net.TCPAddr).Port), true)
	if !strings.HasPrefix(a.String(), "veil://") {
		t.Fatalf("address %s", a)
	}
	// Both ways of dialling TLS: conn's own (whole-frame writes above
	// TLS) and a caller's HTTP client.
	for _, opt := range []*conn.Options{
		{TLSConfig: client.Transport.(*http.Transport).TLSClientConfig},
		{HTTPClient: client},
	} {
		c, err := conn.DialAddress(tctx(t), a, opt)
		if err != nil {
			t.Fatal(err)
		}
		healthy(t, c)
		c.Close()
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsAndMetricsHoldNoIdentifiers drives a relay through successes and
// failures with debug logging on, then checks that neither the logs nor
// the metrics contain an address, an ID, a key or a body (spec/relay.md §9).
func TestLogsAndMetricsHoldNoIdentifiers(t *testing.T) {
	var logs syncBuffer
	reg := prometheus.NewRegistry()
	tr := startRelay(t, func(c *relay.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Registerer = reg
	})
	ctx := tctx(t)
	c := tr.dial(t)
	m := newMailbox(t, c)
	if err := c.Send(ctx, m.sid, &m.cap, body(1024, 0xab)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Send(ctx, m.sid, &[32]byte{}, body(1024, 0xab)), wire.CodeAuth)
	// A subscriber that sends a bad block, which closes its connection.
	r := tr.raw(t)
	sub := wire.Frame{Type: wire.TypeSUB, CID: r.NextCID(), ID: m.rid}
	nonce := r.Nonce()
	wire.SignFrame(&sub, &nonce, m.key)
	item, _ := wire.AppendFrame(nil, &sub)
	if _, err := r.Do(ctx, item, sub.CID); err != nil {
		t.Fatal(err)
	}
	if f, err := r.Read(ctx); err != nil || f.Type != wire.TypeMSG {
		t.Fatalf("after SUB: %v, %v; want MSG", f.Type, err)
	}
	r.WriteMessage(ctx, websocket.MessageBinary, make([]byte, 10))
	r.Wait(ctx)
	tr.stop()

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var metrics strings.Builder
	for _, mf := range mfs {
		metrics.WriteString(mf.String())
	}
	if !strings.Contains(metrics.String(), "veil_relay_messages_stored_total") || !strings.Contains(logs.String(), "relay: draining") {
		t.Fatal("metrics or logs missing: the test would check nothing")
	}
	pub := m.key.Public()
	secrets := map[string]string{"address": "127.0.0.1", "body": strings.Repeat("ab", 16)}
	for name, b := range map[string][]byte{"recipient ID": m.rid[:], "sender ID": m.sid[:], "capability": m.cap[:], "key": pub[:]} {
		secrets[name+" (hex)"] = hex.EncodeToString(b[:8])
		secrets[name+" (base64)"] = base64.StdEncoding.EncodeToString(b)[:10]
	}
	for where, text := range map[string]string{"logs": logs.String(), "metrics": metrics.String()} {
		for name, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contain the %s", where, name)
			}
		}
	}
}
