package main

// Client crash between receive and ACK (issue 9): ben's receiving process
// (veil watch) is killed with SIGKILL at random moments, many times, while
// it works through messages that ana sent while it was down. The engine
// stores a message and its ratchet state in one vault transaction before
// it ACKs the relay (spec/client.md §7.4), so a
// kill after the commit and before the ACK makes the relay deliver the
// message again, and the ratchet must recognise it as a duplicate. At the
// end every message is in ben's history exactly once, in order, and no
// message was shown (printed as an event) by two processes.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCrashBetweenReceiveAndAck(t *testing.T) {
	msgs, batches, kills := 60, 3, 30
	if testing.Short() {
		msgs, kills = 30, 9 // .ci/full runs the whole count
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 9))
	t.Logf("seed %d", seed)

	r := startMetricsRelay(t)
	ana, ben := newProfile(t, r.addr), newProfile(t, r.addr)
	aChat, bChat := connect(t, ana, ben)

	shownBy := map[string]int{} // text → the watch process that printed it
	run := 0
	watchOnce := func(kill time.Duration) {
		run++
		cmd := exec.Command(veilBin, "--home", ben.home, "--pin-file", ben.pin, "watch", "--json", "--timeout", "60s")
		cmd.Env = append(os.Environ(), fastKDFEnv+"=1", "VEIL_HOME=")
		var stdout bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &bytes.Buffer{}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if kill > 0 {
			time.Sleep(kill)
			cmd.Process.Signal(syscall.SIGKILL)
		}
		cmd.Wait()
		for _, ev := range parseEvents(t, completeLines(stdout.String())) {
			if ev.Type != "message" || !strings.HasPrefix(ev.Text, "m-") {
				continue
			}
			if prev, dup := shownBy[ev.Text]; dup {
				t.Errorf("%s shown by watch run %d and again by run %d", ev.Text, prev, run)
			}
			shownBy[ev.Text] = run
		}
	}
	// Batches pile up on the relay while ben is offline, so that each
	// watch run receives a burst (one vault commit, then one ACK, per
	// message) and a kill lands inside it.
	for batch := range batches {
		for i := range msgs / batches {
			n := batch*(msgs/batches) + i
			if out, errOut, code := ana.run("send", aChat, fmt.Sprintf("m-%03d", n)); code != 0 {
				t.Fatalf("send %d: exit %d: %s %s", n, code, out, errOut)
			}
		}
		for range kills / batches {
			watchOnce(time.Duration(50+rng.IntN(700)) * time.Millisecond)
		}
	}
	// A clean run collects what is left.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ms := ben.read(bChat)
		var got []string
		count := map[string]int{}
		for _, m := range ms {
			if !m.Outgoing && strings.HasPrefix(m.Text, "m-") {
				got = append(got, m.Text)
				count[m.Text]++
			}
		}
		for text, n := range count {
			if n > 1 {
				t.Fatalf("%s stored %d times", text, n)
			}
		}
		if len(got) == msgs {
			for i, text := range got {
				if want := fmt.Sprintf("m-%03d", i); text != want {
					t.Fatalf("message %d is %s, want %s (order)", i, text, want)
				}
			}
			m := r.metrics(t)
			delivered, acked := counter(m, "veil_relay_messages_delivered_total"), counter(m, "veil_relay_messages_acked_total")
			t.Logf("%d messages, receiver SIGKILLed %d times at random moments: all stored once, in order; %d shown before a kill, none shown twice; the relay pushed %.0f MSGs for %.0f ACKs (redeliveries after a kill that came before the ACK)", msgs, kills, len(shownBy), delivered, acked)
			if delivered < acked || acked < float64(msgs) {
				t.Fatalf("relay counters: %v delivered, %v acked", delivered, acked)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the kills ben has %d of %d messages: %v", len(got), msgs, got)
		}
		out, _, _ := ben.run("watch", "--json", "--timeout", "3s")
		for _, ev := range parseEvents(t, completeLines(out)) {
			if prev, dup := shownBy[ev.Text]; dup && ev.Type == "message" {
				t.Errorf("%s shown by watch run %d and again by the final run", ev.Text, prev)
			}
		}
	}
}

// completeLines drops a last line cut off by SIGKILL.
func completeLines(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[:i+1]
	}
	return ""
}
