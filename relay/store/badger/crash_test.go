package badger

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"veil/relay/store"
)

const crashDirEnv = "VEIL_BADGER_CRASH_DIR"

var (
	crashRID = store.ID{0xc1}
	crashSID = store.ID{0xc2}
)

// TestCrashChild is the process TestKill9 kills: it sends and acks as fast
// as it can and prints every acknowledged operation. It does nothing in a
// normal test run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestKill9 only")
	}
	ctx := context.Background()
	// Small journal segments: the kills land in rotations, recycling and
	// copies forward too (half the messages are never acknowledged).
	minSegment, segmentSize = 16<<10, 64<<10
	s, err := Open(Config{Dir: dir})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	err = s.CreateMailbox(ctx, store.Mailbox{RecipientID: crashRID, SenderID: crashSID})
	if err != nil && err != store.ErrExists {
		fmt.Println("error", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format+"\n", a...)
		out.Flush() // the line leaves the process before the next op
	}
	say("ready")
	var wg sync.WaitGroup
	deadline := time.Now().Add(20 * time.Second) // killed long before
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				b := fmt.Sprintf("w%d-%d-%d", w, i, time.Now().UnixNano())
				seq, err := s.Send(ctx, crashSID, []byte(b), time.Hour, 1<<30)
				if err != nil {
					say("error %v", err)
					return
				}
				say("sent %d %s", seq, b)
				if i%2 == 0 {
					say("acking %d", seq)
					if err := s.Ack(ctx, crashRID, seq); err != nil {
						say("error %v", err)
						return
					}
					say("acked %d", seq)
				}
			}
		}()
	}
	wg.Wait()
	os.Exit(0)
}

// TestKill9 kills a process writing to the store with SIGKILL at random
// moments, several times in a row, and checks after each kill that every
// acknowledged send is there with its body and no acknowledged ack was
// undone.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	sent := map[uint64]string{}
	acked := map[uint64]bool{}  // ack acknowledged: must be gone
	acking := map[uint64]bool{} // ack attempted: may be gone
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		// Wait for the child to be ready, then let it run a random while.
		select {
		case l := <-lines:
			if l != "ready" {
				t.Fatalf("child: %q", l)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("child not ready within 30s")
		}
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for l := range lines {
			f := strings.Fields(l)
			switch {
			case len(f) == 3 && f[0] == "sent":
				seq, _ := strconv.ParseUint(f[1], 10, 64)
				sent[seq] = f[2]
			case len(f) == 2 && f[0] == "acking":
				seq, _ := strconv.ParseUint(f[1], 10, 64)
				acking[seq] = true
			case len(f) == 2 && f[0] == "acked":
				seq, _ := strconv.ParseUint(f[1], 10, 64)
				acked[seq] = true
			case strings.HasPrefix(l, "PASS") || strings.HasPrefix(l, "ok"):
			default:
				t.Fatalf("child: %q", l)
			}
		}
		_ = cmd.Wait()
		t.Logf("round %d: %d sends and %d acks acknowledged so far", round, len(sent), len(acked))

		s, err := Open(Config{Dir: dir})
		if err != nil {
			t.Fatalf("reopening after kill %d: %v", round, err)
		}
		msgs, err := s.Pending(context.Background(), crashRID, 0, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		have := map[uint64]string{}
		for _, m := range msgs {
			have[m.Seq] = string(m.Body)
			if acked[m.Seq] {
				t.Fatalf("round %d: message %d came back after its ack", round, m.Seq)
			}
			if b, ok := sent[m.Seq]; ok && b != string(m.Body) {
				t.Fatalf("round %d: message %d body %q, want %q", round, m.Seq, m.Body, b)
			}
		}
		for seq, b := range sent {
			if acked[seq] || (acking[seq] && have[seq] == "") {
				continue
			}
			if have[seq] != b {
				var mx uint64
				for q := range have {
					mx = max(mx, q)
				}
				t.Fatalf("round %d: acknowledged message %d lost (have %d messages, highest %d, body %q want %q)", round, seq, len(have), mx, have[seq], b)
			}
		}
	}
	if len(sent) == 0 || len(acked) == 0 {
		t.Fatal("the child acknowledged nothing: the test proved nothing")
	}
}
