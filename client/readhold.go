package client

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"veil/crypto"
)

// Log read back-off (spec/groups.md §6.2): a relay whose reply to a log
// read was refused (conn.ErrBadReply) is not asked for that log again at
// once, since it would most likely answer the same. Tuning, not protocol.
const (
	readHoldMin = time.Second
	readHoldMax = 5 * time.Minute
)

// errLogHeld is returned, wrapped, for a log whose reads are held back
// after a refused reply. GroupSync skips such a group quietly: the refusal
// itself was reported when it happened.
var errLogHeld = errors.New("client: the relay's last reply for this group log was refused")

// readHolds keeps, per log, when it may be read again after refused
// replies. It lives as long as the engine (not in the vault): a restart
// reads every log at once. Safe for concurrent use.
type readHolds struct {
	now func() time.Time

	mu sync.Mutex // guards m and down
	m  map[crypto.ID]readHold
	// down holds the group relays reported unreachable (downEvents).
	down map[string]bool
}

// readHold is one log's back-off: n refused replies in a row, and no
// read before until.
type readHold struct {
	n     int
	until time.Time
}

// check returns an error wrapping errLogHeld if log id may not be read
// yet. A nil h holds nothing.
func (h *readHolds) check(id crypto.ID) error {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.m[id]
	if !ok {
		return nil
	}
	if wait := r.until.Sub(h.now()); wait > 0 {
		return fmt.Errorf("%w: next read in %s", errLogHeld, FormatDuration(max(wait.Round(time.Second), time.Second)))
	}
	return nil
}

// refused records a refused reply for log id and returns how long its
// reads are held: readHoldMin, doubling with each refusal in a row up to
// readHoldMax.
func (h *readHolds) refused(id crypto.ID) time.Duration {
	if h == nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[crypto.ID]readHold{}
	}
	r := h.m[id]
	d := readHoldMin << min(r.n, 16)
	if d > readHoldMax || d <= 0 {
		d = readHoldMax
	}
	r.n++
	r.until = h.now().Add(d)
	h.m[id] = r
	return d
}

// ok forgets log id's back-off after a read whose reply was accepted.
func (h *readHolds) ok(id crypto.ID) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, id)
}

// relayDown records that a group relay is unreachable and reports
// whether it was not so already.
func (h *readHolds) relayDown(addr string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down == nil {
		h.down = make(map[string]bool)
	}
	was := h.down[addr]
	h.down[addr] = true
	return !was
}

// relayUp records that a group relay answers and reports whether it was
// reported down.
func (h *readHolds) relayUp(addr string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	was := h.down[addr]
	delete(h.down, addr)
	return was
}
