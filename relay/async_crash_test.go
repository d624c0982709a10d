package relay_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/store/badger"
	"veil/relay/wire"
)

const relayCrashDirEnv = "VEIL_RELAY_CRASH_DIR"

// TestRelayCrashChild is the relay TestRelayKill9 kills: a relay on a
// Badger store in the given directory, which prints its address. It does
// nothing in a normal test run.
func TestRelayCrashChild(t *testing.T) {
	dir := os.Getenv(relayCrashDirEnv)
	if dir == "" {
		t.Skip("run by TestRelayKill9 only")
	}
	st, err := badger.Open(badger.Config{Dir: dir})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		os.Exit(2)
	}
	srv, err := relay.New(relay.Config{Store: st, Identity: id, Limits: relay.Limits{Rate: 1e6, Burst: 1e6}})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(2)
	}
	fmt.Println("addr", srv.Address("127.0.0.1", uint16(ln.Addr().(*net.TCPAddr).Port), false))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // killed long before
	defer cancel()
	srv.Serve(ctx, ln, nil)
	os.Exit(0)
}

// TestRelayKill9: a relay on Badger is killed with SIGKILL while clients
// flood SENDs and a subscriber ACKs; after each kill every SEND the relay
// answered OK is on disk unless an ACK of it was answered OK, and no
// message whose ACK was answered OK is back (spec/relay.md §8.5).
func TestRelayKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	type box struct {
		m       *mailbox
		ok      map[string]bool
		pushed  map[uint64]string
		acking  map[uint64]bool // an ACK was sent: may be gone
		ackedOK map[uint64]bool // the ACK was answered OK: must be gone
	}
	var boxes []*box
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRelayCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), relayCrashDirEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() {
			cmd.Process.Kill()
			t.Fatalf("child: no address: %v", sc.Err())
		}
		line := strings.TrimPrefix(sc.Text(), "addr ")
		go func() { // drains the child's output until it dies
			for sc.Scan() {
			}
		}()
		addr, err := wire.ParseAddress(line)
		if err != nil {
			cmd.Process.Kill()
			t.Fatalf("child: %q: %v", line, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		dial := func() *conn.Conn {
			c, err := conn.DialAddress(ctx, addr, nil)
			if err != nil {
				cmd.Process.Kill()
				t.Fatal(err)
			}
			return c
		}
		snd, rcv := dial(), dial()
		b := &box{m: newMailbox(t, snd), ok: map[string]bool{}, pushed: map[uint64]string{}, acking: map[uint64]bool{}, ackedOK: map[uint64]bool{}}
		boxes = append(boxes, b)
		if err := rcv.Subscribe(ctx, b.m.rid, b.m.key); err != nil {
			cmd.Process.Kill()
			t.Fatal(err)
		}
		var mu sync.Mutex
		killAt := 50 + rng.IntN(600)
		kill := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() { // ends when the relay dies
				for i := 0; ; i++ {
					body := []byte(fmt.Sprintf("%d-%d-%d-", round, g, i))
					body = append(body, make([]byte, wire.MinBucket-len(body))...)
					if err := snd.Send(ctx, b.m.sid, &b.m.cap, body); err != nil {
						return
					}
					mu.Lock()
					b.ok[string(body)] = true
					if len(b.ok) >= killAt {
						once.Do(func() { close(kill) })
					}
					mu.Unlock()
				}
			})
		}
		wg.Go(func() { // the subscriber: ends when the relay dies
			for p := range rcv.Pushes() {
				if p.Type != wire.TypeMSG {
					continue
				}
				mu.Lock()
				b.pushed[p.Seq] = string(p.Body)
				mu.Unlock()
				seq := p.Seq
				if seq%3 == 0 {
					continue // never acknowledged: must survive every kill
				}
				mu.Lock()
				b.acking[seq] = true
				mu.Unlock()
				rcv.AckAsync(b.m.rid, seq, func(err error) {
					if err == nil {
						mu.Lock()
						b.ackedOK[seq] = true
						mu.Unlock()
					}
				})
			}
		})
		select {
		case <-kill:
		case <-ctx.Done():
			cmd.Process.Kill()
			t.Fatal("too few SENDs answered before the deadline")
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		snd.Close()
		rcv.Close()
		wg.Wait()
		cancel()

		st, err := badger.Open(badger.Config{Dir: dir})
		if err != nil {
			t.Fatalf("reopening after kill %d: %v", round, err)
		}
		for _, b := range boxes {
			msgs, err := st.Pending(context.Background(), b.m.rid, 0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			have := map[string]bool{}
			for _, x := range msgs {
				if b.ackedOK[x.Seq] {
					t.Errorf("round %d: message %d is back after its ACK was answered OK", round, x.Seq)
				}
				have[string(x.Body)] = true
			}
			gone := map[string]bool{}
			for seq, body := range b.pushed {
				if b.acking[seq] {
					gone[body] = true
				}
			}
			for body := range b.ok {
				if !have[body] && !gone[body] {
					t.Errorf("round %d: a SEND answered OK is lost: %q", round, strings.TrimRight(body, "\x00"))
				}
			}
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: killed after %d OKs, %d pushed, %d ACKs answered OK", round, len(b.ok), len(b.pushed), len(b.ackedOK))
	}
}
