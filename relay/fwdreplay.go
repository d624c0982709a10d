package relay

import (
	"sync"
	"time"

	"veil/crypto"
	"veil/relay/wire"
)

// The ephemeral keys of forwarded items this node accepted, spec/relay.md
// §7.6.4: a replay of one inside the time window is answered STALE.

const (
	// replayKeep is how long an accepted ephemeral key is remembered: an
	// item accepted at T carries a time within ForwardSkew of T, so it
	// can pass the time check only until T + 2×ForwardSkew.
	replayKeep = 2 * wire.ForwardSkew * time.Second
	// maxReplays bounds the keys remembered; one more drops the oldest.
	maxReplays = 100_000
)

// replayCache remembers ephemeral keys for replayKeep, oldest first.
type replayCache struct {
	mu    sync.Mutex // guards the fields below
	max   int        // maxReplays when 0
	seen  map[crypto.DHPublic]struct{}
	order []replayEntry // by acceptance time; order[head:] is live
	head  int
}

type replayEntry struct {
	key   crypto.DHPublic
	until time.Time
}

// has reports whether eph was accepted less than replayKeep ago.
func (rc *replayCache) has(eph crypto.DHPublic, now time.Time) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.expireLocked(now)
	_, ok := rc.seen[eph]
	return ok
}

// add records eph as accepted at now; false when it was already there
// (a replay that raced the first item).
func (rc *replayCache) add(eph crypto.DHPublic, now time.Time) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.expireLocked(now)
	if _, ok := rc.seen[eph]; ok {
		return false
	}
	limit := rc.max
	if limit == 0 {
		limit = maxReplays
	}
	for len(rc.seen) >= limit {
		rc.dropOldestLocked()
	}
	if rc.seen == nil {
		rc.seen = map[crypto.DHPublic]struct{}{}
	}
	rc.seen[eph] = struct{}{}
	rc.order = append(rc.order, replayEntry{key: eph, until: now.Add(replayKeep)})
	return true
}

// expireLocked drops the keys whose time is up; rc.mu is held.
func (rc *replayCache) expireLocked(now time.Time) {
	for rc.head < len(rc.order) && !now.Before(rc.order[rc.head].until) {
		rc.dropOldestLocked()
	}
}

// dropOldestLocked forgets the oldest key and compacts order once half
// of it is dead; rc.mu is held.
func (rc *replayCache) dropOldestLocked() {
	delete(rc.seen, rc.order[rc.head].key)
	rc.order[rc.head] = replayEntry{}
	rc.head++
	if rc.head == len(rc.order) {
		rc.order, rc.head = rc.order[:0], 0
	} else if rc.head > len(rc.order)/2 {
		n := copy(rc.order, rc.order[rc.head:])
		clear(rc.order[n:])
		rc.order, rc.head = rc.order[:n], 0
	}
}
