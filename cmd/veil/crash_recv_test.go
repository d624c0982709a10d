package main

// Client crash between receive and ACK (issue 9): ben's receiving process
// (veil watch) is killed with SIGKILL at random moments, many times, while
// ana sends. The engine stores a message and its ratchet state in one
// vault transaction before it ACKs the relay (spec/client.md §7.4), so a
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
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestCrashBetweenReceiveAndAck(t *testing.T) {
	const msgs = 40
	const kills = 25
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 9))
	t.Logf("seed %d", seed)

	r := newTestRelay(t)
	ana, ben := newProfile(t, r.addr), newProfile(t, r.addr)
	aChat, bChat := connect(t, ana, ben)

	sent := make(chan struct{})
	var sendErr error
	var wg sync.WaitGroup
	wg.Go(func() { // ana sends while ben's receiver keeps dying
		defer close(sent)
		for i := range msgs {
			out, errOut, code := ana.run("send", aChat, fmt.Sprintf("m-%03d", i))
			if code != 0 {
				sendErr = fmt.Errorf("send %d: exit %d: %s %s", i, code, out, errOut)
				return
			}
		}
	})

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
	for k := 0; k < kills; k++ {
		// Random moments: from before the vault is open to well into
		// receiving.
		watchOnce(time.Duration(100+rng.IntN(1400)) * time.Millisecond)
	}
	<-sent
	wg.Wait()
	if sendErr != nil {
		t.Fatal(sendErr)
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
			t.Logf("%d messages, receiver SIGKILLed %d times at random moments: all stored once, in order; %d shown before a kill, none shown twice", msgs, kills, len(shownBy))
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
