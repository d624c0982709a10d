// Package relay is veil's blind store-and-forward server (spec/relay.md):
// it accepts WebSocket connections, runs the relay side of the hello and
// the inner transport layer, authorises mailbox, blob and log commands,
// enforces the limits of spec/relay.md §11 and delivers messages to the
// one live subscriber of each mailbox.
//
// The server is split by concern: config.go (limits and defaults),
// identity.go (the long-term key), server.go (listeners, shutdown),
// session.go (one connection: hello, reader, batching writer),
// commands.go (one function per command), delivery.go (subscriptions),
// abuse.go (per-connection and per-address limits), metrics.go.
package relay

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"veil/crypto"
	"veil/relay/store"
	"veil/relay/wire"
)

// Limits are the tunable limits of spec/relay.md §11. Zero fields take
// the defaults of DefaultLimits.
type Limits struct {
	MessageTTL  time.Duration // how long an unread message lives
	MailboxIdle time.Duration // a mailbox without commands this long is deleted
	MaxBlobLife time.Duration // the longest PUT lifetime
	MaxLogTTL   time.Duration // the longest LNEW TTL
	MaxPending  int           // messages waiting per mailbox
	MaxSubs     int           // subscriptions per connection
	MaxLogSubs  int           // log subscriptions per connection
	Window      int           // unacknowledged MSGs per subscription
	InFlight    int           // commands executing per connection
	Rate        float64       // commands per second per connection
	Burst       int           // rate-limit burst
	MaxStorage  int64         // bytes (Store.Size) above which writes fail

	// Chunks (§7.7, §11).
	MaxChunkLife time.Duration // the longest CPUT lifetime
	ChunkStorage int64         // bytes of chunk bodies above which CPUT fails; default MaxStorage/2
	ChunkRate    float64       // chunk commands per second per connection, a bucket of their own; burst as many

	HandshakeTimeout time.Duration // for the HTTP request headers, and again for the client hello (§4.5)
	DrainTimeout     time.Duration // how long SIGTERM waits for commands
	ExpireEvery      time.Duration // how often Store.Expire runs
	WriteTimeout     time.Duration // for one block write

	// Forwarding (§7.6, §11).
	MaxRoutes       int           // forwarding routes per client connection
	MaxForwardDests int           // destination relays a forwarder keeps state for
	ForwardIdle     time.Duration // an unused relay-to-relay connection is closed after this
	MaxR2RConns     int           // relay-to-relay connections per destination
	MaxR2RTotal     int           // relay-to-relay connections to all destinations
	ForwardInFlight int           // FWDs waiting for their destination, per destination
	ForwardTimeout  time.Duration // for dialling a destination, and for its reply
	// ForwardDestsPerMinute is how many destinations one client
	// connection may name in FKEY per minute (those it holds a route
	// for aside).
	ForwardDestsPerMinute int

	// Abuse limits (§11, abuse.go). A negative value means no limit.
	// Storage budgets: what one connection (Conn*) and one source
	// address, an IPv4 address or an IPv6 /64 (Addr*), may create and
	// store; a charge drains away evenly over QuotaPeriod. Over a
	// budget: QUOTA.
	ConnMailboxes int   // NEWs per connection
	ConnLogs      int   // LNEWs per connection
	ConnBlobs     int   // PUTs per connection
	ConnBytes     int64 // bytes of SEND, PUT and LAPPEND bodies per connection; default MaxStorage/40
	AddrMailboxes int   // NEWs per address
	AddrLogs      int   // LNEWs per address
	AddrBlobs     int   // PUTs per address
	AddrBytes     int64 // bytes of SEND, PUT and LAPPEND bodies per address; default MaxStorage/5
	QuotaPeriod   time.Duration
	// Creation rates of NEW, LNEW and PUT together; over: RATE.
	CreateRate      float64 // per second per connection
	CreateBurst     int
	AddrCreateRate  float64 // per second per address
	AddrCreateBurst int
	// MaxConnsPerAddr is how many connections one address may hold; one
	// more is refused before the WebSocket upgrade (HTTP 429).
	MaxConnsPerAddr int
	// MaxTrackedAddrs bounds the per-address table; addresses beyond it
	// share one entry.
	MaxTrackedAddrs int
}

