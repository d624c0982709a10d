package clustertest

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"veil/relay/store/jetstream/jstest"
	"veil/relay/wire"
)

// TestKill9RelayNode runs two veil-relay processes with --store jetstream
// on a three-node in-process NATS cluster, kills one with SIGKILL under
// load, and proves that its clients reconnect to the other and continue,
// that every acknowledged SEND is delivered, none is stored twice and
// none is delivered again after its ACK was answered OK.
func TestKill9RelayNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs veil-relay")
	}
	const (
		mailboxes = 4
		senders   = 2
		each      = 60
	)
	nats := jstest.Start(t, 3)
	dir := t.TempDir()
	bin := filepath.Join(dir, "veil-relay")
	if out, err := exec.Command("go", "build", "-o", bin, "veil/cmd/veil-relay").CombinedOutput(); err != nil {
		t.Fatalf("building veil-relay: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "relay") // one identity for both nodes
	if out, err := exec.Command(bin, "init", "--data", data, "--listen", "127.0.0.1:1").CombinedOutput(); err != nil {
		t.Fatalf("veil-relay init: %v\n%s", err, out)
	}
	c := &cluster{}
	var procs []*exec.Cmd
	for range 2 {
		n, cmd := startProcess(t, bin, data, nats)
		c.nodes = append(c.nodes, n)
		procs = append(procs, cmd)
	}
	setup := dial(t, c.nodes[1])
	var boxes []*mailbox
	for i := range mailboxes {
		boxes = append(boxes, newMailbox(t, setup, i))
	}
	setup.Close()

	l := &ledger{accepted: map[string]bool{}, received: map[string][]uint64{}, acked: map[string]bool{}}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	recvCtx, stopReceivers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, m := range boxes {
		wg.Add(1)
		go func() { // owned by the test; stops with recvCtx
			defer wg.Done()
			receive(recvCtx, t, c, i%2, i, m, l)
		}()
	}
	var sent, killed int
	var mu sync.Mutex
	step := func() {
		mu.Lock()
		defer mu.Unlock()
		if sent++; sent == senders*each/2 && killed == 0 {
			killed++
			t.Logf("SIGKILL to relay node 1 after %d SENDs", sent)
			c.nodes[0].down.Store(true)
			_ = procs[0].Process.Signal(syscall.SIGKILL)
		}
	}
	var sw sync.WaitGroup
	for w := range senders {
		sw.Add(1)
		go func() { // owned by the test; bounded by each
			defer sw.Done()
			send(ctx, t, c, w, boxes, each, l, step)
		}()
	}
	sw.Wait()
	for !l.doneReceiving(l.accepted) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // to catch a late redelivery
	stopReceivers()
	wg.Wait()

	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("%d SENDs answered OK, %d refused; %d labels received; %d reconnects",
		len(l.accepted), l.refused, len(l.received), l.reconnects)
	for b := range l.accepted {
		if len(l.received[b]) == 0 {
			t.Errorf("acknowledged message %s never delivered", b)
		}
	}
	for b, seqs := range l.received {
		if len(seqs) > 1 {
			t.Errorf("message %s stored twice: seqs %v", b, seqs)
		}
	}
	if len(l.afterAck) > 0 {
		t.Errorf("%d messages delivered again after their ACK was answered OK: %v", len(l.afterAck), l.afterAck)
	}
	if l.reconnects == 0 {
		t.Error("no client reconnected after the SIGKILL")
	}
	if len(l.accepted) < senders*each*2/3 {
		t.Errorf("only %d of %d SENDs answered OK", len(l.accepted), senders*each)
	}
}

// startProcess runs veil-relay with --store jetstream on a free port and
// returns its node (the address it printed) and process, killed at the
// end of the test.
func startProcess(t *testing.T, bin, data string, nats *jstest.Cluster) (*relayNode, *exec.Cmd) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "serve", "--store", "jetstream", "--nats", nats.URL(),
		"--listen", "127.0.0.1:"+strconv.Itoa(port), "--data", data, "--log-level", "error", "--drain", "100ms")
	cmd.Env = append(os.Environ(), "HOME="+data)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() { // ends when the process's stdout closes
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		for sc.Scan() {
		}
	}()
	select {
	case line := <-lines:
		a, err := wire.ParseAddress(strings.TrimSpace(line))
		if err != nil {
			t.Fatalf("veil-relay printed %q: %v", line, err)
		}
		return &relayNode{addr: a, stop: func() {}}, cmd
	case <-time.After(30 * time.Second):
		t.Fatalf("veil-relay on port %d did not start", port)
	}
	return nil, nil
}
