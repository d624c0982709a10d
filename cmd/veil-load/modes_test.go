package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"veil/crypto"
	"veil/relay"
	"veil/relay/store/memory"
)

// memoryRelay runs a relay on the memory store on ln (127.0.0.1).
func memoryRelay(t *testing.T, ln net.Listener) string {
	t.Helper()
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New(memory.Config{})
	t.Cleanup(func() { st.Close() })
	address, _ := serve(t, st, id, ln)
	return address
}

// TestRunJSON: a mailbox run through run prints one JSON object with the
// figures, the date, the load average, veil-load's own CPU per message,
// the relay's blocks per message from its metrics and, with --floor, the
// machine's floor.
func TestRunJSON(t *testing.T) {
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New(memory.Config{})
	t.Cleanup(func() { st.Close() })
	reg := prometheus.NewRegistry()
	address, _ := serve(t, st, id, listen(t, "127.0.0.1:0"), func(c *relay.Config) { c.Registerer = reg })
	ms := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer ms.Close()
	var out, errb bytes.Buffer
	args := []string{"--relay", address, "--conns", "3", "--messages", "300", "--rate", "3000", "--json", "--timeout", "1m",
		"--relay-pid", strconv.Itoa(os.Getpid()), "--relay-metrics", strings.TrimPrefix(ms.URL, "http://"),
		"--floor", "--floor-trips", "100", "--floor-gap", "0", "--floor-dir", t.TempDir()}
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if res.Mode != "mailbox" || res.Delivered != 300 || res.Lost != 0 || res.Errors != 0 {
		t.Fatalf("result %+v", res)
	}
	if res.P50ms <= 0 || res.P90ms < res.P50ms || res.P99ms < res.P90ms || res.MaxMs < res.P99ms || res.P99DueMs <= 0 {
		t.Errorf("latencies %+v", res)
	}
	if d, err := time.Parse(time.RFC3339, res.Date); err != nil || time.Since(d) > time.Minute {
		t.Errorf("date %q: %v", res.Date, err)
	}
	if res.CPUs < 1 || res.LoadCPUus <= 0 {
		t.Errorf("cpus %d, veil-load CPU per message %v", res.CPUs, res.LoadCPUus)
	}
	if _, err := os.Stat("/proc/loadavg"); err == nil && (res.LoadStart == nil || res.LoadEnd == nil) {
		t.Errorf("no load average: %+v", res.Machine)
	}
	if res.Floor == nil || len(res.Floor.Phases) != 4 || res.Floor.Phases[0].Trips != 100 || len(res.Floor.Disk) != 2 {
		t.Errorf("floor %+v", res.Floor)
	}
	// A message is one SEND and one ACK in, an OK, a MSG and the ACK's OK
	// out, some of them sharing blocks.
	if res.RelayBlocksIn <= 0 || res.RelayBlocksIn > 2 || res.RelayBlocksOut <= 0 || res.RelayBlocksOut > 3 {
		t.Errorf("relay blocks per message: %v received, %v sent", res.RelayBlocksIn, res.RelayBlocksOut)
	}
	// The human output carries the same.
	out.Reset()
	if code := run([]string{"--relay", address, "--conns", "2", "--messages", "50", "--timeout", "1m"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"p90", "CPUs", "veil-load"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("human output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestForwardCPU: the forwarding mode reports the forwarding relay's CPU
// per message when its pid is known (both relays are this process here).
func TestForwardCPU(t *testing.T) {
	dest := memoryRelay(t, listen(t, "127.0.0.1:0"))
	fwd := memoryRelay(t, listen(t, "127.0.0.1:0"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := testConfig(dest)
	cfg.messages, cfg.forward, cfg.forwardPID, cfg.relayPID = 400, fwd, os.Getpid(), os.Getpid()
	res, err := runMailbox(ctx, cfg)
	if err != nil || res.Mode != "mailbox-forward" || res.Delivered != 400 || res.Lost != 0 || res.Errors != 0 {
		t.Fatalf("forward run: %+v, %v", res, err)
	}
	if res.ForwardCPUus <= 0 || res.RelayCPUus <= 0 || res.LoadCPUus <= 0 || res.P90ms <= 0 {
		t.Fatalf("forward run figures: %+v", res)
	}
}

// sourceListener records the source addresses of the connections it
// accepts.
type sourceListener struct {
	net.Listener
	mu   sync.Mutex
	seen map[string]int
}

func (l *sourceListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.seen[c.RemoteAddr().(*net.TCPAddr).IP.String()]++
		l.mu.Unlock()
	}
	return c, err
}

// TestIdleSources: idle mode spreads its connections over --sources
// addresses and reports the relay's RSS and Go heap per connection from
// its metrics.
func TestIdleSources(t *testing.T) {
	ln := &sourceListener{Listener: listen(t, "127.0.0.1:0"), seen: map[string]int{}}
	address := memoryRelay(t, ln)
	// Metrics that grow by 16 KiB of RSS and 8 KiB of heap per
	// connection between the two scrapes.
	const n = 12
	var scrapes atomic.Int64
	ms := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := scrapes.Add(1) - 1
		fmt.Fprintf(w, "# HELP process_resident_memory_bytes x\n# TYPE process_resident_memory_bytes gauge\n")
		fmt.Fprintf(w, "process_resident_memory_bytes %s\n", strconv.FormatFloat(float64(20<<20+k*n*16<<10), 'e', -1, 64))
		fmt.Fprintf(w, "go_memstats_heap_inuse_bytes %d\n", 10<<20+k*n*8<<10)
		fmt.Fprintf(w, "go_memstats_heap_alloc_bytes %d\n", 9<<20+k*n*4<<10)
		fmt.Fprintf(w, "go_gc_duration_seconds{quantile=\"0\"} 1\n")
	}))
	defer ms.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := testConfig(address)
	cfg.metrics = metricsURL(strings.TrimPrefix(ms.URL, "http://"))
	res, err := runIdle(ctx, cfg, idleConfig{n: n, sub: true, hold: time.Millisecond, sources: 3})
	if err != nil || res.Idle != n || res.Errors != 0 || res.Sources != 3 {
		t.Fatalf("idle run: %+v, %v", res, err)
	}
	if res.RSSKiBPerConn != 16 || res.HeapInuseKiBPerConn != 8 || res.HeapAllocKiBPerConn != 4 || res.RelayRSSBefore != 20<<10 {
		t.Fatalf("memory per connection: %+v", res)
	}
	ln.mu.Lock()
	defer ln.mu.Unlock()
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		if ln.seen[ip] != n/3 {
			t.Errorf("%d connections from %s, want %d (all: %v)", ln.seen[ip], ip, n/3, ln.seen)
		}
	}
}

func TestSourceAddr(t *testing.T) {
	for i, want := range map[int]string{0: "127.0.0.2", 253: "127.0.0.255", 254: "127.0.1.0", 300: "127.0.1.46"} {
		if got := sourceAddr(i).String(); got != want {
			t.Errorf("sourceAddr(%d) = %s, want %s", i, got, want)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	text := "# HELP a x\na 1.5e+06\nb{x=\"y\"} 3\nb 2\nc 7 1700000000\n"
	got, err := parseMetrics(bufio.NewScanner(strings.NewReader(text)), []string{"a", "b", "c"})
	if err != nil || got["a"] != 1.5e6 || got["b"] != 2 || got["c"] != 7 {
		t.Fatalf("parseMetrics: %v, %v", got, err)
	}
	if _, err := parseMetrics(bufio.NewScanner(strings.NewReader(text)), []string{"d"}); err == nil {
		t.Fatal("a missing metric was not an error")
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add("a 1\n# x\nb{l=\"v\"} 2\n")
	f.Add("a NaN\na +Inf\n")
	f.Fuzz(func(t *testing.T, text string) {
		got, err := parseMetrics(bufio.NewScanner(strings.NewReader(text)), []string{"a"})
		if err == nil {
			if _, ok := got["a"]; !ok {
				t.Fatal("no error and no value")
			}
		}
	})
}

// TestHelp: --help says how to run idle mode at scale.
func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--help"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"ulimit -n", "--sources", "per source address", "--floor"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}
