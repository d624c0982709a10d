package client

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/proxy"

	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
	"veil/vault"
)

// role says what a pooled connection is for (spec/client.md §7.1). A
// relay never sees our own mailboxes and the ones we write to on the same
// connection: they would be linked at once.
type role uint8

const (
	// roleRecv: SUB/ACK/OFF/NEW/DEL on our own mailboxes, LNEW/LREAD/LSUB
	// on our own logs.
	roleRecv role = iota
	// roleSend: SEND/SKEY/TAKE/PUT to others' mailboxes, LAPPEND.
	roleSend
	// roleFwd: the connection to the forwarding relay.
	roleFwd
	// roleXfer: CPUT/CGET/CDEL/CROOM, a file's chunks (spec/client.md
	// §5.12), on either side's relays.
	roleXfer
)

func (r role) String() string {
	switch r {
	case roleSend:
		return "send"
	case roleFwd:
		return "fwd"
	case roleXfer:
		return "xfer"
	}
	return "recv"
}

// connKey names one pooled connection: the relay, the role and, through a
// SOCKS5 proxy, the chat it is isolated for ("" otherwise).
type connKey struct {
	addr string
	role role
	iso  string
}

// idleClose is how long an unused send or forward connection stays open.
// Tuning, not protocol.
const idleClose = 60 * time.Second

// pool keeps the relay connections, one per connKey (spec/client.md §7.1).
type pool struct {
	timeout time.Duration
	tls     *tls.Config
	runKey  [32]byte      // per engine start: derives the SOCKS5 credentials
	idle    time.Duration // idleClose (tests shorten it)

	mu     sync.Mutex // guards opts, socks5, m
	opts   conn.Options
	socks5 string
	m      map[connKey]*poolEntry
}

type poolEntry struct {
	mu   sync.Mutex // guards c; held while dialling
	c    *conn.Conn
	idle *time.Timer // closes an unused send or forward connection
}

func newPool(cfg Config, socks5 string) (*pool, error) {
	p := &pool{timeout: cfg.DialTimeout, tls: cfg.TLSConfig, idle: idleClose, m: map[connKey]*poolEntry{}, socks5: socks5}
	if err := crypto.RandomBytes(cfg.Rand, p.runKey[:]); err != nil {
		return nil, err
	}
	p.opts.Rand = cfg.Rand
	p.opts.TLSConfig = cfg.TLSConfig
	p.opts.Dial = cfg.Dial
	return p, nil
}

// socksAuth is the SOCKS5 credential of k: Tor (IsolateSOCKSAuth, its
// default) gives every distinct credential its own circuit, so each chat's
// sends leave through their own exit and the relay cannot link them by
// address. The password is keyed with the run key: it names nothing the
// proxy could read.
func (p *pool) socksAuth(k connKey) *proxy.Auth {
	mac := crypto.MAC(p.runKey[:], []byte{byte(k.role)}, []byte(k.addr), []byte{0}, []byte(k.iso))
	return &proxy.Auth{User: "veil", Password: hex.EncodeToString(mac[:])}
}

// socksClient returns the HTTP client that reaches relays through the
// SOCKS5 proxy at addr with the credential auth, or nil for direct
// connections when addr is "".
func socksClient(addr string, auth *proxy.Auth, tlsCfg *tls.Config) (*http.Client, error) {
	if addr == "" {
		return nil, nil
	}
	d, err := proxy.SOCKS5("tcp", addr, auth, proxy.Direct)
	if err != nil {
		return nil, fmt.Errorf("client: socks5 proxy: %w", err)
	}
	cd, ok := d.(proxy.ContextDialer)
	if !ok {
		return nil, errors.New("client: socks5 dialer does not take a context")
	}
	// The proxy resolves host names itself, so onion addresses work
	// and no DNS query leaves this machine.
	return &http.Client{Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return cd.DialContext(ctx, network, addr)
		},
		TLSClientConfig: tlsCfg,
	}}, nil
}