// NoAbuseLimits returns l with every abuse limit off: for load tests and
// benchmarks that open many connections from one address.
func NoAbuseLimits(l Limits) Limits {
	l.ConnMailboxes, l.ConnLogs, l.ConnBlobs, l.ConnBytes = -1, -1, -1, -1
	l.AddrMailboxes, l.AddrLogs, l.AddrBlobs, l.AddrBytes = -1, -1, -1, -1
	l.CreateRate, l.AddrCreateRate, l.MaxConnsPerAddr = -1, -1, -1
	return l
}

// DefaultLimits are the defaults of spec/relay.md §11.
var DefaultLimits = Limits{
	MessageTTL:       21 * 24 * time.Hour,
	MailboxIdle:      90 * 24 * time.Hour,
	MaxBlobLife:      7 * 24 * time.Hour,
	MaxLogTTL:        30 * 24 * time.Hour,
	MaxPending:       1000,
	MaxSubs:          1000,
	MaxLogSubs:       1000,
	Window:           128,
	InFlight:         256,
	Rate:             2000,
	Burst:            4000,
	MaxStorage:       10 << 30,
	MaxChunkLife:     7 * 24 * time.Hour,
	ChunkRate:        8000,
	HandshakeTimeout: 10 * time.Second,
	DrainTimeout:     10 * time.Second,
	ExpireEvery:      time.Minute,
	WriteTimeout:     30 * time.Second,
	MaxRoutes:        64,
	MaxForwardDests:  1000,
	ForwardIdle:      2 * time.Minute,
	MaxR2RConns:      16,
	MaxR2RTotal:      1024,
	ForwardInFlight:  4096,
	ForwardTimeout:   10 * time.Second,

	ForwardDestsPerMinute: 16,

	ConnMailboxes:   1000,
	ConnLogs:        1000,
	ConnBlobs:       1000,
	AddrMailboxes:   10000,
	AddrLogs:        10000,
	AddrBlobs:       10000,
	QuotaPeriod:     24 * time.Hour,
	CreateRate:      20,
	CreateBurst:     200,
	AddrCreateRate:  200,
	AddrCreateBurst: 2000,
	MaxConnsPerAddr: 256,
	MaxTrackedAddrs: 1 << 20,
}

// maxQueuedPush bounds the bytes of MSGs queued for one connection's
// writer; delivery pauses above it (backpressure on a slow reader).
const maxQueuedPush = 1 << 20

// maxQueuedReplies bounds the bytes of all frames queued for one
// connection's writer: above it a command keeps its in-flight token until
// the writer catches up, and the reader reads no further block, so a
// client that stops reading stops being served (spec/relay.md §11).
const maxQueuedReplies = 4 << 20

