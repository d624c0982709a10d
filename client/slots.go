package client

import (
	"bytes"
	"encoding/hex"
	"sort"
	"strconv"
	"sync"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/vault"
)

// A 1:1 chat may run on two relays (spec/client.md §7.5): each side
// receives on up to two mailboxes, its slots 0 and 1, and the peer sends
// every message to each of them. vault.Contact.Relays holds both sides:
// our mailboxes (RecvID set) and the peer's (SendID set), each with its
// slot.

// SlotDownAfter is how long the relay of one slot may fail before the
// copies waiting for it are given up, the other slot having taken them
// (Config.SlotDownAfter overrides it).
const SlotDownAfter = 90 * time.Second

// Move and rotation timing, spec/client.md §7.6.
const (
	rotateEvery    = 7 * 24 * time.Hour // a mailbox's life
	rotateJitter   = 12 * time.Hour     // ± around it
	retireGrace    = 10 * time.Minute   // an old mailbox drains this long after a move
	offerGiveUp    = 21 * 24 * time.Hour
	retireGiveUp   = offerGiveUp + 24*time.Hour // a retired mailbox never heard on goes this long after its grace
	peerMoveEvery  = time.Hour                  // at most one MOVE per slot this often
	deliveryExpiry = 45 * 24 * time.Hour        // how long delivery IDs are kept
)

// recvCaps returns every mailbox of ours in the chat: live ones, one
// offered by a MOVE not yet confirmed, and retired ones still draining.
func recvCaps(ct *vault.Contact) []*vault.RelayCap {
	var out []*vault.RelayCap
	for i := range ct.Relays {
		if len(ct.Relays[i].RecvID) == crypto.IDSize {
			out = append(out, &ct.Relays[i])
		}
	}
	return out
}

// liveRecv returns our mailboxes that the peer holds as its slots, in
// slot order.
func liveRecv(ct *vault.Contact) []*vault.RelayCap {
	var out []*vault.RelayCap
	for _, rc := range recvCaps(ct) {
		if rc.Offer == nil && rc.Retire.IsZero() {
			out = append(out, rc)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Slot < out[j].Slot })
	return out
}

// sendSlots returns the peer's live mailboxes we send every message to,
// in slot order; a mailbox offered by a MOVE is not one until our MOVED
// reached it.
func sendSlots(ct *vault.Contact) []*vault.RelayCap {
	var out []*vault.RelayCap
	for i := range ct.Relays {
		rc := &ct.Relays[i]
		if len(rc.SendID) == crypto.IDSize && rc.Pending == nil {
			out = append(out, rc)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Slot < out[j].Slot })
	return out
}

// pendingSend returns the peer's mailbox offered by its MOVE id.
func pendingSend(ct *vault.Contact, id []byte) *vault.RelayCap {
	for i := range ct.Relays {
		rc := &ct.Relays[i]
		if len(rc.SendID) == crypto.IDSize && rc.Pending != nil && bytes.Equal(rc.Pending, id) {
			return rc
		}
	}
	return nil
}

// offered returns our mailbox offered by our MOVE id.
func offered(ct *vault.Contact, id []byte) *vault.RelayCap {
	for _, rc := range recvCaps(ct) {
		if rc.Offer != nil && bytes.Equal(rc.Offer, id) {
			return rc
		}
	}
	return nil
}

// removeRelays drops every entry of ct.Relays that drop selects.
func removeRelays(ct *vault.Contact, drop func(*vault.RelayCap) bool) {
	keep := ct.Relays[:0]
	for i := range ct.Relays {
		if !drop(&ct.Relays[i]) {
			keep = append(keep, ct.Relays[i])
		}
	}
	ct.Relays = keep
}

// moveRoute is an outbox item's Route for a MOVED to the mailbox that
// MOVE id offered (spec/client.md §7.3).
func moveRoute(id format.MoveID) string { return "move:" + hex.EncodeToString(id[:]) }

