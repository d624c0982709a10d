package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"time"

	"veil/relay/wire"
)

// Floor mode measures what the machine charges for the simplest exchange
// between two processes: a round trip over loopback TCP to a second
// veil-load process that echoes what it reads. Every relay message needs
// at least three one-way transfers between processes (SEND, its OK, the
// delivery), so this bounds from below the CPU a message can cost on the
// machine, whatever the relay does. The echo process is this binary,
// started with floorEchoEnv set to the address to dial.

// floorEchoEnv names the address an echo process dials.
const floorEchoEnv = "VEIL_LOAD_FLOOR_ECHO"

// FloorPhase is one measured series of round trips.
type FloorPhase struct {
	Bytes    int     `json:"bytes"`  // written and echoed per round trip
	GapMs    float64 `json:"gap_ms"` // pause between round trips (asked for)
	Trips    int     `json:"trips"`
	RTTP50us float64 `json:"rtt_p50_us"`
	RTTP99us float64 `json:"rtt_p99_us"`
	// CPU time per round trip of each process, from the kernel's
	// accounting (10 ms ticks for the echo process: use enough trips).
	LoadCPUus float64 `json:"load_cpu_us_per_trip"`
	EchoCPUus float64 `json:"echo_cpu_us_per_trip"`
}

// FloorResult is what floor mode reports.
type FloorResult struct {
	Mode   string       `json:"mode"`
	Phases []FloorPhase `json:"phases"`
	// Disk is the disk floor (floordisk.go), measured in --floor-dir.
	Disk []DiskPhase `json:"disk"`
}

func (r *FloorResult) text(w io.Writer) {
	fmt.Fprintln(w, "loopback round trips to a second process (the machine's floor):")
	for _, p := range r.Phases {
		fmt.Fprintf(w, "%6d bytes, gap %4.1f ms: rtt p50 %.1f µs, p99 %.1f µs; CPU per trip %.1f µs here + %.1f µs echo\n",
			p.Bytes, p.GapMs, p.RTTP50us, p.RTTP99us, p.LoadCPUus, p.EchoCPUus)
	}
	fmt.Fprintln(w, "appends synced with fdatasync (the disk's floor):")
	for _, p := range r.Disk {
		fmt.Fprintf(w, "%6d bytes, gap %4.1f ms: sync p50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs, max %.0f µs\n",
			p.Bytes, p.GapMs, p.P50us, p.P99us, p.P999us, p.MaxUs)
	}
}

// runFloor starts the echo process and measures trips round trips for
// each size (one byte of a frame header's worth, one transport block),
// back to back and with gap between them; then as many synced appends to
// a file in dir.
func runFloor(ctx context.Context, trips int, gap time.Duration, dir string) (FloorResult, error) {
	res := FloorResult{Mode: "floor"}
	exe, err := os.Executable()
	if err != nil {
		return res, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	defer ln.Close()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), floorEchoEnv+"="+ln.Addr().String())
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("starting the echo process: %w", err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() { c, err := ln.Accept(); ch <- accepted{c, err} }()
	var c net.Conn
	select {
	case a := <-ch:
		if a.err != nil {
			return res, a.err
		}
		c = a.c
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(10 * time.Second):
		return res, errors.New("the echo process did not connect")
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	for _, size := range []int{16, wire.BlockSize} {
		for _, g := range []time.Duration{0, gap} {
			p, err := floorPhase(c, cmd.Process.Pid, size, trips, g)
			if err != nil {
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
				return res, err
			}
			res.Phases = append(res.Phases, p)
		}
	}
	res.Disk, err = runDiskFloor(ctx, dir, trips, gap)
	return res, err
}

func floorPhase(c net.Conn, echoPID, size, trips int, gap time.Duration) (FloorPhase, error) {
	p := FloorPhase{Bytes: size, GapMs: float64(gap) / float64(time.Millisecond), Trips: trips}
	buf := make([]byte, size)
	rtt := make([]int64, 0, trips)
	echo0, err := procCPU(echoPID)
	if err != nil {
		return p, err
	}
	self0 := selfCPU()
	for range trips {
		if gap > 0 {
			time.Sleep(gap)
		}
		t0 := time.Now()
		if _, err := c.Write(buf); err != nil {
			return p, fmt.Errorf("floor: write: %w", err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return p, fmt.Errorf("floor: read: %w", err)
		}
		rtt = append(rtt, int64(time.Since(t0)))
	}
	self := selfCPU() - self0
	echo, err := procCPU(echoPID)
	if err != nil {
		return p, err
	}
	slices.Sort(rtt)
	us := func(ns int64) float64 { return float64(ns) / float64(time.Microsecond) }
	p.RTTP50us, p.RTTP99us = us(rtt[len(rtt)/2]), us(rtt[len(rtt)*99/100])
	p.LoadCPUus = us(int64(self)) / float64(trips)
	p.EchoCPUus = us(int64(echo-echo0)) / float64(trips)
	return p, nil
}

// floorEcho is the echo process: it dials addr and writes back whatever
// it reads until the connection ends. It exits on its own when veil-load
// closes the connection or dies.
func floorEcho(addr string) int {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "veil-load echo: %v\n", err)
		return 2
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return 0
			}
		}
		if err != nil {
			return 0
		}
	}
}
