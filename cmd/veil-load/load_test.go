package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func FuzzParseBody(f *testing.F) {
	f.Add(makeBody(1024, 3, 77, 5*time.Millisecond))
	f.Add([]byte{})
	f.Add(make([]byte, bodyHeader-1))
	f.Fuzz(func(t *testing.T, b []byte) {
		from, n, at, ok := parseBody(b)
		if !ok {
			if len(b) >= bodyHeader {
				t.Fatal("refused a body long enough to parse")
			}
			return
		}
		again := makeBody(len(b), from, n, at)
		if !bytes.Equal(again[:bodyHeader], b[:bodyHeader]) {
			t.Fatalf("round trip changed the header: %x → %x", b[:bodyHeader], again[:bodyHeader])
		}
	})
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--relay is required"},
		{[]string{"--relay", "veil+ws://127.0.0.1:1#x", "--bucket", "1000"}, "--bucket must be one of"},
		{[]string{"--relay", "veil+ws://127.0.0.1:1#x", "--conns", "0"}, "--conns must be at least 1"},
		{[]string{"--relay", "veil+ws://127.0.0.1:1#x", "--verify", "send"}, "--verify needs --state"},
		{[]string{"--relay", "veil+ws://127.0.0.1:1#x", "--verify", "maybe", "--state", "f"}, "--verify must be send or receive"},
		{[]string{"--relay", "veil+ws://127.0.0.1:1#x", "--timeout", "5s", "--conns", "1"}, "dialling"},
		{[]string{"--relay", "veil+ws://127.0.0.1:1#x", "--forward", "veil+ws://127.0.0.1:2#x", "--logs"}, "--forward works in the default mailbox mode only"},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", tc.args, code)
		}
		if !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: stderr %q, want %q", tc.args, errb.String(), tc.want)
		}
	}
}

func TestPercentiles(t *testing.T) {
	lat := make([]int64, 1000)
	for i := range lat {
		lat[len(lat)-1-i] = int64(i+1) * int64(time.Millisecond)
	}
	var r Result
	r.percentiles(lat)
	if r.P50ms != 500 || r.P90ms != 900 || r.P99ms != 990 || r.P999ms != 999 || r.MaxMs != 1000 {
		t.Fatalf("percentiles %v %v %v %v %v", r.P50ms, r.P90ms, r.P99ms, r.P999ms, r.MaxMs)
	}
}
