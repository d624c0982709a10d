// Command natscost measures the CPU a NATS server spends per mailbox
// message for the least the relay's JetStream store must ask of it
// (spec/relay-jetstream.md §1.2, §3): a publish to a file-storage stream
// acknowledged by the server, the message read once, and deleted once.
// It starts its own nats-server (the binary given by --server) on
// 127.0.0.1 with a fresh store directory for every run, drives it with
// asynchronous publishes and requests through one connection, and reads
// the server's CPU time from /proc/PID/stat around each phase. Every run
// stops by itself within --timeout; contrib/jetstream/natscost.sh builds
// nats-server from the Go module and runs this.
//
// The stream is configured as the store's shards are with one replica:
// file storage, discard new, a per-subject limit, message TTLs allowed,
// a two-minute duplicate window and direct get. --headers adds the
// headers the store's SEND carries (Nats-Msg-Id, Nats-TTL, Veil-Exp).
// --batch is how many messages one read asks for: 1 is a plain direct get
// by next-by-subject, more is a batch direct get (nats-server 2.11 or
// later) ending with the server's end-of-batch status. --purge deletes a
// mailbox's messages with one purge request instead of one delete each.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"
)

type config struct {
	server    string
	port      int
	runs      int
	messages  int
	mailboxes int
	size      int
	window    int
	batch     int
	round     int
	headers   bool
	purge     bool
	timeout   time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.server, "server", "", "the nats-server `binary` to start")
	flag.IntVar(&c.port, "port", 24900, "the server's port on 127.0.0.1")
	flag.IntVar(&c.runs, "runs", 3, "runs, each on a fresh server")
	flag.IntVar(&c.messages, "messages", 60000, "messages per run")
	flag.IntVar(&c.mailboxes, "mailboxes", 50, "mailboxes (subjects) the messages are spread over")
	flag.IntVar(&c.size, "size", 1100, "message body in bytes")
	flag.IntVar(&c.window, "window", 4096, "requests awaiting their answer at once")
	flag.IntVar(&c.batch, "batch", 1, "messages one read asks for (1: direct get; more: batch direct get)")
	flag.IntVar(&c.round, "round", 1000, "messages published before they are read and deleted")
	flag.BoolVar(&c.headers, "headers", true, "publish with the store's headers (Nats-Msg-Id, Nats-TTL, Veil-Exp)")
	flag.BoolVar(&c.purge, "purge", false, "delete each mailbox's messages of a round with one purge")
	flag.DurationVar(&c.timeout, "timeout", 3*time.Minute, "the longest one run may take")
	flag.Parse()
	if c.server == "" || c.runs < 1 || c.messages < 1 || c.mailboxes < 1 || c.window < 1 || c.batch < 1 || c.round < 1 || c.size < 0 {
		fmt.Fprintln(os.Stderr, "usage: natscost --server NATS-SERVER [flags]")
		flag.PrintDefaults()
		os.Exit(2)
	}
	var results []result
	for i := range c.runs {
		r, err := run(c, i)
		if err != nil {
			fmt.Fprintln(os.Stderr, "natscost:", err)
			os.Exit(1)
		}
		fmt.Println(r)
		results = append(results, r)
	}
	med := func(f func(result) float64) float64 {
		v := make([]float64, len(results))
		for i, r := range results {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	fmt.Printf("median of %d: server_us_per_msg=%.1f (publish %.1f, read %.1f, delete %.1f) client_us_per_msg=%.1f msgs_per_sec=%.0f\n",
		len(results), med(func(r result) float64 { return r.total() }),
		med(func(r result) float64 { return r.pub }), med(func(r result) float64 { return r.get }),
		med(func(r result) float64 { return r.del }), med(func(r result) float64 { return r.client }),
		med(func(r result) float64 { return r.rate }))
}

// result is one run: the server's CPU µs per message in each phase, the
// client's, and the messages per second through all three phases.
type result struct {
	pub, get, del, client, rate float64
}

func (r result) total() float64 { return r.pub + r.get + r.del }

func (r result) String() string {
	return fmt.Sprintf("run: server_us_per_msg=%.1f (publish %.1f, read %.1f, delete %.1f) client_us_per_msg=%.1f msgs_per_sec=%.0f",
		r.total(), r.pub, r.get, r.del, r.client, r.rate)
}

func run(c config, n int) (result, error) {
	dir, err := os.MkdirTemp("", "natscost")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	conf := filepath.Join(dir, "nats.conf")
	body := fmt.Sprintf("listen: 127.0.0.1:%d\njetstream { store_dir: %q }\n", c.port, filepath.Join(dir, "js"))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return result{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	srv := exec.CommandContext(ctx, c.server, "-c", conf)
	srv.Stderr, srv.Stdout = nil, nil
	if err := srv.Start(); err != nil {
		return result{}, err
	}
	defer func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		_ = srv.Wait()
	}()
	var nc *nats.Conn
	for range 100 {
		nc, err = nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", c.port))
		if err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return result{}, fmt.Errorf("server did not start: %w", err)
	}
	defer nc.Close()
	jsc, err := js.New(nc)
	if err != nil {
		return result{}, err
	}
	const stream = "COST"
	_, err = jsc.CreateStream(ctx, js.StreamConfig{
		Name: stream, Subjects: []string{"cost.m.>"}, Storage: js.FileStorage, Replicas: 1,
		Retention: js.LimitsPolicy, Discard: js.DiscardNew, MaxMsgs: -1, MaxBytes: -1,
		MaxMsgsPerSubject: int64(c.round + 1), DiscardNewPerSubject: true,
		MaxMsgSize: 1<<20 + 4096, Duplicates: 2 * time.Minute, AllowMsgTTL: true, AllowDirect: true,
	})
	if err != nil {
		return result{}, err
	}
	d := &driver{nc: nc, stream: stream, c: c, run: n, pid: srv.Process.Pid, window: make(chan struct{}, c.window)}
	if err := d.start(); err != nil {
		return result{}, err
	}
	var r result
	var ticks [3]int64
	cpu0 := clientCPU()
	t0 := time.Now()
	for done := 0; done < c.messages; done += c.round {
		k := min(c.round, c.messages-done)
		for phase, f := range []func(context.Context, int) error{d.publish, d.read, d.remove} {
			before, err := procTicks(d.pid)
			if err != nil {
				return result{}, err
			}
			if err := f(ctx, k); err != nil {
				return result{}, err
			}
			after, err := procTicks(d.pid)
			if err != nil {
				return result{}, err
			}
			ticks[phase] += after - before
		}
	}
	elapsed := time.Since(t0)
	us := func(t int64) float64 { return float64(t) / clkTck * 1e6 / float64(c.messages) }
	r.pub, r.get, r.del = us(ticks[0]), us(ticks[1]), us(ticks[2])
	r.client = (clientCPU() - cpu0).Seconds() * 1e6 / float64(c.messages)
	r.rate = float64(c.messages) / elapsed.Seconds()
	return r, nil
}

// clkTck is the kernel's clock tick rate for /proc/PID/stat on Linux.
const clkTck = 100

// procTicks returns the user + system clock ticks process pid has used.
func procTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	sy, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad /proc stat")
	}
	return u + sy, nil
}

func clientCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// driver sends requests with reply subjects under one inbox wildcard and
// keeps at most len(window) of them unanswered.
type driver struct {
	nc     *nats.Conn
	stream string
	c      config
	run    int
	pid    int
	window chan struct{}
	inbox  string
	seq    int // messages published so far

	mu      sync.Mutex
	pending int
	done    chan struct{}
	err     error
	seqs    map[int][]uint64 // mailbox → sequences read this round
	reqs    map[int]uint64   // mailbox → next sequence to read (batch reads)
	eob     map[int]bool
}

func (d *driver) start() error {
	d.inbox = nats.NewInbox()
	_, err := d.nc.Subscribe(d.inbox+".>", d.onReply)
	return err
}

func (d *driver) subject(box int) string { return fmt.Sprintf("cost.m.%d", box) }

// expect arms the driver for k answers.
func (d *driver) expect(k int) {
	d.mu.Lock()
	d.pending = k
	d.err = nil
	d.done = make(chan struct{})
	if k == 0 {
		close(d.done)
	}
	d.mu.Unlock()
}

func (d *driver) answered(err error) {
	d.mu.Lock()
	if err != nil && d.err == nil {
		d.err = err
	}
	d.pending--
	if d.pending == 0 {
		close(d.done)
	}
	d.mu.Unlock()
	<-d.window
}