// setProxy makes new connections go through the SOCKS5 proxy at addr
// ("" direct) and closes the open ones, so every relay is reached through
// it from now on (the receive loops reconnect).
func (p *pool) setProxy(addr string) error {
	p.mu.Lock()
	p.socks5 = addr
	entries := make([]*poolEntry, 0, len(p.m))
	for _, en := range p.m {
		entries = append(entries, en)
	}
	p.mu.Unlock()
	// A dial in progress holds en.mu and used the old options: waiting
	// for it and closing what it made leaves no connection of the old way.
	for _, en := range entries {
		en.mu.Lock()
		if en.c != nil {
			en.c.Close()
			en.c = nil
		}
		en.mu.Unlock()
	}
	return nil
}

// get returns a live receiving connection to addr (roleRecv).
func (p *pool) get(ctx context.Context, addr string) (*conn.Conn, error) {
	return p.conn(ctx, connKey{addr: addr})
}

// conn returns a live connection for k, dialling one if needed. conn.Dial
// checks the relay's fingerprint on every connection (spec/relay.md §3.3).
// Direct connections are not isolated per chat: k.iso only counts through
// a proxy, where it chooses the circuit.
func (p *pool) conn(ctx context.Context, k connKey) (*conn.Conn, error) {
	p.mu.Lock()
	if p.m == nil {
		p.mu.Unlock()
		return nil, conn.ErrClosed
	}
	if p.socks5 == "" || k.role == roleRecv {
		k.iso = ""
	}
	en := p.m[k]
	if en == nil {
		en = &poolEntry{}
		p.m[k] = en
	}
	opts, socks5 := p.opts, p.socks5
	p.mu.Unlock()
	en.mu.Lock()
	defer en.mu.Unlock()
	if en.idle != nil {
		en.idle.Reset(p.idle)
	}
	if en.c != nil {
		select {
		case <-en.c.Done():
			en.c.Close()
			en.c = nil
		default:
			return en.c, nil
		}
	}
	hc, err := socksClient(socks5, p.socksAuth(k), p.tls)
	if err != nil {
		return nil, err
	}
	if hc != nil {
		opts.HTTPClient, opts.Dial = hc, nil
	}
	dctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	c, err := conn.Dial(dctx, k.addr, &opts)
	if err != nil {
		return nil, &RelayError{Relay: shortRelay(k.addr), Err: err}
	}
	en.c = c
	if k.role != roleRecv && en.idle == nil {
		en.idle = time.AfterFunc(p.idle, func() { p.closeIdle(en) }) // ends with the pool: close stops it
	}
	return c, nil
}

