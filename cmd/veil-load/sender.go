package main

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"veil/relay/conn"
)

// sender sends one connection's messages without a goroutine of its
// own: the pacer releases them (pace.go) and each answer from the relay
// frees a place in the window, so whichever of the two comes last sends
// the next message, on the pacer's goroutine or the connection's reader.
type sender struct {
	i     int
	dst   *mailbox
	send  sendFunc
	run   *mailboxRun
	acked []atomic.Bool // set as the relay stores message k

	mu       sync.Mutex // guards the fields below
	body     []byte     // reused: a send has copied it when it returns
	next     int        // the next message to send
	released int        // messages the pacer has released
	inflight int
	dead     bool // the connection refused a send: the rest is never sent
}

// mailboxRun is what the senders and receivers of one mailbox run share.
type mailboxRun struct {
	// pace is the schedule, with the run's start, set once the mailboxes
	// are subscribed and before the first message is sent.
	pace    atomic.Pointer[pacer]
	window  int
	stopped func() bool // the run has ended: errors are no longer counted
	errs    errCount
	sent    atomic.Int64
	acked   atomic.Int64
	settled atomic.Int64 // messages answered, failed or never to be sent
	routed  atomic.Int64 // receiver ACKs answered OK
	lastAck atomic.Int64 // nanoseconds since start
}

// release lets the sender send one more message when its window allows.
func (s *sender) release() {
	s.mu.Lock()
	s.released++
	s.pump()
	s.mu.Unlock()
}

// pump sends what is released while the window has room. s.mu is held.
func (s *sender) pump() {
	start := s.run.pace.Load().start
	for !s.dead && s.next < s.released && s.inflight < s.run.window {
		k := s.next
		s.next++
		s.inflight++
		s.run.sent.Add(1)
		fillBody(s.body, uint32(s.i), uint64(k), time.Since(start))
		err := s.send(s.i, s.dst, s.body, func(err error) { s.answered(k, err) })
		if err != nil {
			s.inflight--
			s.run.sent.Add(-1)
			s.dead = true
			if !s.run.stopped() || !errors.Is(err, conn.ErrClosed) {
				s.run.errs.add(fmt.Errorf("SEND: %w", err))
			}
			s.run.settled.Add(int64(len(s.acked) - k))
			return
		}
	}
}

// answered is the callback of message k's SEND.
func (s *sender) answered(k int, err error) {
	if err != nil {
		if !s.run.stopped() {
			s.run.errs.add(fmt.Errorf("SEND: %w", err))
		}
	} else {
		s.acked[k].Store(true)
		s.run.acked.Add(1)
	}
	s.run.settled.Add(1)
	s.mu.Lock()
	s.inflight--
	s.pump()
	s.mu.Unlock()
}
