package main

import (
	"flag"
	"io"
	"testing"
	"time"
)

// TestDurationFlag: duration flags read what the TUI reads (7d, 2w, off)
// and keep their default and help text.
func TestDurationFlag(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	exp := durationFlag(fs, "expires", 24*time.Hour, "`DUR`")
	ttl := durationFlag(fs, "ttl", time.Minute, "`DUR`")
	timer := durationFlag(fs, "timer", 0, "`DUR`")
	if *exp != 24*time.Hour || fs.Lookup("expires").DefValue != "24h0m0s" {
		t.Fatalf("default %v, shown as %q", *exp, fs.Lookup("expires").DefValue)
	}
	if err := fs.Parse([]string{"--expires", "7d", "--ttl", "off", "--timer", "1w2d"}); err != nil {
		t.Fatal(err)
	}
	if *exp != 7*24*time.Hour || *ttl != 0 || *timer != 9*24*time.Hour {
		t.Fatalf("parsed %v, %v, %v", *exp, *ttl, *timer)
	}
	for _, bad := range []string{"-1h", "soon", "11000d"} {
		if err := fs.Parse([]string{"--expires", bad}); err == nil {
			t.Errorf("--expires %s accepted", bad)
		}
	}
}