func (d *driver) wait(ctx context.Context) error {
	select {
	case <-d.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

func (d *driver) send(ctx context.Context, m *nats.Msg) error {
	select {
	case d.window <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	return d.nc.PublishMsg(m)
}

// onReply handles every answer: publish acknowledgements (".p"), reads
// (".g.<mailbox>") and deletes (".d").
func (d *driver) onReply(m *nats.Msg) {
	kind := m.Subject[len(d.inbox)+1:]
	switch {
	case kind == "p" || kind == "d":
		var ack struct {
			Error *struct {
				Description string `json:"description"`
			} `json:"error"`
		}
		if err := json.Unmarshal(m.Data, &ack); err != nil {
			d.answered(err)
			return
		}
		if ack.Error != nil {
			d.answered(errors.New(ack.Error.Description))
			return
		}
		d.answered(nil)
	case strings.HasPrefix(kind, "g."):
		box, _ := strconv.Atoi(kind[2:])
		d.onRead(box, m)
	}
}

// onRead takes one message of a read, or its end: a plain direct get
// answers with one message (or 404); a batch ends with status 204.
func (d *driver) onRead(box int, m *nats.Msg) {
	status := m.Header.Get("Status")
	if status == "404" || status == "204" {
		// A batch's end carries the number still pending after it.
		more := status == "204" && m.Header.Get("Nats-Num-Pending") != "0"
		d.mu.Lock()
		d.eob[box] = !more
		d.mu.Unlock()
		d.answered(nil)
		return
	}
	seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
	if err != nil {
		d.answered(fmt.Errorf("read without a sequence: %v", m.Header))
		return
	}
	d.mu.Lock()
	d.seqs[box] = append(d.seqs[box], seq)
	d.reqs[box] = seq + 1
	d.mu.Unlock()
	if d.c.batch == 1 {
		d.answered(nil)
	}
}

// publish stores k messages, round-robin over the mailboxes.
func (d *driver) publish(ctx context.Context, k int) error {
	d.expect(k)
	data := make([]byte, d.c.size)
	for range k {
		m := &nats.Msg{Subject: d.subject(d.seq % d.c.mailboxes), Reply: d.inbox + ".p", Data: data}
		if d.c.headers {
			m.Header = nats.Header{
				"Nats-Msg-Id": {fmt.Sprintf("r%d-%d", d.run, d.seq)},
				"Nats-TTL":    {"3600s"},
				"Veil-Exp":    {strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)},
			}
		}
		d.seq++
		if err := d.send(ctx, m); err != nil {
			return err
		}
	}
	return d.wait(ctx)
}

// read reads every stored message once, mailbox by mailbox, with reads
// of --batch messages; each mailbox's reads are sent one after another
// (the next starts after the last sequence the previous returned), the
// mailboxes' reads at once.
func (d *driver) read(ctx context.Context, _ int) error {
	d.mu.Lock()
	d.seqs = map[int][]uint64{}
	if d.reqs == nil {
		d.reqs = map[int]uint64{}
	}
	d.mu.Unlock()
	active := make([]int, d.c.mailboxes)
	for i := range active {
		active[i] = i
	}
	for len(active) > 0 {
		d.mu.Lock()
		d.eob = map[int]bool{}
		d.mu.Unlock()
		// One answer per request: a message or a 404 for a plain get,
		// the end-of-batch status for a batch.
		d.expect(len(active))
		for _, box := range active {
			d.mu.Lock()
			from := max(d.reqs[box], 1)
			d.mu.Unlock()
			req := map[string]any{"seq": from, "next_by_subj": d.subject(box)}
			if d.c.batch > 1 {
				req["batch"] = d.c.batch
			}
			b, _ := json.Marshal(req)
			m := &nats.Msg{Subject: "$JS.API.DIRECT.GET." + d.stream, Reply: fmt.Sprintf("%s.g.%d", d.inbox, box), Data: b}
			if err := d.send(ctx, m); err != nil {
				return err
			}
		}
		if err := d.wait(ctx); err != nil {
			return err
		}
		// A mailbox is done when a plain get answers 404 or a batch ends
		// with nothing pending.
		d.mu.Lock()
		next := active[:0]
		for _, box := range active {
			if !d.eob[box] {
				next = append(next, box)
			}
		}
		d.mu.Unlock()
		active = next
	}
	return nil
}

// remove deletes what read found: one delete per message, or one purge
// per mailbox up to its last sequence read.
func (d *driver) remove(ctx context.Context, _ int) error {
	d.mu.Lock()
	seqs := d.seqs
	d.mu.Unlock()
	total := 0
	for _, s := range seqs {
		total += len(s)
	}
	if d.c.purge {
		d.expect(len(seqs))
		for box, s := range seqs {
			b, _ := json.Marshal(map[string]any{"filter": d.subject(box), "seq": slices.Max(s) + 1})
			if err := d.send(ctx, &nats.Msg{Subject: "$JS.API.STREAM.PURGE." + d.stream, Reply: d.inbox + ".d", Data: b}); err != nil {
				return err
			}
		}
		return d.wait(ctx)
	}
	d.expect(total)
	for _, s := range seqs {
		for _, seq := range s {
			b := fmt.Appendf(nil, `{"seq":%d,"no_erase":true}`, seq)
			if err := d.send(ctx, &nats.Msg{Subject: "$JS.API.STREAM.MSG.DELETE." + d.stream, Reply: d.inbox + ".d", Data: b}); err != nil {
				return err
			}
		}
	}
	return d.wait(ctx)
}
