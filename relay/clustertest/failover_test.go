package clustertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"veil/relay/conn"
	"veil/relay/wire"
)

// ledger is what the clients of TestFailover observed.
type ledger struct {
	mu          sync.Mutex
	accepted    map[string]bool     // labels whose SEND was answered OK
	refused     int                 // SENDs that failed (connection lost, node down)
	received    map[string][]uint64 // label → distinct seqs it arrived under
	acked       map[string]bool     // "mailbox/seq" whose ACK was answered OK
	afterAck    []string            // MSGs delivered again after their ACK
	reconnects  int
	unexpectEnd int
}

func (l *ledger) doneReceiving(want map[string]bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for b := range want {
		if len(l.received[b]) == 0 {
			return false
		}
	}
	return true
}

// TestFailover runs traffic through three relay nodes on a three-node
// JetStream cluster, kills the NATS node leading the message stream at a
// third of the load and a relay node at two thirds, and proves that every
// acknowledged SEND was delivered, that none was stored twice, and that
// nothing was delivered again after its ACK was answered OK. Clients of
// the killed relay node reconnect to another node and continue.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: skipped with -short")
	}
	const (
		mailboxes = 6
		senders   = 3
		each      = 80 // SENDs per sender
	)
	c := startCluster(t, 3)
	setup := dial(t, c.nodes[1])
	var boxes []*mailbox
	for i := range mailboxes {
		boxes = append(boxes, newMailbox(t, setup, i))
	}
	setup.Close()

	l := &ledger{accepted: map[string]bool{}, received: map[string][]uint64{}, acked: map[string]bool{}}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	recvCtx, stopReceivers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, m := range boxes {
		wg.Add(1)
		go func() { // owned by the test; stops with recvCtx
			defer wg.Done()
			receive(recvCtx, t, c, i%3, i, m, l)
		}()
	}

	var sent atomic.Int64
	natsVictim := -1
	var phase sync.Mutex
	step := func() {
		n := sent.Add(1)
		phase.Lock()
		defer phase.Unlock()
		switch n {
		case senders * each / 3:
			natsVictim = msgLeader(t, c)
			t.Logf("killing NATS node %d (leader of the message stream) after %d SENDs", natsVictim+1, n)
			c.nats.Kill(natsVictim)
		case 2 * senders * each / 3:
			t.Logf("stopping relay node 1 after %d SENDs", n)
			c.nodes[0].stop()
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
	// A little longer, to catch a late redelivery.
	time.Sleep(500 * time.Millisecond)
	stopReceivers()
	wg.Wait()

	l.mu.Lock()
	defer l.mu.Unlock()
	var lost, dup []string
	for b := range l.accepted {
		if len(l.received[b]) == 0 {
			lost = append(lost, b)
		}
	}
	for b, seqs := range l.received {
		if len(seqs) > 1 {
			dup = append(dup, fmt.Sprintf("%s%v", b, seqs))
		}
	}
	t.Logf("%d SENDs answered OK, %d refused; %d labels received; %d reconnects",
		len(l.accepted), l.refused, len(l.received), l.reconnects)
	if len(lost) > 0 {
		t.Errorf("%d acknowledged messages never delivered, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
	if len(dup) > 0 {
		t.Errorf("%d messages stored twice, e.g. %v", len(dup), dup[:min(5, len(dup))])
	}
	if len(l.afterAck) > 0 {
		t.Errorf("%d messages delivered again after their ACK was answered OK, e.g. %v", len(l.afterAck), l.afterAck[:min(5, len(l.afterAck))])
	}
	if len(l.accepted) < senders*each*2/3 {
		t.Errorf("only %d of %d SENDs answered OK: the cluster did not ride out the failures", len(l.accepted), senders*each)
	}
	if l.reconnects == 0 {
		t.Error("no client reconnected: the relay node was not stopped under load")
	}
	if l.unexpectEnd > 0 {
		t.Errorf("%d unexpected END pushes", l.unexpectEnd)
	}
}

// msgLeader returns the NATS node leading the message stream.
func msgLeader(t *testing.T, c *cluster) int {
	for _, n := range c.nodes {
		if n.down.Load() {
			continue
		}
		name, err := n.store.StreamLeader(context.Background())
		if err != nil {
			continue
		}
		if i := c.nats.Index(name); i >= 0 {
			return i
		}
	}
	t.Error("no stream leader found")
	return 0
}

// connect dials relay node start, or the next live one.
func connect(c *cluster, start int) (*conn.Conn, int, error) {
	var last error
	for k := range len(c.nodes) {
		i := (start + k) % len(c.nodes)
		if c.nodes[i].down.Load() {
			continue
		}
		cn, err := tryDial(c.nodes[i])
		if err == nil {
			return cn, i, nil
		}
		last = err
	}
	return nil, 0, fmt.Errorf("no relay node reachable: %w", last)
}

// send sends each messages round-robin over the mailboxes; a SEND that
// fails is not repeated (it is not acknowledged), and the sender moves to
// the next live relay node.
func send(ctx context.Context, t *testing.T, c *cluster, w int, boxes []*mailbox, each int, l *ledger, step func()) {
	node := w % len(c.nodes)
	var cn *conn.Conn
	defer func() {
		if cn != nil {
			cn.Close()
		}
	}()
	for i := range each {
		if ctx.Err() != nil {
			return
		}
		if cn == nil {
			var err error
			if cn, node, err = connect(c, node); err != nil {
				t.Errorf("sender %d: %v", w, err)
				return
			}
		}
		m := boxes[(w*each+i)%len(boxes)]
		lbl := fmt.Sprintf("s%d-%d", w, i)
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := cn.Send(sctx, m.sid, &m.cap, body(lbl))
		cancel()
		l.mu.Lock()
		if err == nil {
			l.accepted[lbl] = true
		} else {
			l.refused++
		}
		l.mu.Unlock()
		if err != nil && (errors.Is(err, conn.ErrClosed) || isDone(cn)) {
			cn.Close()
			cn, node = nil, node+1
		}
		step()
	}
}

func isDone(cn *conn.Conn) bool {
	select {
	case <-cn.Done():
		return true
	default:
		return false
	}
}

// receive keeps mailbox m subscribed on some live relay node until ctx
// ends: it records and ACKs every MSG, and reconnects (to the next live
// node) and subscribes again whenever its connection ends.
func receive(ctx context.Context, t *testing.T, c *cluster, node, idx int, m *mailbox, l *ledger) {
	for first := true; ctx.Err() == nil; first = false {
		cn, at, err := connect(c, node)
		if err != nil {
			t.Errorf("receiver %d: %v", idx, err)
			return
		}
		node = at
		if !first {
			l.mu.Lock()
			l.reconnects++
			l.mu.Unlock()
		}
		if err := cn.Subscribe(ctx, m.rid, m.key); err != nil {
			cn.Close()
			if ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond) // bounded by ctx: the test's deadline
			}
			continue
		}
		consume(ctx, cn, m, l)
		cn.Close()
		node++
	}
}

// consume handles pushes until the connection or ctx ends.
func consume(ctx context.Context, cn *conn.Conn, m *mailbox, l *ledger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-cn.Done():
			return
		case p := <-cn.Pushes():
			if p.Type == wire.TypeEND {
				l.mu.Lock()
				l.unexpectEnd++
				l.mu.Unlock()
				return
			}
			lbl := label(p.Body)
			key := fmt.Sprintf("%x/%d", m.rid[:4], p.Seq)
			l.mu.Lock()
			if l.acked[key] {
				l.afterAck = append(l.afterAck, lbl)
			}
			seqs := l.received[lbl]
			if !containsSeq(seqs, p.Seq) {
				l.received[lbl] = append(seqs, p.Seq)
			}
			l.mu.Unlock()
			actx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := cn.Ack(actx, m.rid, p.Seq)
			cancel()
			if err == nil {
				l.mu.Lock()
				l.acked[key] = true
				l.mu.Unlock()
			}
		}
	}
}

func containsSeq(seqs []uint64, s uint64) bool {
	for _, v := range seqs {
		if v == s {
			return true
		}
	}
	return false
}
