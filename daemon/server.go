package daemon

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"veil/client"
)

// flushOnStop bounds the outbox flush when the engine stops (lock, stop):
// what is not sent by then stays queued in the vault for the next run.
const flushOnStop = 5 * time.Second

// Config configures a Server.
type Config struct {
	// Profile opens and erases the profile (required).
	Profile Profile
	// RunEngine makes the Server run the engine (receive, send the outbox,
	// timers) while the profile is unlocked: the daemon does, a command's
	// own in-process Server does only for watch.
	RunEngine bool
	// LockAfter locks the profile after this long without a call (0:
	// never).
	LockAfter time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Log receives one line per lock, unlock and stop, never anything
	// about a chat or a contact (nil: nothing is logged).
	Log func(string)
	// UID is the user whose processes may connect (the server's own when
	// negative). Tests set another to exercise the refusal.
	UID int
}

// Server serves the API for one profile. Its methods are safe for
// concurrent use.
type Server struct {
	cfg Config

	unlockMu sync.Mutex // serialises unlock, lock and erase

	mu       sync.Mutex
	sess     *Session
	ring     *ring
	runStop  context.CancelFunc // stops the engine's Run and the event pump
	runDone  chan struct{}      // closed when both have returned
	lastCall time.Time
	noFlush  *atomic.Bool // set before an erase stops the engine: no last flush
	stopped  bool
	att      *attachment   // the owner of an attached session (attach.go)
	gone     bool          // the profile is erased or missing: finish after answering
	done     chan struct{} // closed when the server asks to stop
	conns    map[*conn]struct{}
	starting chan struct{} // while set, calls but erase wait for it to close (Starting)
}

// Starting holds every call but erase until release is called: a daemon
// serves its socket while it reads its PIN, so that erase (veil panic)
// is answered at once, and a client that connects meanwhile gets the
// answer the unlock leads to, as if it had connected after it, not a
// "locked" that would make it give up. release may be called more than
// once.
func (s *Server) Starting() (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.starting = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.starting = nil
			s.mu.Unlock()
			close(ch)
		})
	}
}

// waitStarted waits while the server is starting, or until it stops.
func (s *Server) waitStarted() {
	s.mu.Lock()
	ch := s.starting
	s.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case <-ch:
	case <-s.done:
	}
}

// New returns a locked Server.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = func(string) {}
	}
	return &Server{cfg: cfg, done: make(chan struct{}), conns: map[*conn]struct{}{}, lastCall: cfg.Now()}
}

// Done is closed when the server has finished its job: the profile was
// erased (erase, or an unlock that erased it) or is gone, and the call
// that found out was answered; or Shutdown was called. The process
// serving it then stops.
func (s *Server) Done() <-chan struct{} { return s.done }

func (s *Server) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.stopped = true
		close(s.done)
	}
}

// Locked reports whether no session is open.
func (s *Server) Locked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sess == nil
}

// engine returns the open session's engine, or nil when locked.
func (s *Server) engine() (*client.Engine, *Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil, nil
	}
	return s.sess.Engine, s.sess
}

// Unlock opens the profile with pin (see Profile.Unlock) and starts
// serving it; the caller wipes pin. An unlock that erased the profile, or
// found none, ends the server (Done). Unlocking an unlocked server does
// nothing.
func (s *Server) Unlock(ctx context.Context, pin []byte) error {
	s.unlockMu.Lock()
	defer s.unlockMu.Unlock()
	if !s.Locked() {
		return nil
	}
	events := make(chan client.Event, 256)
	sess, err := s.cfg.Profile.Unlock(ctx, pin, events)
	if err != nil {
		if errors.Is(err, client.ErrErased) || errors.Is(err, client.ErrNoProfile) {
			s.mu.Lock()
			s.gone = true
			s.mu.Unlock()
		}
		return err
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	noFlush := new(atomic.Bool)
	s.mu.Lock()
	s.noFlush = noFlush
	s.sess, s.ring, s.runStop, s.runDone = sess, newRing(newStreamID(s.cfg.Now())), stop, done
	s.lastCall = s.cfg.Now()
	s.mu.Unlock()
	// A burn, deletion, leave or invite cancelled here strips the chat's
	// words from the stream, whoever asked the engine.
	sess.Engine.OnLocalErase(s.scrub)
	var wg sync.WaitGroup
	wg.Go(func() { s.pump(rctx, events) })
	if s.cfg.RunEngine {
		wg.Go(func() {
			if err := sess.Engine.Run(rctx); err != nil {
				s.publish(client.Event{Type: client.EventWarning, Err: err.Error()})
			}
			if noFlush.Load() {
				return // an erase: nothing more goes out
			}
			fctx, cancel := context.WithTimeout(context.Background(), flushOnStop)
			sess.Engine.Flush(fctx)
			cancel()
		})
	}
	go func() { wg.Wait(); close(done) }()
	s.cfg.Log("unlocked")
	return nil
}

// newStreamID names one unlocked period's event stream: the time of the
// unlock and a random number, so two unlocks differ even when the clock
// did not move. It is no secret, but it must say nothing of the server's
// earlier unlocks: after a duress PIN the stream is named as a new
// profile's first one is.
func newStreamID(now time.Time) string {
	return strconv.FormatInt(now.UnixNano(), 36) + "." + strconv.FormatUint(rand.Uint64(), 36)
}

// pump moves the engine's events into the ring until ctx ends.
func (s *Server) pump(ctx context.Context, events <-chan client.Event) {
	for {
		select {
		case ev := <-events:
			s.publish(ev)
		case <-ctx.Done():
			return
		}
	}
}

// publish adds ev to the stream of the session the Server unlocked (an
// attached session's owner calls Publish).
func (s *Server) publish(ev client.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ring != nil {
		s.ring.add(ev, s.cfg.Now())
	}
}

// scrub strips the words of chat (of its message msg only, when msg is
// not empty) from the events held: a burn or a deletion made here.
func (s *Server) scrub(chat, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ring != nil {
		s.ring.scrub(chat, msg)
	}
}

// trimRing drops the events past the ring's age, even when no new event
// comes to push them out (Serve calls it every second).
func (s *Server) trimRing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ring != nil {
		s.ring.trim(s.cfg.Now())
	}
}

