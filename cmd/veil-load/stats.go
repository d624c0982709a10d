package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// Result is what a run reports; with --json it is printed as one object.
type Result struct {
	Machine
	Mode        string  `json:"mode"`
	Conns       int     `json:"conns"`
	Bucket      int     `json:"bucket,omitempty"`
	RateTarget  float64 `json:"rate_target,omitempty"`
	Sent        int64   `json:"sent"`          // SEND (or LAPPEND) issued
	Acked       int64   `json:"acked"`         // answered OK by the relay: durable
	Delivered   int64   `json:"delivered"`     // distinct acked messages received
	Lost        int64   `json:"lost"`          // acked but never delivered
	Duplicates  int64   `json:"duplicates"`    // deliveries of a message already delivered
	Unexpected  int64   `json:"unexpected"`    // delivered but never acked to the sender (allowed after a crash)
	ReceiverAck int64   `json:"receiver_acks"` // ACKs answered OK (mailbox mode)
	Errors      int     `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	ElapsedSec  float64 `json:"elapsed_s"`
	MsgsPerSec  float64 `json:"msgs_per_sec"` // fully routed (delivered and ACKed) per second
	P50ms       float64 `json:"p50_ms"`
	P90ms       float64 `json:"p90_ms"`
	P99ms       float64 `json:"p99_ms"`
	P999ms      float64 `json:"p999_ms"`
	MaxMs       float64 `json:"max_ms"`
	// With --rate, latency from when each message was due by the pacing
	// schedule rather than from when it was sent: it includes any time a
	// message waited for a free sender, which send-to-delivery latency
	// leaves out (coordinated omission).
	P50DueMs float64 `json:"p50_from_due_ms,omitempty"`
	P99DueMs float64 `json:"p99_from_due_ms,omitempty"`

	// CPU cost per routed message, from the relay's /proc times (with
	// --relay-pid) and veil-load's own: robust to other load on the machine.
	// In mailbox mode they cover the messages only, not the setup.
	RelayCPUus   float64 `json:"relay_cpu_us_per_msg,omitempty"`
	ForwardCPUus float64 `json:"forward_cpu_us_per_msg,omitempty"` // the forwarding relay's (--forward-pid)
	LoadCPUus    float64 `json:"load_cpu_us_per_msg,omitempty"`
	// Transport blocks the relay received and sent per routed message,
	// from its metrics (--relay-metrics): how many items shared a block.
	RelayBlocksIn  float64 `json:"relay_blocks_in_per_msg,omitempty"`
	RelayBlocksOut float64 `json:"relay_blocks_out_per_msg,omitempty"`

	// Idle mode: the relay's resident set (from /proc or its metrics)
	// and Go heap (from its metrics) before and after, and per connection.
	Idle                int     `json:"idle_conns,omitempty"`
	Sources             int     `json:"source_addresses,omitempty"`
	RelayRSSBefore      int64   `json:"relay_rss_before_kib,omitempty"`
	RelayRSSAfter       int64   `json:"relay_rss_after_kib,omitempty"`
	BytesPerIdleCon     float64 `json:"relay_bytes_per_idle_conn,omitempty"`
	RSSKiBPerConn       float64 `json:"relay_rss_kib_per_idle_conn,omitempty"`
	HeapInuseBefore     int64   `json:"relay_heap_inuse_before_kib,omitempty"`
	HeapInuseAfter      int64   `json:"relay_heap_inuse_after_kib,omitempty"`
	HeapAllocBefore     int64   `json:"relay_heap_alloc_before_kib,omitempty"`
	HeapAllocAfter      int64   `json:"relay_heap_alloc_after_kib,omitempty"`
	HeapInuseKiBPerConn float64 `json:"relay_heap_inuse_kib_per_idle_conn,omitempty"`
	HeapAllocKiBPerConn float64 `json:"relay_heap_alloc_kib_per_idle_conn,omitempty"`
	LoadRSS             int64   `json:"load_rss_kib,omitempty"` // veil-load's own, holding the connections

	// Files mode.
	Files        int     `json:"files,omitempty"`
	FileSize     int64   `json:"file_size,omitempty"`
	Chunks       int64   `json:"chunks,omitempty"`       // chunks per run (files × chunks per file)
	Uploaded     int64   `json:"uploaded,omitempty"`     // chunks stored (CPUT answered OK)
	Corrupt      int64   `json:"corrupt,omitempty"`      // chunks downloaded with another body
	RateRetries  int64   `json:"rate_retries,omitempty"` // chunk commands sent again after a RATE answer
	UploadMBps   float64 `json:"upload_mb_per_s,omitempty"`
	DownloadMBps float64 `json:"download_mb_per_s,omitempty"`
	RelayRSSPeak int64   `json:"relay_rss_peak_kib,omitempty"`
}

// percentiles fills the latency fields from lat (nanoseconds); it sorts lat.
func (r *Result) percentiles(lat []int64) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(p float64) float64 {
		i := int(p * float64(len(lat)-1))
		return float64(lat[i]) / float64(time.Millisecond)
	}
	r.P50ms, r.P90ms, r.P99ms, r.P999ms, r.MaxMs = at(0.50), at(0.90), at(0.99), at(0.999), at(1)
}

// duePercentiles fills the from-due latency fields from lat
// (nanoseconds); it sorts lat.
func (r *Result) duePercentiles(lat []int64) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond)
	}
	r.P50DueMs, r.P99DueMs = at(0.50), at(0.99)
}

// text prints r for a human.
func (r *Result) text(w io.Writer) {
	r.results(w)
	r.Machine.text(w)
}

// text prints m for a human.
func (m *Machine) text(w io.Writer) {
	fmt.Fprintf(w, "%s, %d CPUs", m.Date, m.CPUs)
	if m.LoadStart != nil && m.LoadEnd != nil {
		fmt.Fprintf(w, ", load average %.2f at the start, %.2f at the end", m.LoadStart[0], m.LoadEnd[0])
	}
	fmt.Fprintln(w)
	if m.Floor != nil {
		m.Floor.text(w)
	}
}

func (r *Result) results(w io.Writer) {
	if r.Mode == "idle" {
		fmt.Fprintf(w, "idle connections %d", r.Idle)
		if r.Sources > 0 {
			fmt.Fprintf(w, " from %d source addresses", r.Sources)
		}
		fmt.Fprintln(w)
		if r.RelayRSSAfter > 0 {
			fmt.Fprintf(w, "relay RSS before %d KiB, after %d KiB: %.1f KiB per connection\n",
				r.RelayRSSBefore, r.RelayRSSAfter, r.RSSKiBPerConn)
		}
		if r.LoadRSS > 0 {
			fmt.Fprintf(w, "veil-load's own RSS holding them %d KiB\n", r.LoadRSS)
		}
		if r.HeapInuseAfter > 0 {
			fmt.Fprintf(w, "relay Go heap in use before %d KiB, after %d KiB: %.1f KiB per connection (allocated: %.1f KiB)\n",
				r.HeapInuseBefore, r.HeapInuseAfter, r.HeapInuseKiBPerConn, r.HeapAllocKiBPerConn)
		}
		if r.Errors > 0 {
			fmt.Fprintf(w, "errors %d (first: %s)\n", r.Errors, r.FirstError)
		}
		return
	}
	if r.Mode == "files" {
		fmt.Fprintf(w, "files %d of %d bytes over %d connections: %d chunks, %d stored, %d corrupt\n",
			r.Files, r.FileSize, r.Conns, r.Chunks, r.Uploaded, r.Corrupt)
		fmt.Fprintf(w, "upload %.1f MB/s, download %.1f MB/s (%.2f s)\n", r.UploadMBps, r.DownloadMBps, r.ElapsedSec)
		if r.RateRetries > 0 {
			fmt.Fprintf(w, "%d chunk commands sent again after RATE\n", r.RateRetries)
		}
		if r.RelayRSSBefore > 0 {
			fmt.Fprintf(w, "relay RSS before %d KiB, peak %d KiB, after %d KiB\n", r.RelayRSSBefore, r.RelayRSSPeak, r.RelayRSSAfter)
		}
		if r.Errors > 0 {
			fmt.Fprintf(w, "errors %d (first: %s)\n", r.Errors, r.FirstError)
		}
		return
	}
	if r.Mode == "verify-send" || r.Mode == "verify-receive" {
		fmt.Fprintf(w, "%s: %d mailboxes, sent %d, acknowledged by the relay %d, delivered %d, lost %d, duplicates %d, unexpected %d\n",
			r.Mode, r.Conns, r.Sent, r.Acked, r.Delivered, r.Lost, r.Duplicates, r.Unexpected)
		if r.Errors > 0 {
			fmt.Fprintf(w, "errors %d (first: %s)\n", r.Errors, r.FirstError)
		}
		return
	}
	fmt.Fprintf(w, "mode %s, %d connections, %d-byte bodies\n", r.Mode, r.Conns, r.Bucket)
	fmt.Fprintf(w, "sent %d, acked %d, delivered %d, lost %d, duplicates %d, unexpected %d, receiver acks %d\n",
		r.Sent, r.Acked, r.Delivered, r.Lost, r.Duplicates, r.Unexpected, r.ReceiverAck)
	fmt.Fprintf(w, "%.0f msgs/s over %.2f s; latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
		r.MsgsPerSec, r.ElapsedSec, r.P50ms, r.P90ms, r.P99ms, r.P999ms, r.MaxMs)
	if r.P99DueMs > 0 {
		fmt.Fprintf(w, "latency from when due (--rate schedule): p50 %.2f ms, p99 %.2f ms\n", r.P50DueMs, r.P99DueMs)
	}
	if r.RelayCPUus > 0 || r.LoadCPUus > 0 {
		fmt.Fprintf(w, "CPU per routed message: relay %.1f µs, veil-load %.1f µs", r.RelayCPUus, r.LoadCPUus)
		if r.ForwardCPUus > 0 {
			fmt.Fprintf(w, ", forwarding relay %.1f µs", r.ForwardCPUus)
		}
		fmt.Fprintln(w)
	}
	if r.RelayBlocksIn > 0 || r.RelayBlocksOut > 0 {
		fmt.Fprintf(w, "relay blocks per routed message: %.2f received, %.2f sent\n", r.RelayBlocksIn, r.RelayBlocksOut)
	}
	if r.Errors > 0 {
		fmt.Fprintf(w, "errors %d (first: %s)\n", r.Errors, r.FirstError)
	}
}
