package client

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
	"veil/vault"
)

// Tuning constants (not protocol).
const (
	defaultDialTimeout = 10 * time.Second
	commandTimeout     = 30 * time.Second // one relay command, reply included
	defaultSweepEvery  = time.Second
	defaultAlarmEvery  = 5 * time.Second
	defaultInviteLife  = 24 * time.Hour
	maxInviteLife      = 7 * 24 * time.Hour // spec/relay.md §11 MaxBlobLife
	alarmLife          = 24 * time.Hour
	maxTTL             = 365 * 24 * time.Hour
)

// Config configures an Engine. Dir and Vault are required; the rest has
// working defaults.
type Config struct {
	// Dir is the vault directory of the profile.
	Dir string
	// Vault are the vault's options (KDF cost, clock, randomness).
	Vault vault.Options
	// SOCKS5 is HOST:PORT of a SOCKS5 proxy (Tor) through which every
	// relay is reached. Empty means the proxy stored in the profile
	// (SetSOCKS5), and direct connections when none is.
	SOCKS5 string
	// TLSConfig is used for veil:// relays; nil is Go's default.
	TLSConfig *tls.Config
	// Events receives what happens; nil discards events. The engine waits
	// while the channel is full, so its reader must keep reading.
	Events chan<- Event
	// Rand and Now are the randomness and the clock (crypto/rand and
	// time.Now when nil).
	Rand io.Reader
	Now  func() time.Time
	// DialTimeout bounds one connection attempt (10 s when zero).
	DialTimeout time.Duration
	// Dial, when set, opens the TCP connections to relays that do not go
	// through the SOCKS5 proxy (tests choose the local address with it).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// SweepEvery is how often Run applies timers (1 s when zero);
	// AlarmEvery how often it checks pending invites for a leak (5 s).
	SweepEvery, AlarmEvery time.Duration
	// GroupPollEvery is how often Run reads every group log even without
	// a notice from the relay (30 s when zero; spec/groups.md §6.2).
	GroupPollEvery time.Duration
	// SlotDownAfter is how long the relay of one of a chat's two
	// mailboxes may fail before its copies are given up (90 s when zero;
	// spec/client.md §7.5).
	SlotDownAfter time.Duration
}

// Engine is one unlocked profile. Close it when done.
type Engine struct {
	cfg  Config
	v    *vault.Vault
	pool *pool
	rcfg ratchet.Config

	flushMu sync.Mutex  // serialises outbox flushes
	groups  sync.Mutex  // serialises group operations (load, move, store)
	rosters rosterCache // parsed rosters stored apart, by vault ID
	proxyMu sync.Mutex  // serialises SetSOCKS5
	holds   readHolds   // group log reads held back after refused replies
	routes  routes      // private routing: forward routes and fallbacks (route.go)
	moveMu  sync.Mutex  // serialises moves, so a chat has one offer at a time
	xfers   transfers   // file transfers running in this process (transfer.go)

	// mu guards the fields below; all but socks5 exist while Run is active.
	mu        sync.Mutex
	running   bool
	outKick   chan struct{}
	relays    map[string]chan struct{} // relay → resubscribe kick
	newRel    chan struct{}
	groupKick chan struct{} // wakes the group loop (group.go)
	socks5    string        // the proxy in use ("" direct)

	health relayHealth // send-side relay failures, for two-relay chats

	// chatRead (tests only) is called inside viewChat's read transaction
	// once the chat is resolved, with its ID.
	chatRead atomic.Pointer[func(chat string)]

	onErase atomic.Pointer[func(chat, msg string)] // see OnLocalErase
}

// CreateOptions is what Create sets on a new profile besides its PIN.
type CreateOptions struct {
	// DuressPIN, when not nil, becomes the profile's duress PIN with
	// DuressMode (zero: DuressDecoy). The caller keeps and wipes it.
	DuressPIN  []byte
	DuressMode DuressMode
}

// Create makes a new profile in cfg.Dir protected by pin, with the duress
// PIN of opts if it has one. A duress PIN that is too short or equal to pin
// is refused with the vault's reason before anything is written. The key
// file is written once, with the duress slot already in it, so no copy of
// it without that slot is left on the disk (spec/vault.md §3.8).
func Create(ctx context.Context, cfg Config, pin []byte, opts CreateOptions) (*Engine, error) {
	v, err := vault.CreateWithDuress(ctx, cfg.Dir, pin, opts.DuressPIN, opts.DuressMode, &cfg.Vault)
	if err != nil {
		return nil, err
	}
	return newEngine(ctx, cfg, v)
}

// Open unlocks the profile in cfg.Dir with pin (a duress PIN opens a fresh,
// empty profile: see vault.Open) and applies the timers that ran out while
// it was closed.
func Open(ctx context.Context, cfg Config, pin []byte) (*Engine, error) {
	v, err := vault.Open(ctx, cfg.Dir, pin, &cfg.Vault)
	if err != nil {
		return nil, err
	}
	return newEngine(ctx, cfg, v)
}

