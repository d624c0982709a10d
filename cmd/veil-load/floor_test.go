package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"veil/relay/wire"
)

// TestMain lets the test binary be floor mode's echo process, as the
// veil-load binary is.
func TestMain(m *testing.M) {
	if addr := os.Getenv(floorEchoEnv); addr != "" {
		os.Exit(floorEcho(addr))
	}
	os.Exit(m.Run())
}

// TestFloor runs floor mode against a real echo process: four phases,
// every round trip timed and both processes' CPU accounted; then two
// series of synced appends in a real directory, which leave no file.
func TestFloor(t *testing.T) {
	var out, errb bytes.Buffer
	dir := t.TempDir()
	if code := run([]string{"--floor", "--floor-trips", "200", "--floor-gap", "100us", "--floor-dir", dir, "--json", "--timeout", "1m"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res FloorResult
	var m Machine
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if err := json.Unmarshal(out.Bytes(), &m); err != nil || m.Date == "" || m.CPUs < 1 {
		t.Fatalf("output %q: machine %+v, %v", out.String(), m, err)
	}
	if res.Mode != "floor" || len(res.Phases) != 4 {
		t.Fatalf("result %+v", res)
	}
	sizes := map[int]int{}
	for _, p := range res.Phases {
		sizes[p.Bytes]++
		if p.Trips != 200 || p.RTTP50us <= 0 || p.RTTP99us < p.RTTP50us || p.LoadCPUus <= 0 || p.EchoCPUus < 0 {
			t.Errorf("phase %+v", p)
		}
		if p.RTTP50us > float64(time.Second/time.Microsecond) {
			t.Errorf("phase %+v: a loopback round trip took over a second", p)
		}
	}
	if sizes[16] != 2 || sizes[wire.BlockSize] != 2 {
		t.Errorf("sizes %v", sizes)
	}
	if len(res.Disk) != 2 || res.Disk[0].GapMs != 0 || res.Disk[1].GapMs != 0.1 {
		t.Fatalf("disk phases %+v", res.Disk)
	}
	for _, p := range res.Disk {
		if p.Syncs != 200 || p.Bytes != floorDiskBytes || p.P50us <= 0 || p.P99us < p.P50us || p.P999us < p.P99us || p.MaxUs < p.P999us {
			t.Errorf("disk phase %+v", p)
		}
	}
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Errorf("the disk floor left %d files (%v)", len(left), err)
	}
	if code := run([]string{"--floor", "--floor-trips", "100", "--floor-dir", filepath.Join(dir, "missing"), "--timeout", "1m"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "disk floor") {
		t.Errorf("a missing --floor-dir: exit %d, stderr %q", code, errb.String())
	}
	if code := run([]string{"--floor", "--floor-trips", "10"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--floor-trips") {
		t.Errorf("--floor-trips 10: exit %d, stderr %q", code, errb.String())
	}
}
