package daemon

import (
	"context"
	"time"

	"veil/client"
)

// ownerWait bounds how long lock and erase wait for an Owner to do what
// they asked: the answer then says how things stand.
const ownerWait = time.Minute

// Owner is a program that opens, runs and closes the engine a Server
// serves for it (the TUI): see Server.Attach. The Server asks it to lock
// and to erase instead of doing either itself. Its methods are called
// with none of the Server's locks held, from the goroutine of an API
// call.
type Owner interface {
	// Lock locks the profile as the owner's own lock does: it stops the
	// engine, closes the session and calls Detach. It may return before
	// it has finished.
	Lock()
	// Erase erases the profile as the owner's own panic does (closing
	// the session first, which calls Detach) and returns once the
	// profile is erased, or with an error when ctx ends first.
	Erase(ctx context.Context) error
}

// attachment is the owner of an attached session. It is guarded by the
// Server's mutex.
type attachment struct {
	owner    Owner
	detached chan struct{} // closed by Detach
}

// Attach serves sess, which owner opened, runs and will close: the
// Server never runs the engine, never closes it and reads none of its
// events (the owner hands them over with Publish). While it is attached,
// lock and erase ask the owner (Owner) and unlock has nothing to do. The
// owner calls Detach before it closes the session. Attaching a Server
// that is not locked is a programmer error.
func (s *Server) Attach(sess *Session, owner Owner) {
	s.unlockMu.Lock()
	defer s.unlockMu.Unlock()
	s.mu.Lock()
	if s.sess != nil {
		s.mu.Unlock()
		panic("daemon: Attach on an unlocked server")
	}
	s.sess, s.ring = sess, newRing(newStreamID(s.cfg.Now()))
	s.att = &attachment{owner: owner, detached: make(chan struct{})}
	s.lastCall = s.cfg.Now()
	s.mu.Unlock()
	// The owner's own burns and deletes go to the engine directly.
	sess.Engine.OnLocalErase(s.scrub)
	s.cfg.Log("unlocked")
}

// Publish adds ev to the event stream of the attached session; the owner
// calls it for every event its engine sends. It never blocks on a
// client, and does nothing while no session is attached.
func (s *Server) Publish(ev client.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.att != nil {
		s.ring.add(ev, s.cfg.Now())
	}
}

// Detach stops serving the attached session, as Lock does (subscribers
// are told the stream ended, every event held is forgotten, and only
// status, unlock and erase answer), without stopping or closing the
// engine: that is the owner's. Detaching a Server with no attached
// session does nothing.
func (s *Server) Detach() {
	s.unlockMu.Lock()
	defer s.unlockMu.Unlock()
	s.mu.Lock()
	a, r, sess := s.att, s.ring, s.sess
	if a == nil {
		s.mu.Unlock()
		return
	}
	s.sess, s.ring, s.att = nil, nil, nil
	s.mu.Unlock()
	sess.Engine.OnLocalErase(nil)
	// Wake the streams: they find no ring and end with "locked".
	clear(r.es)
	close(r.wake)
	close(a.detached)
	s.cfg.Log("locked")
}

// attached returns the attachment, nil when no session is attached.
func (s *Server) attached() *attachment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.att
}

// ownerLock asks the owner of an attached session to lock and waits until
// it has detached (at most ownerWait). It reports false when no session
// is attached: the caller locks.
func (s *Server) ownerLock() bool {
	a := s.attached()
	if a == nil {
		return false
	}
	a.owner.Lock()
	t := time.NewTimer(ownerWait)
	defer t.Stop()
	select {
	case <-a.detached:
	case <-t.C:
		s.cfg.Log("the owner did not lock in time")
	}
	return true
}

// ownerErase asks the owner of an attached session to erase the profile.
// It reports false when no session is attached: the caller erases.
func (s *Server) ownerErase(ctx context.Context) (bool, error) {
	a := s.attached()
	if a == nil {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, ownerWait)
	defer cancel()
	err := a.owner.Erase(ctx)
	if err == nil {
		s.mu.Lock()
		s.gone = true
		s.mu.Unlock()
		s.cfg.Log("erased")
	}
	return true, err
}