func newEngine(ctx context.Context, cfg Config, v *vault.Vault) (*Engine, error) {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = defaultDialTimeout
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = defaultSweepEvery
	}
	if cfg.AlarmEvery <= 0 {
		cfg.AlarmEvery = defaultAlarmEvery
	}
	if cfg.GroupPollEvery <= 0 {
		cfg.GroupPollEvery = defaultGroupPollEvery
	}
	if cfg.SlotDownAfter <= 0 {
		cfg.SlotDownAfter = SlotDownAfter
	}
	e := &Engine{cfg: cfg, v: v, rcfg: ratchet.Config{Rand: cfg.Rand, Now: cfg.Now}, socks5: cfg.SOCKS5}
	e.holds.now = e.now
	if e.socks5 == "" {
		addr, err := storedSOCKS5(ctx, v)
		if err != nil {
			v.Lock()
			return nil, err
		}
		e.socks5 = addr
	}
	p, err := newPool(cfg, e.socks5)
	if err != nil {
		v.Lock()
		return nil, err
	}
	e.pool = p
	if err := e.applyRestoreMark(ctx); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.resumeResets(ctx); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.Sweep(ctx); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Halt cuts the engine off the network at once, for an erase: every
// relay connection closes, running transfers stop, and nothing more is
// sent, not even by an outbox flush already under way (its remaining
// items fail as if the relays were down). Only commands already written
// to a connection may still reach their relay. Close must still be
// called; the engine is of no use in between.
func (e *Engine) Halt() {
	e.closeTransfers()
	e.pool.close()
}

// Close closes every relay connection and locks the vault.
func (e *Engine) Close() error {
	// Running transfers hold file keys and open blobs: they end before
	// the vault locks, and none starts after.
	xs := e.closeTransfers()
	e.pool.close()
	for _, x := range xs {
		<-x.done
	}
	return e.v.Lock()
}

func (e *Engine) now() time.Time {
	if e.cfg.Now != nil {
		return e.cfg.Now()
	}
	return time.Now()
}

func (e *Engine) random(b []byte) error {
	return crypto.RandomBytes(e.cfg.Rand, b)
}

// newID returns a fresh time-ordered local ID: 16 hex digits of the clock
// in nanoseconds, then 16 random hex digits (spec/client.md §6).
func (e *Engine) newID() (string, error) {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(e.now().UnixNano()))
	if err := e.random(b[8:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// shortID returns a short random ID for chats.
func (e *Engine) shortID() (string, error) {
	var b [6]byte
	if err := e.random(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// outgoingWireID returns the wire ID behind a local outgoing message ID.
func outgoingWireID(id string) (format.WireID, bool) {
	var w format.WireID
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != format.WireIDSize {
		return w, false
	}
	copy(w[:], b)
	return w, true
}

// incomingID returns the local ID of an incoming message: the receive time,
// a dash, and the sender's wire ID (spec/client.md §6).
func (e *Engine) incomingID(w format.WireID) string {
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(e.now().UnixNano()))
	return hex.EncodeToString(t[:]) + "-" + hex.EncodeToString(w[:])
}

// Initialized reports whether the profile has been set up (init). A fresh
// vault, including the decoy a duress PIN opens, has not.
func (e *Engine) Initialized(ctx context.Context) (bool, error) {
	ok := false
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		_, err := tx.Profile()
		if errors.Is(err, vault.ErrNotFound) {
			return nil
		}
		ok = err == nil
		return err
	})
	return ok, err
}

// Setup stores a new profile with its default relay (empty: none yet).
func (e *Engine) Setup(ctx context.Context, defaultRelay string) error {
	return e.v.Update(ctx, func(tx *vault.Tx) error {
		p, err := profile(tx)
		if err != nil {
			return err
		}
		p.Created = e.now()
		if p.Name == "" {
			p.Name = "anon"
		}
		if err := tx.PutProfile(&p); err != nil {
			return err
		}
		if defaultRelay != "" {
			return addRelay(tx, defaultRelay, true)
		}
		return nil
	})
}

// ratchetOf parses a contact's session.
func (e *Engine) ratchetOf(ct *vault.Contact) (*ratchet.Session, error) {
	if len(ct.Ratchet) == 0 {
		return nil, ErrNotJoined
	}
	s, err := ratchet.ParseSession(e.rcfg, ct.Ratchet)
	if err != nil {
		return nil, fmt.Errorf("client: stored session: %w", err)
	}
	return s, nil
}

// recvCap and sendCap find a contact's receiving mailbox of slot 0 (or
// the first live one) and the peer's mailbox we send to first
// (spec/client.md §11). A chat on two relays has more: see recvCaps and
// sendSlots.
func recvCap(ct *vault.Contact) *vault.RelayCap {
	if rs := liveRecv(ct); len(rs) > 0 {
		return rs[0]
	}
	return nil
}

func sendCap(ct *vault.Contact) *vault.RelayCap {
	if ss := sendSlots(ct); len(ss) > 0 {
		return ss[0]
	}
	return nil
}
