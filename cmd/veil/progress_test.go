package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestProgressLine: the bar's text, as the user sees it, fits the width.
func TestProgressLine(t *testing.T) {
	for _, tc := range []struct {
		width       int
		done, total int64
		rate        float64
		want        string
	}{
		{59, 47_000_000, 100_000_000, 61.2e6, "[#######-------]  47%  47.0/100.0 MB  61.2 MB/s  0:01 left"},
		{50, 0, 100_000_000, 0, "[-------]   0%  0.0/100.0 MB  0.0 MB/s  -:-- left"},
		{60, 100_000_000, 100_000_000, 50e6, "[##############] 100%  100.0/100.0 MB  50.0 MB/s  0:00 left"},
		{70, 500_000_000, 2_000_000_000, 1e6, "[#######---------------------]  25%  0.5/2.0 GB  1.0 MB/s  25:00 left"},
		{70, 0, 2_000_000_000, 1e5, "[--------------------------]   0%  0.0/2.0 GB  0.1 MB/s  5:33:20 left"},
		{20, 5_000_000, 10_000_000, 1e6, "50%  5.0/10.0 MB  1.0 MB/s  0:05 left"},
	} {
		got := progressLine(tc.width, tc.done, tc.total, tc.rate)
		if got != tc.want {
			t.Errorf("progressLine(%d, %d, %d, %g):\n got %q\nwant %q", tc.width, tc.done, tc.total, tc.rate, got, tc.want)
		}
		if strings.HasPrefix(got, "[") && len(got) != tc.width-1 {
			t.Errorf("line of %d columns in a terminal of %d", len(got), tc.width)
		}
	}
}

// TestProgressRedraw drives the bar with a clock the test moves: at most
// one line per 100 ms, each starting with \r, the rate a moving average,
// and one newline at the end.
func TestProgressRedraw(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	p := newTransferBar(&out, 100_000_000, 80, func() time.Time { return now })
	p.update(0)
	lines := 1
	for i := 1; i <= 20; i++ {
		now = now.Add(50 * time.Millisecond)
		p.update(int64(i) * 1_000_000) // 20 MB/s
		if i%2 == 0 {
			lines++
		}
	}
	if got := strings.Count(out.String(), "\r"); got != lines {
		t.Fatalf("%d lines drawn in 1 s of 20 updates, want %d (10 Hz)", got, lines)
	}
	if p.rate < 19.9e6 || p.rate > 20.1e6 {
		t.Fatalf("steady rate %.0f, want 20 MB/s", p.rate)
	}
	// A stall pulls the average down smoothly, not to zero at once.
	now = now.Add(2 * time.Second)
	p.update(20_000_000)
	if p.rate < 5e6 || p.rate > 10e6 {
		t.Fatalf("rate after a 2 s stall %.0f, want about 20 MB/s / e", p.rate)
	}
	p.finish(100_000_000)
	s := out.String()
	if !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		t.Fatalf("want one final newline: %q", s)
	}
	last := s[strings.LastIndex(s, "\r")+1:]
	if !strings.HasPrefix(last, "[") || !strings.Contains(last, "100%  100.0/100.0 MB") {
		t.Fatalf("final line %q", last)
	}
	var nilBar *transferBar
	nilBar.update(1)
	nilBar.finish(1)
	nilBar.abandon()
}

// TestProgressOnlyOnTerminal: no bar on a pipe, for JSON or small files.
func TestProgressOnlyOnTerminal(t *testing.T) {
	var buf bytes.Buffer
	if terminalBar(&buf, 1e9, false) != nil {
		t.Fatal("a bar on a buffer")
	}
}
