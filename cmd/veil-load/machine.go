package main

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine says when and on what a run was made, so that results from
// different days compare: with the floor (floor.go) it tells a slower
// machine from a slower relay.
type Machine struct {
	Date      string      `json:"date"` // RFC 3339, UTC, when the run started
	CPUs      int         `json:"cpus"`
	LoadStart *[3]float64 `json:"loadavg_start,omitempty"` // 1, 5 and 15 minutes (Linux)
	LoadEnd   *[3]float64 `json:"loadavg_end,omitempty"`
	// Floor is the machine's floor measured just before the run
	// (--floor with a relay mode).
	Floor *FloorResult `json:"floor,omitempty"`
}

// startMachine records the start of a run.
func startMachine(now time.Time) Machine {
	return Machine{Date: now.UTC().Format(time.RFC3339), CPUs: runtime.NumCPU(), LoadStart: loadAvg()}
}

// end records the end of a run.
func (m *Machine) end() { m.LoadEnd = loadAvg() }

// loadAvg reads /proc/loadavg; nil where there is none.
func loadAvg() *[3]float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return nil
	}
	var l [3]float64
	for i := range l {
		if l[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return nil
		}
	}
	return &l
}
