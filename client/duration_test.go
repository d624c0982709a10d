package client

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"off", 0}, {"0", 0}, {" 0 ", 0}, {"0s", 0}, {"-0d", 0}, {"+0", 0},
		{"90s", 90 * time.Second}, {"10m", 10 * time.Minute}, {"2h", 2 * time.Hour},
		{"1.5h", 90 * time.Minute}, {"7d", 7 * day}, {"1.5d", 36 * time.Hour},
		{"2w", 14 * day}, {"1d12h", 36 * time.Hour}, {"1w2d3h", 9*day + 3*time.Hour},
		{"1h30m", 90 * time.Minute}, {"250ms", 250 * time.Millisecond}, {"+5m", 5 * time.Minute},
		{"3650d", MaxDuration}, {"87600h", MaxDuration},
	} {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"", " ", "-", "+", "-5m", "-1d", "soon", "1x", "d", "7", "1.d.5", "7 d", "1d 2h",
		"110000d", "100000h", "3651d", "522w", "3650d1s", "99999999999d", "9999999999999999999h",
		"OFF", "0x10h",
	} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, accepted", in, d)
		}
	}
}

// FuzzParseDuration: a duration that parses is within [0, MaxDuration],
// and its Go form parses back to itself.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"10m", "7d", "2w", "1d12h", "off", "0", "-1h", "99999999999d", "1.5h", "110000d", "-0d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if d != 0 {
				t.Fatalf("ParseDuration(%q) = %v with an error", s, d)
			}
			return
		}
		if d < 0 || d > MaxDuration {
			t.Fatalf("ParseDuration(%q) = %v", s, d)
		}
		if back, err := ParseDuration(d.String()); err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, which reads back as %v, %v", s, d, back, err)
		}
	})
}

func TestFormatDurationRoundTrips(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{7 * 24 * time.Hour, "7d"}, {36 * time.Hour, "36h"}, {90 * time.Minute, "90m"},
		{30 * time.Second, "30s"}, {90 * time.Second, "1m30s"},
	} {
		got := FormatDuration(tc.d)
		if got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
		if back, err := ParseDuration(got); err != nil || back != tc.d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", got, back, err, tc.d)
		}
	}
}