// queuedFrameCost is what one queued frame is counted as besides its
// body: the Frame value and its slice headers.
const queuedFrameCost = 256

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	pick := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	pick(&l.MessageTTL, d.MessageTTL)
	pick(&l.MailboxIdle, d.MailboxIdle)
	pick(&l.MaxBlobLife, d.MaxBlobLife)
	pick(&l.MaxLogTTL, d.MaxLogTTL)
	pick(&l.MaxChunkLife, d.MaxChunkLife)
	pick(&l.HandshakeTimeout, d.HandshakeTimeout)
	pick(&l.DrainTimeout, d.DrainTimeout)
	pick(&l.ExpireEvery, d.ExpireEvery)
	pick(&l.WriteTimeout, d.WriteTimeout)
	pick(&l.ForwardIdle, d.ForwardIdle)
	pick(&l.ForwardTimeout, d.ForwardTimeout)
	pick(&l.QuotaPeriod, d.QuotaPeriod)
	for _, p := range []struct {
		v   *int
		def int
	}{
		{&l.MaxPending, d.MaxPending}, {&l.MaxSubs, d.MaxSubs}, {&l.MaxLogSubs, d.MaxLogSubs}, {&l.Window, d.Window},
		{&l.InFlight, d.InFlight}, {&l.Burst, d.Burst},
		{&l.MaxRoutes, d.MaxRoutes}, {&l.MaxForwardDests, d.MaxForwardDests}, {&l.MaxR2RConns, d.MaxR2RConns}, {&l.MaxR2RTotal, d.MaxR2RTotal},
		{&l.ForwardInFlight, d.ForwardInFlight}, {&l.ForwardDestsPerMinute, d.ForwardDestsPerMinute},
		{&l.MaxTrackedAddrs, d.MaxTrackedAddrs},
	} {
		if *p.v <= 0 {
			*p.v = p.def
		}
	}
	if l.Rate <= 0 {
		l.Rate = d.Rate
	}
	if l.MaxStorage <= 0 {
		l.MaxStorage = d.MaxStorage
	}
	if l.ChunkStorage <= 0 {
		l.ChunkStorage = l.MaxStorage / 2
	}
	l.ChunkStorage = min(l.ChunkStorage, l.MaxStorage)
	if l.ChunkRate <= 0 {
		l.ChunkRate = d.ChunkRate
	}
	// Abuse limits: zero takes the default, negative stays (no limit).
	for _, p := range []struct {
		v   *int
		def int
	}{
		{&l.ConnMailboxes, d.ConnMailboxes}, {&l.ConnLogs, d.ConnLogs}, {&l.ConnBlobs, d.ConnBlobs},
		{&l.AddrMailboxes, d.AddrMailboxes}, {&l.AddrLogs, d.AddrLogs}, {&l.AddrBlobs, d.AddrBlobs},
		{&l.CreateBurst, d.CreateBurst}, {&l.AddrCreateBurst, d.AddrCreateBurst}, {&l.MaxConnsPerAddr, d.MaxConnsPerAddr},
	} {
		if *p.v == 0 {
			*p.v = p.def
		}
	}
	if l.ConnBytes == 0 {
		l.ConnBytes = max(l.MaxStorage/40, 1)
	}
	if l.AddrBytes == 0 {
		l.AddrBytes = max(l.MaxStorage/5, 1)
	}
	if l.CreateRate == 0 {
		l.CreateRate = d.CreateRate
	}
	if l.AddrCreateRate == 0 {
		l.AddrCreateRate = d.AddrCreateRate
	}
	return l
}

