package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The disk floor: what one durable write costs on the disk a relay keeps
// its data on. A SEND is answered, and its message delivered, only after
// the group holding it is on disk (spec/relay.md §8.5), and a message
// arriving while a group is being synced waits for that sync and then its
// own, so the tail of these syncs bounds the relay's delivery latency
// from below, whatever the relay does.

// floorDiskBytes is what each durable write appends: about a group of a
// few SENDs of 1 KiB bodies and their ACKs at 10,000 msgs/s.
const floorDiskBytes = 4096

// DiskPhase is one measured series of appends, each followed by
// fdatasync.
type DiskPhase struct {
	Bytes  int     `json:"bytes"`
	GapMs  float64 `json:"gap_ms"`
	Syncs  int     `json:"syncs"`
	P50us  float64 `json:"sync_p50_us"`
	P99us  float64 `json:"sync_p99_us"`
	P999us float64 `json:"sync_p999_us"`
	MaxUs  float64 `json:"sync_max_us"`
}

// runDiskFloor appends to a new file in dir, syncing after each append,
// back to back and with gap between appends, and removes the file. It
// stops with ctx's error when ctx ends first.
func runDiskFloor(ctx context.Context, dir string, syncs int, gap time.Duration) ([]DiskPhase, error) {
	f, err := os.CreateTemp(dir, "veil-load-floor-*")
	if err != nil {
		return nil, fmt.Errorf("disk floor: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, floorDiskBytes)
	var off int64
	var phases []DiskPhase
	for _, g := range []time.Duration{0, gap} {
		p := DiskPhase{Bytes: len(buf), GapMs: float64(g) / float64(time.Millisecond), Syncs: syncs}
		lat := make([]int64, 0, syncs)
		for range syncs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if g > 0 {
				time.Sleep(g)
			}
			t0 := time.Now()
			if _, err := f.WriteAt(buf, off); err != nil {
				return nil, fmt.Errorf("disk floor: writing %s: %w", filepath.Base(f.Name()), err)
			}
			if err := datasync(f); err != nil {
				return nil, fmt.Errorf("disk floor: syncing %s: %w", filepath.Base(f.Name()), err)
			}
			lat = append(lat, int64(time.Since(t0)))
			off += int64(len(buf))
		}
		slices.Sort(lat)
		us := func(ns int64) float64 { return float64(ns) / float64(time.Microsecond) }
		n := len(lat)
		p.P50us, p.P99us, p.P999us, p.MaxUs = us(lat[n/2]), us(lat[n*99/100]), us(lat[n*999/1000]), us(lat[n-1])
		phases = append(phases, p)
	}
	return phases, nil
}
