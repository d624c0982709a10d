package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"veil/crypto"
	"veil/relay/store"
	"veil/relay/wire"
)

// Server is a relay. Create it with New, serve with Serve.
type Server struct {
	store      store.Store
	async      store.AsyncWriter // the store, when it writes asynchronously: SEND and ACK wait on no goroutine
	chunks     store.ChunkStore  // nil with Config.NoChunks: chunk commands are UNKNOWN
	identity   crypto.SignPrivate
	offer      wire.Offer // suites of the hello (§4.1)
	password   []byte
	chunkPW    [wire.CapSize]byte // wire.ChunkPassword(password), which CPUT and CROOM carry
	limits     Limits
	log        *slog.Logger
	now        func() time.Time
	rand       io.Reader
	metrics    *metrics
	observer   Observer
	dialR2R    func(ctx context.Context, network, addr string) (net.Conn, error)
	resolveR2R func(ctx context.Context, host string) ([]netip.Addr, error)
	fwdPrivate bool          // forward to destinations that are not public (Config.ForwardPrivate)
	noDest     bool          // Config.NoDestination
	connIDs    atomic.Uint64 // Observer's connection IDs
	fwdMode    ForwardMode
	fwd        forwarder
	fwdSeen    replayCache // ephemeral keys of accepted forwarded items (§7.6.4)
	fkMu       sync.Mutex  // guards fkeys
	fkeys      [2]periodKey
	abuse      *abuse // per-address limits (abuse.go)

	noPutPassword bool // Config.NoPutPassword

	draining atomic.Bool
	blocks   sync.Pool // of *blockBuf, held only while a block is read or written

	mu       sync.Mutex // guards sessions and subs
	sessions map[*session]struct{}
	subs     map[crypto.ID]*subscription // the live subscriber of each mailbox on this node
	idle     *sync.Cond                  // signalled when sessions shrinks

	logMu   sync.Mutex                         // guards logSubs
	logSubs map[crypto.ID]map[*logSub]struct{} // the log subscribers on this node, by log
}

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s := &Server{
		store:      cfg.Store,
		chunks:     chunkStore(cfg),
		identity:   cfg.Identity,
		offer:      cfg.Suites,
		password:   append([]byte(nil), cfg.Password...),
		chunkPW:    wire.ChunkPassword(wire.FingerprintOf(cfg.Identity.Public()), cfg.Password),
		limits:     cfg.Limits.withDefaults(),
		log:        cfg.Logger,
		now:        cfg.Now,
		rand:       cfg.Rand,
		observer:   cfg.Observer,
		dialR2R:    cfg.DialR2R,
		resolveR2R: cfg.ResolveR2R,
		fwdPrivate: cfg.ForwardPrivate,
		noDest:     cfg.NoDestination,
		fwdMode:    cfg.Forward,
		sessions:   map[*session]struct{}{},
		subs:       map[crypto.ID]*subscription{},
		logSubs:    map[crypto.ID]map[*logSub]struct{}{},
	}
	s.noPutPassword = cfg.NoPutPassword
	s.async, _ = cfg.Store.(store.AsyncWriter)
	if s.offer == 0 {
		s.offer = wire.DefaultOffer()
	}
	s.idle = sync.NewCond(&s.mu)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.abuse = newAbuse(&s.limits, s.now)
	var err error
	if s.metrics, err = newMetrics(cfg.Registerer, cfg.Store.ChunkBytes); err != nil {
		return nil, err
	}
	return s, nil
}

// Fingerprint returns the relay's fingerprint (spec/relay.md §3.1).
func (s *Server) Fingerprint() wire.Fingerprint { return wire.FingerprintOf(s.identity.Public()) }

// Address returns the relay address for host:port (§3.2).
func (s *Server) Address(host string, port uint16, useTLS bool) wire.Address {
	return wire.Address{TLS: useTLS, Host: host, Port: port, Fingerprint: s.Fingerprint()}
}