// Config configures a Server.
type Config struct {
	// Store holds everything; the server does not close it.
	Store store.Store
	// Identity is the relay's long-term key (see LoadOrCreateIdentity).
	Identity crypto.SignPrivate
	// Password, when not empty, is required by NEW and LNEW (§7.2), and
	// by FKEY when Forward is ForwardPassword. It must be kept secret.
	Password []byte
	// Forward says who may use this relay as a forwarder (§7.6); the
	// zero value is ForwardAuto.
	Forward ForwardMode
	// ForwardPrivate lets the relay forward to destinations that are not
	// public addresses (loopback, private, link-local, CGNAT and the
	// like, §7.6.2): for a relay on a private network whose destinations
	// are there too. False refuses them with UNREACHABLE.
	ForwardPrivate bool
	// Limits; zero fields take DefaultLimits.
	Limits Limits
	// Logger receives operational logs only (never an address, an ID or
	// message bytes). Nil discards them.
	Logger *slog.Logger
	// Registerer receives the server's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock (time.Now when nil); Rand the randomness for
	// nonces, ephemeral keys and IDs (crypto/rand when nil).
	Now  func() time.Time
	Rand io.Reader
	// Suites is what the relay offers in its hello (§4.1); zero means
	// wire.DefaultOffer() (tests set one suite to check both).
	Suites wire.Offer
	// Observer, when set, sees every connection and every command
	// (tests that measure what a relay learns, spec/relay.md §9). Nil in
	// production.
	Observer Observer
	// DialR2R, when set, opens the TCP connections this relay makes to
	// other relays when it forwards (§7.6), to an IP address and port;
	// net.Dialer otherwise. Tests use it to give those connections a
	// local address of their own.
	DialR2R func(ctx context.Context, network, addr string) (net.Conn, error)
	// ResolveR2R, when set, resolves the host names of destination
	// relays (§7.6.2); net.DefaultResolver otherwise. The relay checks
	// the addresses it returns and dials them, never the name.
	ResolveR2R func(ctx context.Context, host string) ([]netip.Addr, error)
	// NoDestination answers FKEY without a destination and RFWD with
	// UNKNOWN, as a relay older than forwarding does (§7.6). Tests only:
	// they need such a relay as a destination.
	NoDestination bool
	// NoChunks answers the chunk commands (§7.7) with UNKNOWN, as a
	// relay older than file attachments does. Tests only: clients must
	// cope with such a relay.
	NoChunks bool
	// NoPutPassword handles PUT as a relay older than its password field
	// does (§7.2): a long-form PUT is BAD_SIZE, and a short one needs no
	// password even when the relay has one. Tests only: clients must
	// cope with such a relay.
	NoPutPassword bool
}

// Observer sees what the relay sees. Its methods are called on the
// connection's goroutines, concurrently, and must return quickly.
type Observer interface {
	// Conn is called once when connection id opens, with the remote
	// address the relay sees (zero when it cannot tell).
	Conn(id uint64, remote netip.AddrPort)
	// Item is called once per command connection id sent, before its
	// reply is queued (a SEND or ACK on a store that writes
	// asynchronously is reported on the connection's reader when it
	// starts, so that the store's writer never waits for the Observer): typ is its item type, ids the mailbox, sender,
	// blob and log IDs it named or the reply returned, size the length of
	// its body (0 for none), t the relay's clock. An RFWD is reported
	// twice: once as RFWD (no IDs) and once as the command it carried,
	// when that opened.
	Item(id uint64, typ byte, ids [][24]byte, size int, t time.Time)
}

// ForwardMode says who may use a relay as a forwarder (spec/relay.md
// §7.6). Every mode keeps the relay a destination: FKEY without a
// destination and RFWD are always served.
type ForwardMode int

const (
	// ForwardAuto is ForwardPassword when the relay has a password and
	// ForwardOpen otherwise.
	ForwardAuto ForwardMode = iota
	// ForwardOpen forwards for anyone.
	ForwardOpen
	// ForwardPassword forwards for clients that send the relay's
	// password in FKEY.
	ForwardPassword
	// ForwardOff answers FKEY naming a destination, and FWD, with
	// UNKNOWN, as a relay without forwarding does.
	ForwardOff
)

// ParseForwardMode parses "open", "password", "off" or "auto".
func ParseForwardMode(s string) (ForwardMode, error) {
	switch s {
	case "auto", "":
		return ForwardAuto, nil
	case "open":
		return ForwardOpen, nil
	case "password":
		return ForwardPassword, nil
	case "off":
		return ForwardOff, nil
	}
	return 0, errors.New("relay: forwarding mode must be open, password, off or auto")
}

func (c *Config) check() error {
	if c.Forward == ForwardPassword && len(c.Password) == 0 {
		return errors.New("relay: forwarding by password needs a relay password")
	}
	if c.Forward < ForwardAuto || c.Forward > ForwardOff {
		return errors.New("relay: unknown forwarding mode")
	}
	if c.Store == nil {
		return errors.New("relay: config has no store")
	}
	if !c.Identity.Valid() {
		return errors.New("relay: config has no identity key")
	}
	if c.Suites&^wire.Known != 0 {
		return errors.New("relay: config offers a transport suite this relay does not speak")
	}
	return nil
}
