// Command veil-load is a load generator for veil-relay: it speaks the
// relay protocol (spec/relay.md) through relay/conn and measures durable
// throughput, delivery latency, memory per idle connection and what
// survives a relay restart.
//
// Usage is in the usage constant below (veil-load --help).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"veil/crypto"
)

func main() {
	if addr := os.Getenv(floorEchoEnv); addr != "" {
		os.Exit(floorEcho(addr)) // floor mode's echo process (floor.go)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usage is what --help prints before the flags.
const usage = `usage:
  veil-load --relay ADDRESS [--conns N] [--messages M] [--rate R] [--bucket 1024]
  veil-load --relay ADDRESS --forward ADDRESS ...   send through a forwarding relay (spec/relay.md §7.6)
  veil-load --relay ADDRESS --logs ...              group logs instead of mailboxes
  veil-load --relay ADDRESS --idle N [--hold 10s] [--sources S]   relay memory per idle connection
  veil-load --relay ADDRESS --files N [--file-size BYTES]         file chunks (CPUT, CGET, CDEL)
  veil-load --relay ADDRESS --verify send --state FILE ...
  veil-load --relay ADDRESS --verify receive --state FILE
  veil-load --floor [--floor-trips 5000] [--floor-gap 1ms] [--floor-dir DIR]   the machine's floor: no relay

ADDRESS is what veil-relay prints. --json prints one JSON object: the
figures, the date, the load average and, with --floor, the machine's
floor measured just before the run, so that runs on different days
compare. With --relay-pid (or --relay-metrics) the relay's CPU per message
is reported; veil-load's own always is. Every run is bounded by --timeout
and stops by itself.

Idle mode holds one file descriptor per connection on both sides:
veil-load raises its own open-file limit as far as it may, but the relay
needs a high limit too (ulimit -n before starting it). One source address
has about 28,000 ports towards one relay address: for more connections,
spread them with --sources (the addresses 127.0.0.2 onwards, a relay on
loopback only), and raise the relay's connection cap per source address
to at least connections/sources, or it refuses the rest.

flags:
`

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("veil-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	var (
		cfg      config
		password string
		fwdPW    string
		asJSON   = fs.Bool("json", false, "print one JSON object")
		logs     = fs.Bool("logs", false, "group-log mode: append to logs and read them from cursors")
		logTTL   = fs.Duration("log-ttl", time.Hour, "TTL of the logs created by --logs")
		idle     = fs.Int("idle", 0, "idle mode: open `N` idle connections and hold them")
		idleSub  = fs.Bool("idle-sub", true, "in idle mode, create and subscribe one mailbox per connection")
		hold     = fs.Duration("hold", 10*time.Second, "how long idle mode holds its connections")
		sources  = fs.Int("sources", 0, "in idle mode, spread the connections over `N` source addresses 127.0.0.2, 127.0.0.3, … (a relay on loopback only; 0: the kernel's choice)")
		pid      = fs.Int("relay-pid", 0, "`PID` of the --relay relay, to read its memory (idle mode) and CPU time (other modes) from /proc")
		metrics  = fs.String("relay-metrics", "", "`HOST:PORT` of the --relay relay's Prometheus metrics (veil-relay --metrics), to read its memory and Go heap (idle mode) and CPU time when --relay-pid is not given")
		verify   = fs.String("verify", "", "restart check: `send` writes --state, receive drains and checks it")
		state    = fs.String("state", "", "state `FILE` for --verify (holds test keys; written 0600)")
		timeout  = fs.Duration("timeout", 5*time.Minute, "bound on the whole run")
		cpuprof  = fs.String("cpuprofile", "", "write veil-load's own CPU profile to `FILE`")
		floor    = fs.Bool("floor", false, "the machine's floor: round trips over loopback to a second process; alone it is a mode of its own, with a relay mode it is measured first and reported with the run")
		floorN   = fs.Int("floor-trips", 5000, "round trips per floor phase")
		floorGap = fs.Duration("floor-gap", time.Millisecond, "pause between round trips in the paced floor phases")
		floorDir = fs.String("floor-dir", os.TempDir(), "directory on the disk whose synced appends the floor measures: give one on the relay's data disk")
		files    = fs.Int("files", 0, "files mode: upload `N` files as chunks, download, check and delete them")
		fileSize = fs.Int64("file-size", 10_000_000, "size of each --files file in `BYTES`")
		fileLife = fs.Duration("file-life", time.Hour, "chunk lifetime in --files mode")
	)
	fs.StringVar(&cfg.relay, "relay", "", "relay `ADDRESS` (veil://… or veil+ws://…#fingerprint)")
	fs.IntVar(&cfg.conns, "conns", 50, "connections (each with its own mailbox or log)")
	fs.IntVar(&cfg.messages, "messages", 100000, "messages to send in all")
	fs.Float64Var(&cfg.rate, "rate", 0, "messages per second over all connections (0: as fast as possible)")
	fs.IntVar(&cfg.bucket, "bucket", 1024, "body size: one of the relay's buckets")
	fs.IntVar(&cfg.window, "window", 64, "SENDs in flight per connection")
	fs.StringVar(&password, "password", "", "relay password for creating mailboxes and logs")
	fs.StringVar(&cfg.forward, "forward", "", "forwarding relay `ADDRESS`: senders send through it to --relay (spec/relay.md §7.6); receivers stay on --relay")
	fs.StringVar(&fwdPW, "forward-password", "", "password of the forwarding relay, if it forwards by password")
	fs.IntVar(&cfg.forwardPID, "forward-pid", 0, "`PID` of the --forward relay, to read its CPU time")
	fs.DurationVar(&cfg.drain, "drain", 10*time.Second, "wait this long for deliveries after the last send")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg.password = []byte(password)
	cfg.forwardPassword = []byte(fwdPW)
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "veil-load: "+format+"\n", a...)
		return 2
	}
	cfg.relayPID, cfg.metrics = *pid, metricsURL(*metrics)
	if *floor && cfg.relay == "" {
		return runFloorMode(*floorN, *floorGap, *floorDir, *timeout, *asJSON, stdout, stderr)
	}
	switch {
	case cfg.relay == "":
		return fail("--relay is required (the address veil-relay prints)")
	case cfg.conns < 1:
		return fail("--conns must be at least 1")
	case cfg.messages < 0:
		return fail("--messages must not be negative")
	case cfg.rate < 0:
		return fail("--rate must not be negative")
	case !crypto.IsBucket(cfg.bucket):
		return fail("--bucket must be one of %v", crypto.Buckets())
	case cfg.window < 1:
		return fail("--window must be at least 1")
	case *verify != "" && *verify != "send" && *verify != "receive":
		return fail("--verify must be send or receive")
	case *verify != "" && *state == "":
		return fail("--verify needs --state FILE")
	case *floor && (*floorN < 100 || *floorGap < 0):
		return fail("--floor-trips must be at least 100 and --floor-gap not negative")
	case cfg.forward != "" && (*verify != "" || *logs || *idle > 0 || *files > 0):
		return fail("--forward works in the default mailbox mode only")
	case *sources < 0 || *sources > 65000:
		return fail("--sources must be 0 to 65,000")
	case *files < 0 || *files > 0 && (*verify != "" || *logs || *idle > 0):
		return fail("--files is a mode of its own: not with --verify, --logs or --idle")
	case *files > 0 && (*fileSize < 1 || *fileSize > 2_000_000_000):
		return fail("--file-size must be 1 to 2,000,000,000 bytes")
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	machine := startMachine(time.Now())
	if *floor {
		fr, err := runFloor(ctx, *floorN, *floorGap, *floorDir)
		if err != nil {
			return fail("floor: %v", err)
		}
		machine.Floor = &fr
	}
	if *idle > 0 {
		if lim := raiseFileLimit(stderr); lim > 0 && lim < uint64(*idle)+64 {
			fmt.Fprintf(stderr, "veil-load: the open-file limit is %d, below %d connections\n", lim, *idle)
		}
	}
	// veil-load shares the machine with the relay it measures, and its
	// live heap is small: collecting less often leaves the relay more CPU.
	// Idle mode's heap is large and its CPU beside the point: it keeps
	// the default, so that both processes' memory fits the machine.
	if *idle == 0 {
		debug.SetGCPercent(400)
	}
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			return fail("%v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail("%v", err)
		}
		defer pprof.StopCPUProfile()
	}
	var res Result
	var err error
	if *pid > 0 {
		if _, err = procCPU(*pid); err != nil {
			return fail("%v", err)
		}
	}
	meter := startCPU(relayClock(cfg.relayPID, cfg.metrics))
	switch {
	case *idle > 0:
		res, err = runIdle(ctx, cfg, idleConfig{n: *idle, sub: *idleSub, hold: *hold, sources: *sources})
	case *files > 0:
		res, err = runFiles(ctx, cfg, *files, *fileSize, *fileLife, *pid)
	case *verify == "send":
		res, err = runVerifySend(ctx, cfg, *state)
	case *verify == "receive":
		res, err = runVerifyReceive(ctx, cfg, *state)
	case *logs:
		res, err = runLogs(ctx, cfg, *logTTL)
	default:
		res, err = runMailbox(ctx, cfg)
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fail("%v (the run hit --timeout %v)", err, *timeout)
		}
		return fail("%v", err)
	}
	if routed := max(res.ReceiverAck, res.Delivered); *idle == 0 && routed > 0 && res.LoadCPUus == 0 {
		// Modes that do not measure their messages alone: the whole run.
		self, relays := meter.perMsg(routed)
		res.LoadCPUus, res.RelayCPUus = self, relays[0]
	}
	machine.end()
	res.Machine = machine
	if *asJSON {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(&res); err != nil {
			return fail("%v", err)
		}
	} else {
		res.text(stdout)
	}
	if res.Lost > 0 || res.Duplicates > 0 || res.Corrupt > 0 || res.Mode == "files" && res.Errors > 0 {
		return 1
	}
	return 0
}

// runFloorMode runs floor mode (floor.go) and prints its result.
func runFloorMode(trips int, gap time.Duration, dir string, timeout time.Duration, asJSON bool, stdout, stderr io.Writer) int {
	if trips < 100 || gap < 0 {
		fmt.Fprintln(stderr, "veil-load: --floor-trips must be at least 100 and --floor-gap not negative")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := startMachine(time.Now())
	res, err := runFloor(ctx, trips, gap, dir)
	if err != nil {
		fmt.Fprintf(stderr, "veil-load: floor: %v\n", err)
		return 2
	}
	m.end()
	if asJSON {
		out := struct {
			Machine
			FloorResult
		}{m, res}
		if err := json.NewEncoder(stdout).Encode(&out); err != nil {
			fmt.Fprintf(stderr, "veil-load: %v\n", err)
			return 2
		}
		return 0
	}
	m.text(stdout)
	res.text(stdout)
	return 0
}
