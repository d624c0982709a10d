package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkFileDaemons sends a file between two `veil daemon` processes
// through a real `veil-relay` (Badger and the message journal), all on
// 127.0.0.1 and on this machine's cores. Each iteration is one file, from
// `veil send --file` until the receiver's daemon holds it verified (it
// downloads by itself: its auto-download limit is above the size). It
// reports the end-to-end rate (size / (upload + download)), the CPU time
// each process spent per file, and how far each daemon's resident memory
// rose above what it used after a 1 MB warm-up file. The size is VEIL_BENCH_FILE_MB (default 256):
//
//	VEIL_BENCH_FILE_MB=1000 go test -run='^$' -bench=FileDaemons -benchtime=1x -count=3 ./cmd/veil
func BenchmarkFileDaemons(b *testing.B) {
	size := int64(256_000_000)
	if s := os.Getenv("VEIL_BENCH_FILE_MB"); s != "" {
		mb, err := strconv.Atoi(s)
		if err != nil || mb <= 0 {
			b.Fatalf("VEIL_BENCH_FILE_MB=%q is not a number of megabytes", s)
		}
		size = int64(mb) * 1_000_000
	}
	r := startMetricsRelay(b)
	ana, ben := newProfile(b, r.addr), newProfile(b, r.addr)
	aChat, bChat := connect(b, ana, ben)
	ana.ok("files", "--auto", "2GB")
	da, db := runDaemon(b, ana), runDaemon(b, ben)
	dir := b.TempDir()

	// The receiver's transfer events say when a file is verified; one
	// watch through the daemon costs nothing while the file moves.
	ready := watchReady(b, ana, aChat)
	send := func(path string) {
		b.Helper()
		ben.okFor(30*time.Minute, "send", bChat, "--file", path)
		select {
		case <-ready:
		case <-time.After(30 * time.Minute):
			b.Fatalf("the file did not arrive: %+v", ana.files(aChat))
		}
	}
	warm := filepath.Join(dir, "warm.bin")
	writeRandomFile(b, warm, 1_000_000, 2)
	send(warm)

	src := filepath.Join(dir, "bench.bin")
	sum := writeRandomFile(b, src, size, 3)
	pids := []int{da.cmd.Process.Pid, db.cmd.Process.Pid}
	base := make([]int64, len(pids))
	for i, pid := range pids {
		base[i] = rssOf(b, pid)
	}
	peaks := sampleRSS(b, pids, 20*time.Millisecond)
	procs := append(pids, r.cmd.Process.Pid)
	cpu0 := make([]time.Duration, len(procs))
	for i, pid := range procs {
		cpu0[i] = cpuOf(b, pid)
	}

	b.SetBytes(size)
	b.ResetTimer()
	var total time.Duration
	for range b.N {
		start := time.Now()
		send(src)
		total += time.Since(start)
	}
	b.StopTimer()
	for i, unit := range []string{"recv-CPU-s", "send-CPU-s", "relay-CPU-s"} {
		b.ReportMetric((cpuOf(b, procs[i])-cpu0[i]).Seconds()/float64(b.N), unit)
	}
	peak := peaks()
	b.ReportMetric(float64(size)*float64(b.N)/total.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(peak[0]-base[0])/(1<<20), "recv-RSS-growth-MiB")
	b.ReportMetric(float64(peak[1]-base[1])/(1<<20), "send-RSS-growth-MiB")

	fs := ana.files(aChat)
	out := filepath.Join(dir, "saved.bin")
	ana.okFor(30*time.Minute, "save", aChat, fs[len(fs)-1].ID, "--out", out)
	if sha256File(b, out) != sum {
		b.Fatal("the saved copy differs from the file sent")
	}
}

// watchReady runs `veil watch --json` for p (through its daemon) and
// sends on the returned channel each time a file of chat is verified. A
// failed file fails t.
func watchReady(t testing.TB, p *profile, chat string) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := p.command(ctx, "watch", "--json")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{}, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		seen := map[string]bool{}
		for sc.Scan() {
			var ev struct{ Type, Chat, Message, Status string }
			if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Type != "transfer" || ev.Chat != chat {
				continue
			}
			switch ev.Status {
			case "ready":
				if !seen[ev.Message] { // once per file, however many events say so
					seen[ev.Message] = true
					ready <- struct{}{}
				}
			case "failed":
				t.Errorf("the file failed: %s", sc.Text())
			}
		}
	})
	t.Cleanup(func() { cancel(); cmd.Wait(); wg.Wait() })
	return ready
}

// rssOf returns a process's resident set size in bytes (VmRSS).
func rssOf(t testing.TB, pid int) int64 {
	t.Helper()
	n, err := readRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func readRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for process %d", pid)
}

// cpuOf returns the user and system CPU time a process has used.
func cpuOf(t testing.TB, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which ends with the last ')':
	// state is field 3, utime 14 and stime 15, in clock ticks (USER_HZ 100).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		t.Fatalf("short /proc/%d/stat", pid)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// sampleRSS samples the processes' resident memory every period until the
// returned function is called, which returns each one's peak.
func sampleRSS(t testing.TB, pids []int, period time.Duration) func() []int64 {
	peak := make([]int64, len(pids))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			for i, pid := range pids {
				if n, err := readRSS(pid); err == nil && n > peak[i] {
					peak[i] = n
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	var once sync.Once
	done := func() []int64 { once.Do(func() { close(stop); wg.Wait() }); return peak }
	t.Cleanup(func() { done() })
	return done
}
