package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"veil/relay/conn"
	"veil/relay/wire"
)

// relayProc is a veil-relay running as a child process.
type relayProc struct {
	cmd     *exec.Cmd
	address string
	exited  chan struct{}
}

var addressRE = regexp.MustCompile(`veil\+ws://[^\s"]+#[A-Za-z0-9_-]{43}`)

// buildRelay builds cmd/veil-relay into dir.
func buildRelay(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "veil-relay")
	out, err := exec.Command("go", "build", "-o", bin, "veil/cmd/veil-relay").CombinedOutput()
	if err != nil {
		t.Fatalf("building veil-relay: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRelay runs bin serving on 127.0.0.1:port with its data in dir and
// waits until it prints its address and accepts a connection.
func startRelay(t *testing.T, bin, dir string, port int, extra ...string) *relayProc {
	t.Helper()
	args := append([]string{"serve", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--data", dir}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &relayProc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	found := make(chan string, 1)
	go func() { // drains the relay's output until it exits
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if a := addressRE.FindString(sc.Text()); a != "" {
				select {
				case found <- a:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case p.address = <-found:
	case <-p.exited:
		t.Fatal("veil-relay exited before printing its address")
	case <-time.After(60 * time.Second):
		p.kill(t)
		t.Fatal("veil-relay printed no address within 60s")
	}
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := conn.Dial(ctx, p.address, nil)
		cancel()
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			p.kill(t)
			t.Fatalf("veil-relay does not accept connections: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *relayProc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("veil-relay did not die within 30s of SIGKILL")
	}
}

// crashBox is one mailbox's ledger across relay restarts.
type crashBox struct {
	box *mailbox

	mu        sync.Mutex // guards the fields below
	next      uint64     // next message number to send
	sentOK    map[uint64]bool
	delivered map[uint64]bool
	ackOK     map[uint64]bool
	seqOf     map[uint64]uint64 // relay seq → message number, this run of the relay
	violation []string
}

// TestKill9Relay runs veil-relay with the Badger store as a subprocess,
// sends and receives under load, kills it with SIGKILL at random moments
// several times in a row, restarts it, and checks that every message whose
// SEND was answered OK was delivered and that no message was delivered
// again after its ACK was answered OK (spec/relay.md §8.5).
func TestKill9Relay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs veil-relay")
	}
	tmp := t.TempDir()
	bin := buildRelay(t, tmp)
	data := filepath.Join(tmp, "data")
	port := freePort(t)
	rng := rand.New(rand.NewPCG(3, 4))

	p := startRelay(t, bin, data, port)
	defer func() { p.kill(t) }()
	ctx := context.Background()
	const nBoxes = 8
	boxes := make([]*crashBox, nBoxes)
	c, err := conn.Dial(ctx, p.address, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range boxes {
		m, err := newMailbox(ctx, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		boxes[i] = &crashBox{box: m, sentOK: map[uint64]bool{}, delivered: map[uint64]bool{}, ackOK: map[uint64]bool{}}
	}
	c.Close()

	const rounds = 4
	for round := range rounds {
		if round > 0 {
			p = startRelay(t, bin, data, port)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i, b := range boxes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.traffic(p.address, uint32(i), stop)
			}()
		}
		time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		p.kill(t)
		close(stop)
		wg.Wait()
		sent, acked := 0, 0
		for _, b := range boxes {
			sent += len(b.sentOK)
			acked += len(b.ackOK)
		}
		t.Logf("kill %d: %d sends and %d acks answered OK so far", round+1, sent, acked)
	}

	// Final drain on a fresh relay: everything answered OK must arrive.
	p = startRelay(t, bin, data, port)
	var wg sync.WaitGroup
	for i, b := range boxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.drain(t, p.address, uint32(i))
		}()
	}
	wg.Wait()
	totalSent, totalAcked := 0, 0
	for i, b := range boxes {
		for _, v := range b.violation {
			t.Errorf("mailbox %d: %s", i, v)
		}
		for k := range b.sentOK {
			if !b.delivered[k] {
				t.Errorf("mailbox %d: message %d was answered OK but never delivered", i, k)
			}
		}
		totalSent += len(b.sentOK)
		totalAcked += len(b.ackOK)
	}
	if totalSent == 0 || totalAcked == 0 {
		t.Fatalf("nothing was sent (%d) or acked (%d) under load: the test proved nothing", totalSent, totalAcked)
	}
	if !t.Failed() {
		t.Logf("%d messages answered OK, all delivered; %d ACKs answered OK, none delivered again", totalSent, totalAcked)
	}
}

// receive handles one MSG push: it records the delivery, flags a message
// delivered again after its ACK was answered OK, and returns the number
// to ACK.
func (b *crashBox) receive(p conn.Push, idx uint32) (uint64, bool) {
	from, k, _, ok := parseBody(p.Body)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !ok || from != idx {
		b.violation = append(b.violation, fmt.Sprintf("foreign body in seq %d", p.Seq))
		return 0, false
	}
	if b.ackOK[k] {
		b.violation = append(b.violation, fmt.Sprintf("message %d delivered again after its ACK was answered OK", k))
	}
	b.delivered[k] = true
	b.seqOf[p.Seq] = k
	return k, true
}

// traffic sends to and receives from the mailbox on two connections until
// stop is closed or the relay dies.
func (b *crashBox) traffic(address string, idx uint32, stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	sender, err := conn.Dial(ctx, address, nil)
	if err != nil {
		return
	}
	defer sender.Close()
	recv, err := conn.Dial(ctx, address, nil)
	if err != nil {
		return
	}
	defer recv.Close()
	b.mu.Lock()
	b.seqOf = map[uint64]uint64{}
	b.mu.Unlock()
	if err := recv.Subscribe(ctx, b.box.RID, b.box.Key); err != nil {
		return
	}
	var wg sync.WaitGroup
	for range 8 { // senders
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				b.mu.Lock()
				k := b.next
				b.next++
				b.mu.Unlock()
				if err := sender.Send(ctx, b.box.SID, &b.box.Cap, makeBody(1024, idx, k, 0)); err != nil {
					if sender.Err() != nil {
						return
					}
					continue
				}
				b.mu.Lock()
				b.sentOK[k] = true
				b.mu.Unlock()
			}
		}()
	}
	acks := make(chan [2]uint64, 256)
	for range 8 { // ACK workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range acks {
				if err := recv.Ack(ctx, b.box.RID, a[0]); err == nil {
					b.mu.Lock()
					b.ackOK[a[1]] = true
					b.mu.Unlock()
				}
			}
		}()
	}
	for p := range recv.Pushes() { // ends when the relay dies or ctx ends
		if p.Type != wire.TypeMSG {
			continue
		}
		if k, ok := b.receive(p, idx); ok {
			select {
			case acks <- [2]uint64{p.Seq, k}:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(acks)
	recv.Close()
	sender.Close()
	wg.Wait()
}

// drain subscribes once more and takes everything left, ACKing it, until
// every message answered OK has arrived or nothing has come for a while.
func (b *crashBox) drain(t *testing.T, address string, idx uint32) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := conn.Dial(ctx, address, nil)
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	b.mu.Lock()
	b.seqOf = map[uint64]uint64{}
	b.mu.Unlock()
	if err := c.Subscribe(ctx, b.box.RID, b.box.Key); err != nil {
		t.Error(err)
		return
	}
	missing := func() int {
		b.mu.Lock()
		defer b.mu.Unlock()
		n := 0
		for k := range b.sentOK {
			if !b.delivered[k] {
				n++
			}
		}
		return n
	}
	quiet := time.NewTimer(3 * time.Second)
	defer quiet.Stop()
	for {
		select {
		case p, ok := <-c.Pushes():
			if !ok {
				t.Errorf("connection ended while draining: %v", c.Err())
				return
			}
			if p.Type != wire.TypeMSG {
				continue
			}
			if k, ok := b.receive(p, idx); ok {
				if err := c.Ack(ctx, b.box.RID, p.Seq); err != nil {
					t.Errorf("ACK while draining: %v", err)
					return
				}
				b.mu.Lock()
				b.ackOK[k] = true
				b.mu.Unlock()
			}
			quiet.Reset(time.Second)
		case <-quiet.C:
			// Done once everything answered OK has arrived and a quiet
			// second has passed without a delivery after an ACK; a slow
			// machine only makes this wait longer, up to ctx's deadline.
			if missing() == 0 {
				return
			}
			quiet.Reset(time.Second)
		case <-ctx.Done():
			t.Errorf("drain: %d messages answered OK still missing after 60s", missing())
			return
		}
	}
}