// Handler returns the relay's HTTP handler: the WebSocket endpoint /v1
// and /healthz (§2.1, §12).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1", s.serveWS)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	return mux
}

// Serve accepts connections on ln (TLS when tlsConfig is not nil) until
// ctx is done, then drains: it stops accepting, answers new commands with
// SHUTDOWN, lets commands in progress finish for up to
// Limits.DrainTimeout, closes every connection (4003) and returns. It
// also runs the periodic expiry. The caller closes the store afterwards.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tlsConfig *tls.Config) error {
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.limits.HandshakeTimeout, // §11: the same bound as the hello
		ErrorLog:          log.New(httpErrorLog{s.log}, "", 0),
	}
	var wg sync.WaitGroup
	expCtx, stopExpire := context.WithCancel(context.Background())
	wg.Add(1)
	go func() { // owned by Serve; stops with stopExpire
		defer wg.Done()
		s.expireLoop(expCtx)
	}()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }() // owned by Serve; stops with hs.Shutdown
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.log.Info("relay: draining")
	s.draining.Store(true)
	shutCtx, cancel := context.WithTimeout(context.Background(), s.limits.DrainTimeout)
	defer cancel()
	hs.Shutdown(shutCtx)
	if err == nil {
		<-errc
	}
	s.Drain(shutCtx)
	s.fwd.closeAll()
	stopExpire()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("relay: serve: %w", err)
	}
	s.log.Info("relay: stopped")
	return nil
}

// Drain ends every session: commands in progress finish and their replies
// are written (until ctx is done), then each connection is closed with
// code 4003. New commands meanwhile get SHUTDOWN. It returns when every
// session has ended.
func (s *Server) Drain(ctx context.Context) {
	s.draining.Store(true)
	s.mu.Lock()
	list := make([]*session, 0, len(s.sessions))
	for c := range s.sessions {
		list = append(list, c)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range list {
		wg.Add(1)
		go func() { // owned by Drain, which waits for it
			defer wg.Done()
			c.drain(ctx)
		}()
	}
	wg.Wait()
	s.mu.Lock()
	for len(s.sessions) > 0 {
		s.idle.Wait()
	}
	s.mu.Unlock()
}

// expireLoop runs Store.Expire every ExpireEvery until ctx is done.
func (s *Server) expireLoop(ctx context.Context) {
	t := time.NewTicker(s.limits.ExpireEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.ExpireNow(ctx)
		}
	}
}

// ExpireNow runs one expiry pass (messages, blobs, log entries, idle
// mailboxes, idle relay-to-relay connections) with the server's clock.
func (s *Server) ExpireNow(ctx context.Context) error {
	now := s.now()
	s.fwd.sweep(now, s.limits.ForwardIdle)
	s.abuse.sweep(now)
	err := s.store.Expire(ctx, now, now.Add(-s.limits.MailboxIdle))
	if err != nil {
		s.log.Warn("relay: expiry failed", "err", err)
	}
	return err
}

func (s *Server) addSession(c *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.sessions[c] = struct{}{}
	s.metrics.conns.Inc()
	return true
}

func (s *Server) removeSession(c *session) {
	s.mu.Lock()
	delete(s.sessions, c)
	s.idle.Broadcast()
	s.mu.Unlock()
	s.metrics.conns.Dec()
	s.abuse.disconnect(c.peer)
}

func (s *Server) newLimiter() *rate.Limiter {
	return rate.NewLimiter(rate.Limit(s.limits.Rate), s.limits.Burst)
}

// newChunkLimiter is the bucket of a connection's chunk commands (§11):
// bulk transfers neither draw from nor are held by the general one.
func (s *Server) newChunkLimiter() *rate.Limiter {
	return rate.NewLimiter(rate.Limit(s.limits.ChunkRate), max(1, int(s.limits.ChunkRate)))
}

func chunkStore(cfg Config) store.ChunkStore {
	if cfg.NoChunks {
		return nil
	}
	return cfg.Store
}
