package relaytest

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"veil/relay"
	"veil/relay/wire"
)

// Recorder is a relay.Observer that keeps everything it is told, for
// tests that assert what a relay learns. It is safe for concurrent use.
type Recorder struct {
	mu    sync.Mutex // guards the fields below
	conns map[uint64]netip.AddrPort
	items []Item
}

var _ relay.Observer = (*Recorder)(nil)

// Item is one command a relay handled (relay.Observer.Item).
type Item struct {
	Conn uint64
	Type wire.Type
	IDs  [][24]byte
	Size int
	Time time.Time
}

// Conn records a connection.
func (r *Recorder) Conn(id uint64, remote netip.AddrPort) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		r.conns = map[uint64]netip.AddrPort{}
	}
	r.conns[id] = remote
}

// Item records a command.
func (r *Recorder) Item(id uint64, typ byte, ids [][24]byte, size int, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, Item{Conn: id, Type: wire.Type(typ), IDs: slices.Clone(ids), Size: size, Time: t})
}

// Remote returns the remote address of connection id.
func (r *Recorder) Remote(id uint64) netip.AddrPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[id]
}

// Conns returns every connection recorded so far, by ID.
func (r *Recorder) Conns() map[uint64]netip.AddrPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[uint64]netip.AddrPort, len(r.conns))
	for k, v := range r.conns {
		m[k] = v
	}
	return m
}

// Items returns every command recorded so far, in the order reported.
func (r *Recorder) Items() []Item {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.items)
}