// Lock stops the engine (the outbox is flushed for at most a few seconds;
// what is left stays queued in the vault), closes the session, which zeroes
// its keys, and forgets every event held: only status, unlock and erase
// answer until the next unlock. Subscribers are told the stream ended.
// An attached session's owner is asked to lock instead (Attach).
func (s *Server) Lock() {
	if s.ownerLock() {
		return
	}
	s.unlockMu.Lock()
	defer s.unlockMu.Unlock()
	s.lock(true)
}

// lock closes the session; flush says whether the outbox gets its last
// few seconds (not before an erase: what the user erases must not leave).
func (s *Server) lock(flush bool) {
	s.mu.Lock()
	sess, stop, done := s.sess, s.runStop, s.runDone
	if sess == nil || s.att != nil {
		s.mu.Unlock()
		return
	}
	if !flush && s.noFlush != nil {
		s.noFlush.Store(true)
	}
	s.sess, s.runStop, s.runDone = nil, nil, nil
	r := s.ring
	s.ring = nil
	s.mu.Unlock()
	if !flush {
		// An erase: a flush running for another call, or the engine's
		// own, must not send the rest of the outbox while Run stops.
		sess.Engine.Halt()
	}
	stop()
	<-done
	sess.Close()
	// Wake the streams: they find no ring and end with "locked".
	if r != nil {
		clear(r.es)
		close(r.wake)
	}
	s.cfg.Log("locked")
}

// Erase locks the profile and erases it (wipe, panic). The server is then
// Gone: it answers the call that asked and ends (Done). An attached
// session's owner is asked to erase instead (Attach).
func (s *Server) Erase(ctx context.Context) error {
	if asked, err := s.ownerErase(ctx); asked {
		return err
	}
	s.unlockMu.Lock()
	defer s.unlockMu.Unlock()
	s.lock(false)
	err := s.cfg.Profile.Erase(ctx)
	s.mu.Lock()
	s.gone = true
	s.mu.Unlock()
	return err
}

// Gone reports whether the profile was erased or found missing (by Erase
// or Unlock): the server has nothing left to serve.
func (s *Server) Gone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gone
}

// finishIfGone ends the server once the answer saying why is written.
func (s *Server) finishIfGone() {
	if s.Gone() {
		s.finish()
	}
}

// touch records a call, for LockAfter.
func (s *Server) touch() {
	s.mu.Lock()
	s.lastCall = s.cfg.Now()
	s.mu.Unlock()
}

// CheckIdle locks the profile if LockAfter has passed since the last call
// and reports whether it did. Serve calls it every second; tests call it
// with their own clock.
func (s *Server) CheckIdle() bool {
	if s.cfg.LockAfter <= 0 {
		return false
	}
	s.mu.Lock()
	idle := s.sess != nil && s.cfg.Now().Sub(s.lastCall) >= s.cfg.LockAfter
	s.mu.Unlock()
	if idle {
		s.cfg.Log("locked after being idle")
		s.Lock()
	}
	return idle
}

// Shutdown stops serving: every connection is closed and the profile
// locked (the outbox flushed for at most a few seconds).
func (s *Server) Shutdown() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	s.Lock()
	s.finish()
	s.cfg.Log("stopped")
}

// Status is the result of status and unlock (spec/api.md §4.1).
type Status struct {
	API    int    `json:"api"`
	Locked bool   `json:"locked"`
	Stream string `json:"stream,omitempty"` // the event stream while unlocked
	Seq    uint64 `json:"seq"`              // its newest sequence number
}

// Status says whether the profile is unlocked and where its stream is.
func (s *Server) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{API: apiVersion, Locked: s.sess == nil}
	if s.ring != nil {
		st.Stream, st.Seq = s.ring.stream, s.ring.last()
	}
	return st
}