// slotRoute is an outbox item's Route for a message to slot s's mailbox
// alone: the FEATURES that follows a MOVED (spec/client.md §7.6).
func slotRoute(s uint8) string { return "slot:" + strconv.Itoa(int(s)) }

// routeSlot returns the slot of a slotRoute.
func routeSlot(route string) (uint8, bool) {
	const p = "slot:"
	if len(route) <= len(p) || route[:len(p)] != p {
		return 0, false
	}
	n, err := strconv.ParseUint(route[len(p):], 10, 8)
	return uint8(n), err == nil
}

// relayHealth tracks, per relay we send to, since when it has been
// failing (by the engine's clock), and which chats were told it is down.
type relayHealth struct {
	mu sync.Mutex
	m  map[string]*relayState
	// last is when a retiring mailbox of ours last delivered a message.
	last map[crypto.ID]time.Time
	// refused holds relay "\x00" chat pairs already warned about.
	refused map[string]bool
}

// refusedOnce reports whether chat is yet to be warned that its peer's
// mailbox on relay refuses for good, and marks it warned.
func (h *relayHealth) refusedOnce(relay, chat string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := relay + "\x00" + chat
	if h.refused[k] {
		return false
	}
	if h.refused == nil {
		h.refused = map[string]bool{}
	}
	h.refused[k] = true
	return true
}

// drainQuiet is how long a retiring mailbox must have delivered nothing
// before it is deleted.
const drainQuiet = time.Minute

// drained notes a delivery from retiring mailbox rid at now.
func (h *relayHealth) drained(rid crypto.ID, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last == nil {
		h.last = map[crypto.ID]time.Time{}
	}
	h.last[rid] = now
}

// quiet reports whether retiring mailbox rid delivered nothing for
// drainQuiet, and forgets it when so.
func (h *relayHealth) quiet(rid crypto.ID, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.last[rid]
	if ok && now.Sub(t) < drainQuiet {
		return false
	}
	delete(h.last, rid)
	return true
}

type relayState struct {
	firstFail time.Time // the start of the current outage
	lastFail  time.Time
	told      map[string]bool // chats that got chat_relay_down
}

// outageGap is how long after the previous failure of a relay a new one
// starts a new outage: longer than any retry interval (retryDelay, at
// most 5 minutes), so a relay that stays down is one outage.
const outageGap = 10 * time.Minute

// failed notes a failed attempt on relay at now. A failure more than
// after or outageGap (whichever is longer) since the previous one starts
// a new outage: two failures hours apart are not one outage of hours.
func (h *relayHealth) failed(relay string, now time.Time, after time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[string]*relayState{}
	}
	s := h.m[relay]
	if s == nil {
		s = &relayState{}
		h.m[relay] = s
	}
	if s.firstFail.IsZero() || now.Sub(s.lastFail) > max(after, outageGap) || now.Before(s.lastFail) {
		s.firstFail = now
	}
	s.lastFail = now
}

// ok notes a success on relay and returns the chats told it was down.
func (h *relayHealth) ok(relay string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.m[relay]
	if s == nil {
		return nil
	}
	delete(h.m, relay)
	var chats []string
	for c := range s.told {
		chats = append(chats, c)
	}
	sort.Strings(chats)
	return chats
}

// downSince returns since when relay has been failing for at least after,
// or the zero time.
func (h *relayHealth) downSince(relay string, now time.Time, after time.Duration) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.m[relay]
	if s == nil || s.firstFail.IsZero() || now.Sub(s.firstFail) < after {
		return time.Time{}
	}
	return s.firstFail
}

// tell reports whether chat is yet to be told that relay is down, and
// marks it told.
func (h *relayHealth) tell(relay, chat string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.m[relay]
	if s == nil || s.told[chat] {
		return false
	}
	if s.told == nil {
		s.told = map[string]bool{}
	}
	s.told[chat] = true
	return true
}