// closeIdle closes en's connection after idleClose without use. A command
// in flight on it fails like any dropped connection and is retried.
func (p *pool) closeIdle(en *poolEntry) {
	en.mu.Lock()
	c := en.c
	en.c = nil
	en.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// drop closes c, one of the pool's connections to addr (after a failed
// command).
func (p *pool) drop(addr string, c *conn.Conn) {
	p.mu.Lock()
	var ens []*poolEntry
	for k, en := range p.m {
		if k.addr == addr {
			ens = append(ens, en)
		}
	}
	p.mu.Unlock()
	for _, en := range ens {
		en.mu.Lock()
		if en.c == c {
			en.c = nil
		}
		en.mu.Unlock()
	}
	c.Close()
}

func (p *pool) close() {
	p.mu.Lock()
	m := p.m
	p.m = nil
	p.mu.Unlock()
	for _, en := range m {
		en.mu.Lock()
		if en.idle != nil {
			en.idle.Stop()
		}
		if en.c != nil {
			en.c.Close()
			en.c = nil
		}
		en.mu.Unlock()
	}
}

// shortRelay returns host:port of a relay address, for messages.
func shortRelay(addr string) string {
	if a, err := wire.ParseAddress(addr); err == nil {
		return net.JoinHostPort(a.Host, fmt.Sprint(a.Port))
	}
	return "(bad address)"
}

// isConnErr reports whether err is a connection failure rather than a
// relay's answer (an error code, or a reply the connection refused), so the
// next command needs a new connection.
func isConnErr(err error) bool {
	var we *wire.Error
	return err != nil && !errors.As(err, &we) && !errors.Is(err, context.Canceled) && !errors.Is(err, conn.ErrBadReply)
}

func isCode(err error, c wire.Code) bool { return errors.Is(err, &wire.Error{Code: c}) }

// backoff is exponential back-off with full jitter (spec/client.md §7.2).
type backoff struct {
	min, max time.Duration
	n        int
}

func (b *backoff) next() time.Duration {
	d := b.min << min(b.n, 16)
	if d > b.max || d <= 0 {
		d = b.max
	}
	b.n++
	// jitter in [d/2, d): reconnecting clients do not move in step.
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.n = 0 }

// stableConn is how long a connection must stay up, from its hello, for
// its end to reset the reconnect back-off (spec/client.md §7.2): a relay
// that fails every connection right after SUB (a malformed push, say) is
// retried ever more slowly, not in a tight loop. Tuning, not protocol.
const stableConn = 30 * time.Second

// ended records the end of a connection that was up for lasted: one that
// was stable resets the back-off, a shorter one leaves it growing.
func (b *backoff) ended(lasted time.Duration) {
	if lasted >= stableConn {
		b.reset()
	}
}

// retryDelay is the outbox's back-off for an item tried n times.
func retryDelay(n int) time.Duration {
	b := backoff{min: time.Second, max: 5 * time.Minute, n: max(n-1, 0)}
	return b.next()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// ---- relay settings ----

// relayPassword returns the password stored for the relay addr (any
// spelling of its address), or nil (spec/client.md §7.1). It must be kept
// secret.
func relayPassword(tx *vault.Tx, addr string) wire.Password {
	return relaySetting(tx, settingRelayPassword, addr)
}

// setRelayPassword stores pw as the password of the relay addr; an empty
// pw removes it.
func setRelayPassword(tx *vault.Tx, addr string, pw wire.Password) error {
	return putRelaySetting(tx, settingRelayPassword, addr, pw)
}

// addRelay adds addr to the list. addr may be credentialed (spec/relay.md
// §3.5); its password, or pw when given, is stored and replaces the one
// stored before, and a pending offer is dropped.
func addRelay(tx *vault.Tx, addr string, makeDefault bool, pw ...wire.Password) error {
	ca, err := wire.ParseCredentialed(addr)
	if err != nil {
		return badAddress(err)
	}
	if len(pw) > 0 && len(pw[0]) > 0 {
		ca.Password = pw[0]
	}
	addr = ca.String()
	if len(ca.Password) > 0 {
		if err := setRelayPassword(tx, addr, ca.Password); err != nil {
			return err
		}
		if err := putRelaySetting(tx, settingRelayPasswordOffer, addr, nil); err != nil {
			return err
		}
	}
	p, err := profile(tx)
	if err != nil {
		return err
	}
	def, all := relayList(p)
	if !slices.Contains(all, addr) {
		all = append(all, addr)
	}
	if makeDefault || def == "" {
		def = addr
	}
	p.Settings[settingDefaultRelay] = def
	p.Settings[settingRelays] = strings.Join(all, "\n")
	return tx.PutProfile(&p)
}

// AddRelay adds a relay to the profile's list; the first one becomes the
// default. addr may be credentialed (spec/relay.md §3.5): adding a relay
// again with a password updates the stored one.
func (e *Engine) AddRelay(ctx context.Context, addr string) error {
	return e.v.Update(ctx, func(tx *vault.Tx) error { return addRelay(tx, addr, false) })
}

// AddRelayPassword is AddRelay with the relay's password given apart
// (read from a file, say); it wins over one in addr. It must be 1 to
// wire.MaxPassword bytes.
func (e *Engine) AddRelayPassword(ctx context.Context, addr string, password []byte) error {
	if len(password) == 0 || len(password) > wire.MaxPassword {
		return badInput("a relay password is 1 to %d bytes", wire.MaxPassword)
	}
	pw := wire.Password(password)
	return e.v.Update(ctx, func(tx *vault.Tx) error { return addRelay(tx, addr, false, pw) })
}

// RelaysWithPassword returns the canonical addresses of the relays with
// a stored password; never the passwords.
func (e *Engine) RelaysWithPassword(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		p, err := profile(tx)
		for k := range p.Settings {
			if a, ok := strings.CutPrefix(k, settingRelayPassword); ok {
				out[a] = true
			}
		}
		return err
	})
	return out, err
}

