package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the kernel's USER_HZ, the unit of /proc/PID/stat times; it
// is 100 on every Linux veil-load runs on.
const clockTick = 100

// procCPU returns the CPU time (user + system) process pid has used, read
// from /proc/PID/stat (Linux).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("reading the relay's CPU time: %w", err)
	}
	// The command name (field 2) may hold spaces; fields after ")" are fixed.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("reading the relay's CPU time: unexpected /proc format")
	}
	f := strings.Fields(s[i+1:])
	// After ")": state is field 3, utime field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("reading the relay's CPU time: unexpected /proc format")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("reading the relay's CPU time: unexpected /proc format")
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// selfCPU returns the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuClock reads a process's CPU time so far; nil when it is unknown.
type cpuClock func() (time.Duration, error)

// relayClock reads a relay's CPU time from /proc when its pid is known,
// else from its Prometheus metrics when their URL is, else nil.
func relayClock(pid int, metricsURL string) cpuClock {
	switch {
	case pid > 0:
		return func() (time.Duration, error) { return procCPU(pid) }
	case metricsURL != "":
		return func() (time.Duration, error) { return metricsCPU(metricsURL) }
	}
	return nil
}

// cpuMeter measures the CPU time veil-load and, where their clocks are
// known, the relays spend over one phase of a run (the messages, not the
// setup before them).
type cpuMeter struct {
	clocks []cpuClock
	self0  time.Duration
	proc0  []time.Duration // -1: unreadable
}

func startCPU(clocks ...cpuClock) cpuMeter {
	m := cpuMeter{clocks: clocks, proc0: make([]time.Duration, len(clocks))}
	for i, c := range clocks {
		m.proc0[i] = -1
		if c != nil {
			if t, err := c(); err == nil {
				m.proc0[i] = t
			}
		}
	}
	m.self0 = selfCPU()
	return m
}

// perMsg returns the microseconds of CPU per message veil-load spent
// since startCPU, and each process of the clocks (0 where unknown).
func (m cpuMeter) perMsg(msgs int64) (self float64, procs []float64) {
	self1 := selfCPU()
	procs = make([]float64, len(m.clocks))
	if msgs <= 0 {
		return 0, procs
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(msgs) }
	for i, c := range m.clocks {
		if c != nil && m.proc0[i] >= 0 {
			if t, err := c(); err == nil {
				procs[i] = us(t - m.proc0[i])
			}
		}
	}
	return us(self1 - m.self0), procs
}
