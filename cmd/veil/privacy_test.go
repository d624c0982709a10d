package main

// The relay's privacy (issue 9): with debug logging and metrics on, a full
// session (invite, join, chat both ways, a reused invite, a group with a
// join, messages and a removal) leaves in the relay's logs and metrics no
// client address, nothing that looks like an ID, key or capability in hex
// or base64, no raw bytes, and no message text (spec/relay.md §9, §12).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/coder/websocket"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// metricsRelay is a veil-relay process with debug logs and metrics on.
type metricsRelay struct {
	cmd            *exec.Cmd
	addr           string
	port, mport    int
	stdout, stderr lockedBuffer
}

func startMetricsRelay(t testing.TB) *metricsRelay {
	t.Helper()
	r := &metricsRelay{port: freePort(t), mport: freePort(t)}
	r.cmd = exec.Command(relayBin, "serve", "--data", t.TempDir(), "--listen", fmt.Sprintf("127.0.0.1:%d", r.port),
		"--metrics", fmt.Sprintf("127.0.0.1:%d", r.mport), "--drain", "1s", "--log-level", "debug")
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.cmd.Process.Kill(); r.cmd.Wait() })
	for deadline := time.Now().Add(30 * time.Second); r.addr == ""; {
		if out, ok := strings.CutSuffix(r.stdout.String(), "\n"); ok {
			r.addr = strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
		}
		if time.Now().After(deadline) {
			t.Fatalf("veil-relay did not start: %s", r.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r
}

func (r *metricsRelay) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", r.mport))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// counter returns the value of a counter without labels, or -1.
func counter(metrics, name string) float64 {
	for _, line := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f
			}
		}
	}
	return -1
}

func TestRelayLogsAndMetricsAfterAFullSession(t *testing.T) {
	t.Parallel()
	r := startMetricsRelay(t)
	addr, port, mport := r.addr, r.port, r.mport
	fingerprint := addr[strings.IndexByte(addr, '#')+1:]

	texts := []string{"private words one", "private words two", "group words three"}
	ana, ben, cat := newProfile(t, addr), newProfile(t, addr), newProfile(t, addr)
	key := ana.ok("invite", "--as", "ana")
	bChat := ben.ok("join", key, "--as", "ben")
	evs := chatEvents(ana.watch(1, 30*time.Second))
	if len(evs) != 1 {
		t.Fatalf("ana saw %+v", evs)
	}
	aChat := evs[0].Chat
	cat.fails(1, "join", key, "--as", "cat") // a reused key: the leak alarm path
	ana.ok("send", aChat, texts[0])
	ben.ok("send", bChat, texts[1])
	ben.watch(1, 30*time.Second)
	ana.watch(1, 30*time.Second)
	ana.ok("group", "create", "river", "--as", "ana")
	bGroup, _ := joinGroup(t, ana, ben, "river", "ben")
	joinGroup(t, ana, cat, "river", "cat")
	ana.ok("send", "river", texts[2])
	ben.ok("group", "sync")
	if got := strings.Join(textsOf(ben.read(bGroup)), "|"); !strings.Contains(got, texts[2]) {
		t.Fatalf("ben's group read %q", got)
	}
	ana.ok("group", "remove", "river", "cat")
	// Handshake failures are logged at debug level: a bad hello, and a
	// client that vanishes mid-handshake.
	for _, hello := range [][]byte{[]byte("not a hello"), nil} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ws, _, err := websocket.Dial(ctx, fmt.Sprintf("ws://127.0.0.1:%d/v1", port), nil)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		ws.Read(ctx) // the relay's hello
		if hello != nil {
			ws.Write(ctx, websocket.MessageBinary, hello)
			ws.Read(ctx) // the close
		}
		ws.CloseNow()
		cancel()
	}
	// The relay logs each failure once it notices it: wait for both.
	for deadline := time.Now().Add(30 * time.Second); strings.Count(r.stdout.String()+r.stderr.String(), "handshake failed") < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the relay did not log the two failed handshakes:\n%s%s", r.stdout.String(), r.stderr.String())
		}
	}

	metrics := []byte(r.metrics(t))
	r.cmd.Process.Signal(os.Interrupt)
	r.cmd.Wait()

	logs := r.stdout.String() + r.stderr.String()
	if !strings.Contains(string(metrics), "veil_relay_") || !strings.Contains(logs, "level=DEBUG") && !strings.Contains(logs, `"level":"DEBUG"`) {
		t.Fatalf("no metrics or no debug logs: the test would check nothing\nlogs:\n%s", logs)
	}
	t.Logf("checked %d bytes of debug logs and %d bytes of metrics", len(logs), len(metrics))
	ipRe := regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(:\d+)?|\[[0-9a-fA-F:]+\](:\d+)?`)
	hexRe := regexp.MustCompile(`[0-9a-fA-F]{16,}`)
	b64Re := regexp.MustCompile(`[A-Za-z0-9+/_-]{20,}`)
	own := map[string]bool{fmt.Sprintf("127.0.0.1:%d", port): true, fmt.Sprintf("127.0.0.1:%d", mport): true}
	for where, text := range map[string]string{"logs": logs, "metrics": string(metrics)} {
		for _, m := range ipRe.FindAllString(text, -1) {
			if !own[m] {
				t.Errorf("%s hold an address %q in %q", where, m, lineOf(text, m))
			}
		}
		for _, m := range hexRe.FindAllString(text, -1) {
			if strings.ContainsAny(m, "abcdfABCDF") { // not a float's exponent
				t.Errorf("%s hold a hex string %q", where, m)
			}
		}
		for _, m := range b64Re.FindAllString(text, -1) {
			if m != fingerprint && hasDigitUpperLower(m) {
				t.Errorf("%s hold what looks like base64 %q", where, m)
			}
		}
		for _, s := range texts {
			if strings.Contains(text, s) {
				t.Errorf("%s hold message text %q", where, s)
			}
		}
		for _, r := range text {
			if r != '\n' && r != '\t' && (unicode.IsControl(r) || r == unicode.ReplacementChar) {
				t.Errorf("%s hold a raw byte %U", where, r)
				break
			}
		}
	}
}

func textsOf(ms []message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return out
}

func hasDigitUpperLower(s string) bool {
	var d, u, l bool
	for _, r := range s {
		d = d || unicode.IsDigit(r)
		u = u || unicode.IsUpper(r)
		l = l || unicode.IsLower(r)
	}
	return d && u && l
}

// lineOf returns the line of text that holds m.
func lineOf(text, m string) string {
	i := strings.Index(text, m)
	if i < 0 {
		return ""
	}
	start := strings.LastIndexByte(text[:i], '\n') + 1
	end := strings.IndexByte(text[i:], '\n')
	if end < 0 {
		return text[start:]
	}
	return text[start : i+end]
}