// SetDefaultRelay makes addr (added if new) the relay new invites use.
func (e *Engine) SetDefaultRelay(ctx context.Context, addr string) error {
	return e.v.Update(ctx, func(tx *vault.Tx) error { return addRelay(tx, addr, true) })
}

// RemoveRelay takes addr off the profile's relay list. It refuses, changing
// nothing, to remove the default relay (make another one the default
// first) or a relay that a chat or a group uses: their mailboxes and logs
// live there. Tasks still pending on addr (spec/client.md §7.3) carry the
// address themselves and are not affected.
func (e *Engine) RemoveRelay(ctx context.Context, addr string) error {
	a, err := wire.ParseAddress(addr)
	if err != nil {
		return badAddress(err)
	}
	addr = a.String()
	return e.v.Update(ctx, func(tx *vault.Tx) error {
		p, err := profile(tx)
		if err != nil {
			return err
		}
		def, all := relayList(p)
		i := slices.Index(all, addr)
		switch {
		case i < 0:
			return badInput("relay %s is not in the list", shortRelay(addr))
		case addr == def:
			return badInput("relay %s is the default: make another relay the default first", shortRelay(addr))
		}
		chats, groups, err := relayUsers(tx, addr)
		if err != nil {
			return err
		}
		if chats+groups > 0 {
			return badInput("relay %s is used by %s: it stays while they do", shortRelay(addr), users(chats, groups))
		}
		p.Settings[settingRelays] = strings.Join(slices.Delete(all, i, i+1), "\n")
		delete(p.Settings, settingRelayPassword+addr)
		delete(p.Settings, settingRelayPasswordOffer+addr)
		return tx.PutProfile(&p)
	})
}

// relayUsers counts the contacts (one per direct chat) with a mailbox on
// addr, ours or the peer's, and the groups whose logs live there. addr is
// in the form wire.Address.String gives.
func relayUsers(tx *vault.Tx, addr string) (chats, groups int, err error) {
	same := func(s string) bool {
		a, err := wire.ParseAddress(s)
		return err == nil && a.String() == addr
	}
	cs, err := tx.Contacts()
	if err != nil {
		return 0, 0, err
	}
	for i := range cs {
		if slices.ContainsFunc(cs[i].Relays, func(rc vault.RelayCap) bool { return same(rc.Address) }) {
			chats++
		}
	}
	gs, err := tx.Groups()
	if err != nil {
		return 0, 0, err
	}
	for _, g := range gs {
		if isRosterID(g.ID) {
			continue // a roster stored apart, not a group
		}
		var rec struct {
			Relay  string   `json:"relay"`
			Relays []string `json:"relays"` // a group on two relays
		}
		if err := json.Unmarshal(g.State, &rec); err != nil {
			return 0, 0, errors.New("client: corrupt group record")
		}
		if same(rec.Relay) || slices.ContainsFunc(rec.Relays, same) {
			groups++
		}
	}
	return chats, groups, nil
}

// users says "2 chats and 1 group".
func users(chats, groups int) string {
	n := func(k int, what string) string {
		if k == 1 {
			return "1 " + what
		}
		return fmt.Sprintf("%d %ss", k, what)
	}
	switch {
	case groups == 0:
		return n(chats, "chat")
	case chats == 0:
		return n(groups, "group")
	}
	return n(chats, "chat") + " and " + n(groups, "group")
}

// Relays returns the default relay and every configured relay.
func (e *Engine) Relays(ctx context.Context) (def string, all []string, err error) {
	err = e.v.View(ctx, func(tx *vault.Tx) error {
		p, err := profile(tx)
		def, all = relayList(p)
		return err
	})
	return def, all, err
}

// CheckRelay connects to addr once (checking its fingerprint) and pings it.
// addr may be credentialed (spec/relay.md §3.5); the password is not used.
func (e *Engine) CheckRelay(ctx context.Context, addr string) error {
	if a, err := wire.ParseCredentialed(addr); err == nil {
		addr = a.String()
	}
	c, err := e.pool.get(ctx, addr)
	if err != nil {
		return err
	}
	return relayErr(addr, c.Ping(ctx))
}

// ---- receiving side of Run ----

// mailboxes returns our receiving mailboxes on relay addr: recipient ID →
// (contact ID, key).
type mailbox struct {
	contact string
	key     crypto.SignPrivate
}

