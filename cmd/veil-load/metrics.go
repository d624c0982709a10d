package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// scrapeMetrics fetches a relay's Prometheus text exposition from url
// (veil-relay --metrics HOST:PORT serves it at http://HOST:PORT/metrics)
// and returns the samples without labels whose names are in names.
func scrapeMetrics(url string, names ...string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("relay metrics: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("relay metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("relay metrics: %s", resp.Status)
	}
	return parseMetrics(bufio.NewScanner(resp.Body), names)
}

// parseMetrics reads "name value" lines (Prometheus text format; comments
// and labelled samples skipped) and returns those named in names; an
// error when one of them is missing.
func parseMetrics(sc *bufio.Scanner, names []string) (map[string]float64, error) {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	got := make(map[string]float64, len(names))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok || !want[name] {
			continue
		}
		if v, _, _ := strings.Cut(strings.TrimSpace(value), " "); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("relay metrics: %s: %w", name, err)
			}
			got[name] = f
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("relay metrics: %w", err)
	}
	for _, n := range names {
		if _, ok := got[n]; !ok {
			return nil, errors.New("relay metrics: no " + n)
		}
	}
	return got, nil
}

// metricsCPU returns a relay's CPU time from its metrics.
func metricsCPU(url string) (time.Duration, error) {
	m, err := scrapeMetrics(url, "process_cpu_seconds_total")
	if err != nil {
		return 0, err
	}
	return time.Duration(m["process_cpu_seconds_total"] * float64(time.Second)), nil
}

// relayBlocks returns the transport blocks a relay has received and
// sent, from its metrics; an error when url is empty.
func relayBlocks(url string) ([2]float64, error) {
	if url == "" {
		return [2]float64{}, errors.New("relay metrics: no URL")
	}
	m, err := scrapeMetrics(url, "veil_relay_blocks_received_total", "veil_relay_blocks_sent_total")
	if err != nil {
		return [2]float64{}, err
	}
	return [2]float64{m["veil_relay_blocks_received_total"], m["veil_relay_blocks_sent_total"]}, nil
}

// metricsURL turns what --relay-metrics was given (HOST:PORT, as given to
// veil-relay --metrics, or a whole URL) into the URL to fetch.
func metricsURL(s string) string {
	if s == "" || strings.Contains(s, "://") {
		return s
	}
	return "http://" + s + "/metrics"
}
