package relay

import (
	"sync"
	"time"

	"veil/relay/wire"
)

// Failed destinations and the destinations each connection asks for,
// spec/relay.md §7.6.2 and §11: together they bound how fast a client can
// make a forwarder dial addresses that do not answer.

const (
	failFirst    = 30 * time.Second // §11: the first back-off after a failure
	failMax      = 10 * time.Minute // §11: the back-off doubles up to this
	maxFailed    = 4096             // failures remembered; the oldest deadline goes first
	destWindow   = time.Minute      // §11: the window of ForwardDestsPerMinute
	failForgotIn = failMax          // a failure quiet this long past its deadline is forgotten
)

// failCache remembers destinations that failed. A failure to resolve,
// or to make a TCP connection to, host:port is kept under host:port, so
// that a prober cannot dodge it by changing the fingerprint; any other
// failure (the hello, a fingerprint or an FKEYS that does not check) under
// the whole address, so that naming a relay with a wrong fingerprint
// does not block the relay for others.
type failCache struct {
	mu sync.Mutex // guards m
	m  map[string]failEntry
}

type failEntry struct {
	until   time.Time     // dial again only from then
	backoff time.Duration // the last back-off, doubled by the next failure
}

// hostKey and addrKey are the keys of a destination's two entries.
func hostKey(a wire.Address) string { return "h " + wire.Address{Host: a.Host, Port: a.Port}.String() }
func addrKey(a wire.Address) string { return "a " + a.String() }

// blocked reports whether a's destination failed less than its back-off
// ago.
func (fc *failCache) blocked(a wire.Address, now time.Time) bool {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for _, k := range [...]string{hostKey(a), addrKey(a)} {
		if e, ok := fc.m[k]; ok && now.Before(e.until) {
			return true
		}
	}
	return false
}

// failed records a failure of a, under host:port when tcp.
func (fc *failCache) failed(a wire.Address, tcp bool, now time.Time) {
	k := addrKey(a)
	if tcp {
		k = hostKey(a)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	e, ok := fc.m[k]
	switch {
	case !ok:
		e.backoff = failFirst
	case now.Before(e.until):
		return // a failure of a dial that was already under way
	default:
		e.backoff = min(2*e.backoff, failMax)
	}
	e.until = now.Add(e.backoff)
	if !ok && len(fc.m) >= maxFailed {
		fc.evictLocked()
	}
	if fc.m == nil {
		fc.m = map[string]failEntry{}
	}
	fc.m[k] = e
}

// succeeded forgets a's failures.
func (fc *failCache) succeeded(a wire.Address) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	delete(fc.m, hostKey(a))
	delete(fc.m, addrKey(a))
}

// evictLocked drops the entry with the earliest deadline; fc.mu is held.
func (fc *failCache) evictLocked() {
	var oldest string
	var t time.Time
	for k, e := range fc.m {
		if oldest == "" || e.until.Before(t) {
			oldest, t = k, e.until
		}
	}
	delete(fc.m, oldest)
}

// sweep forgets failures whose deadline passed more than failForgotIn ago.
func (fc *failCache) sweep(now time.Time) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for k, e := range fc.m {
		if now.Sub(e.until) >= failForgotIn {
			delete(fc.m, k)
		}
	}
}

// askDestLocked counts a FKEY for destination key on the connection and
// reports whether it is within ForwardDestsPerMinute: a destination
// asked for in the last minute, or one the connection holds a route
// for, is not counted again. c.routeMu is held.
func (c *session) askDestLocked(key string, held bool, now time.Time) bool {
	for k, t := range c.asked {
		if now.Sub(t) >= destWindow {
			delete(c.asked, k)
		}
	}
	if _, ok := c.asked[key]; ok || held {
		return true
	}
	if len(c.asked) >= c.s.limits.ForwardDestsPerMinute {
		return false
	}
	if c.asked == nil {
		c.asked = map[string]time.Time{}
	}
	c.asked[key] = now
	return true
}