func (e *Engine) mailboxes(ctx context.Context, addr string) (map[crypto.ID]mailbox, error) {
	out := map[crypto.ID]mailbox{}
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		cs, err := tx.Contacts()
		if err != nil {
			return err
		}
		for i := range cs {
			for _, rc := range recvCaps(&cs[i]) {
				if rc.Address != addr {
					continue
				}
				rid, err := crypto.ParseID(rc.RecvID)
				if err != nil {
					continue
				}
				k, err := crypto.ParseSignPrivate(rc.RecvKey)
				if err != nil {
					continue
				}
				out[rid] = mailbox{contact: cs[i].ID, key: k}
			}
		}
		return nil
	})
	return out, err
}

// receivingRelays returns every relay holding one of our mailboxes.
func (e *Engine) receivingRelays(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		cs, err := tx.Contacts()
		if err != nil {
			return err
		}
		for i := range cs {
			for _, rc := range recvCaps(&cs[i]) {
				if !seen[rc.Address] {
					seen[rc.Address] = true
					out = append(out, rc.Address)
				}
			}
		}
		return nil
	})
	return out, err
}

// subscribe subscribes c to every mailbox on addr not yet in subs.
func (e *Engine) subscribe(ctx context.Context, c *conn.Conn, addr string, subs map[crypto.ID]mailbox) error {
	mbs, err := e.mailboxes(ctx, addr)
	if err != nil {
		return err
	}
	for rid, mb := range mbs {
		if _, ok := subs[rid]; ok {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, commandTimeout)
		err := c.Subscribe(cctx, rid, mb.key)
		cancel()
		if err != nil {
			if isConnErr(err) {
				return err
			}
			continue // the mailbox is gone (AUTH): nothing to receive
		}
		subs[rid] = mb
	}
	for rid := range subs {
		if _, ok := mbs[rid]; !ok {
			delete(subs, rid) // burned or expired since
		}
	}
	return nil
}

// receiveLoop keeps one relay connected and subscribed, and hands every
// pushed message to receive (spec/client.md §7.1). It is owned by Run and
// returns when ctx ends.
func (e *Engine) receiveLoop(ctx context.Context, addr string, kick <-chan struct{}) {
	bo := backoff{min: 200 * time.Millisecond, max: 30 * time.Second}
	down := false
	for ctx.Err() == nil {
		c, err := e.pool.get(ctx, addr)
		if err == nil {
			subs := map[crypto.ID]mailbox{}
			if err = e.subscribe(ctx, c, addr, subs); err == nil {
				// Real time, as the back-off's sleeps: how long the
				// connection lasted decides whether the back-off resets.
				up := time.Now()
				down = false
				e.emit(ctx, Event{Type: EventRelayConnected, Relay: addr})
				e.kickOutbox()
				err = e.serve(ctx, c, addr, subs, kick)
				bo.ended(time.Since(up))
			}
			e.pool.drop(addr, c)
		}
		if ctx.Err() != nil {
			return
		}
		if !down {
			down = true
			e.emit(ctx, Event{Type: EventRelayUnreachable, Relay: addr, Err: errText(err)})
		}
		sleep(ctx, bo.next())
	}
}

func errText(err error) string {
	if err == nil {
		return "connection closed"
	}
	return err.Error()
}

// serve reads c's pushes until the connection ends or ctx is done.
func (e *Engine) serve(ctx context.Context, c *conn.Conn, addr string, subs map[crypto.ID]mailbox, kick <-chan struct{}) error {
	for {
		select {
		case p, ok := <-c.Pushes():
			if !ok {
				return c.Err()
			}
			if p.Type == wire.TypeEND {
				delete(subs, p.Recipient)
				continue
			}
			mb, ok := subs[p.Recipient]
			if !ok {
				continue
			}
			if e.receiveOn(ctx, mb.contact, p.Recipient, p.Body) {
				// Stored: the ACK need not be waited for (a lost one
				// brings the message again, and it is discarded), so
				// the next push is handled at once and ACKs share blocks.
				if err := c.AckNoWait(p.Recipient, p.Seq); err != nil {
					return err
				}
			}
		case <-kick:
			if err := e.subscribe(ctx, c, addr, subs); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
