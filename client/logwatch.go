package client

import (
	"context"
	"sync"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
	"veil/vault"
)

// Run's group loop learns of new log entries from the relay's notices
// (spec/relay.md §8.7, spec/groups.md §6.2): it subscribes every log it
// follows on the pool's connection to the log's relay, syncs a group
// when a notice for one of its logs comes, and polls every group slowly
// in case a notice was lost.

// Group loop tuning (not protocol).
const (
	// defaultGroupPollEvery is the safety poll: every group is read this
	// often even without a notice (Config.GroupPollEvery).
	defaultGroupPollEvery = 30 * time.Second
	// groupNoticeGap is the least time between two syncs that notices
	// start: a flood of notices costs at most one sync per gap.
	groupNoticeGap = 250 * time.Millisecond
)

// followedLog is one log a group member reads, as a subscription needs it.
type followedLog struct {
	chat    string // the group's chat ID
	id      crypto.ID
	readCap [wire.CapSize]byte // must be kept secret
	after   uint64             // the member's cursor
	relay   string             // the relay holding it
}

// followedLogs returns the logs of one group that its member reads: the
// current epoch's, the previous one's while it is drained, every open
// invite's exchange log (admin) and the joiner's exchange log. An epoch
// of a group on two relays has a log on each (spec/groups.md §3.5).
func followedLogs(chat string, g *groupState, rec *groupRecord) []followedLog {
	var out []followedLog
	for _, l := range []*groupLog{&g.cur, g.prev} {
		if l == nil || l.epoch == nil {
			continue
		}
		_, rc := l.epoch.Caps()
		for k := range l.nlogs() {
			relay := l.relay(k)
			if relay == "" {
				relay = rec.Relay
			}
			out = append(out, followedLog{chat: chat, id: l.logID(k), readCap: rc, after: *l.cursorAt(k), relay: relay})
		}
	}
	invites := rec.Invites
	if rec.Join != nil {
		invites = append(invites[:len(invites):len(invites)], *rec.Join)
	}
	for _, inv := range invites {
		id, err := crypto.ParseID(inv.LogID)
		if err != nil {
			continue
		}
		gk := format.DeriveGroupInvite(inv.Secret, inv.Salt, crypto.ID{}, nil) // the read capability only
		out = append(out, followedLog{chat: chat, id: id, readCap: gk.Read, after: inv.Cursor, relay: rec.Relay})
	}
	return out
}

// followedByRelay reads every group's followed logs, by relay address.
func (e *Engine) followedByRelay(ctx context.Context) (map[string][]followedLog, error) {
	out := map[string][]followedLog{}
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		chats, err := tx.Chats()
		if err != nil {
			return err
		}
		for _, c := range chats {
			if c.Kind != vault.ChatGroup {
				continue
			}
			grp, err := tx.Group(c.GroupID)
			if err != nil {
				continue
			}
			g, rec, err := e.loadGroup(tx, c.GroupID, &grp)
			if err != nil {
				continue // reported by the sync
			}
			for _, f := range followedLogs(c.ID, g, rec) {
				out[f.relay] = append(out[f.relay], f)
			}
		}
		return nil
	})
	return out, err
}

// logWatch holds the group loop's log subscriptions. It is owned by the
// group loop (one goroutine) except for the notice callbacks and the
// connection watchers, which touch only mu's fields and the channels.
type logWatch struct {
	e      *Engine
	relays map[string]*relayWatch

	noted   chan struct{}  // buffer of one: notices wait in chats
	changed chan struct{}  // buffer of one: a watched connection ended
	wg      sync.WaitGroup // the connection watchers; they end with their connection or ctx

	mu    sync.Mutex // guards chats
	chats map[string]bool
}

// relayWatch is the subscriptions held on one relay's connection.
type relayWatch struct {
	c     *conn.Conn // nil while there is none
	up    time.Time  // when c was taken
	logs  map[crypto.ID]string
	bo    backoff
	retry time.Time // no new connection before
}

func newLogWatch(e *Engine) *logWatch {
	return &logWatch{e: e, relays: map[string]*relayWatch{}, noted: make(chan struct{}, 1),
		changed: make(chan struct{}, 1), chats: map[string]bool{}}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// notice is the notify function of chat's log subscriptions: it runs on
// the connection's reader goroutine and only records the chat.
func (w *logWatch) notice(chat string) func(uint64) {
	return func(uint64) {
		w.mu.Lock()
		w.chats[chat] = true
		w.mu.Unlock()
		signal(w.noted)
	}
}

// take returns the chats noticed since the last take.
func (w *logWatch) take() map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.chats
	w.chats = map[string]bool{}
	return out
}

// follow makes the subscriptions match want (logs by relay address): a
// connection that ended is replaced after the back-off, and a relay that
// ends every connection soon after its hello (a malformed notice, say) is
// retried ever more slowly (spec/client.md §7.2). It returns when the
// next attempt is due (zero when none waits).
func (w *logWatch) follow(ctx context.Context, want map[string][]followedLog) time.Time {
	now := time.Now() // real time, as the back-off's sleeps
	var due time.Time
	for addr, rw := range w.relays {
		if _, ok := want[addr]; !ok {
			w.release(ctx, rw)
			delete(w.relays, addr)
		}
	}
	for addr, logs := range want {
		rw := w.relays[addr]
		if rw == nil {
			rw = &relayWatch{bo: backoff{min: 200 * time.Millisecond, max: 30 * time.Second}}
			w.relays[addr] = rw
		}
		if rw.c != nil && isDone(rw.c) {
			w.lost(rw, now)
		}
		if rw.c == nil {
			if now.Before(rw.retry) {
				due = earliest(due, rw.retry)
				continue
			}
			c, err := w.e.pool.get(ctx, addr)
			if err != nil {
				w.lost(rw, now)
				due = earliest(due, rw.retry)
				continue
			}
			rw.c, rw.up, rw.logs = c, now, map[crypto.ID]string{}
			w.wg.Go(func() { // owned by the group loop, which waits for it; ends with the connection or ctx
				select {
				case <-c.Done():
					signal(w.changed)
				case <-ctx.Done():
				}
			})
		}
		if !w.subscribe(ctx, rw, logs) {
			w.lost(rw, now)
			due = earliest(due, rw.retry)
		}
	}
	return due
}

// subscribe subscribes rw's connection to every log of logs not yet
// subscribed and unsubscribes the others; false when the connection failed.
func (w *logWatch) subscribe(ctx context.Context, rw *relayWatch, logs []followedLog) bool {
	keep := map[crypto.ID]bool{}
	for i := range logs {
		l := &logs[i]
		keep[l.id] = true
		if _, ok := rw.logs[l.id]; ok {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, commandTimeout)
		err := rw.c.SubscribeLog(cctx, l.id, &l.readCap, l.after, w.notice(l.chat))
		cancel()
		if err != nil {
			if isConnErr(err) {
				return false
			}
			continue // the log is gone (AUTH) or over the relay's limit: the poll reads it
		}
		rw.logs[l.id] = l.chat
	}
	for id := range rw.logs {
		if !keep[id] {
			cctx, cancel := context.WithTimeout(ctx, commandTimeout)
			err := rw.c.UnsubscribeLog(cctx, id)
			cancel()
			delete(rw.logs, id)
			if isConnErr(err) {
				return false
			}
		}
	}
	return true
}

// lost forgets rw's connection and schedules the next one: a connection
// that lasted stableConn resets the back-off, a shorter one does not.
func (w *logWatch) lost(rw *relayWatch, now time.Time) {
	if rw.c != nil {
		rw.bo.ended(now.Sub(rw.up))
	}
	rw.c, rw.logs = nil, nil
	rw.retry = now.Add(rw.bo.next())
}

// release ends rw's subscriptions (its relay holds no followed log now).
func (w *logWatch) release(ctx context.Context, rw *relayWatch) {
	if rw.c == nil || isDone(rw.c) {
		return
	}
	for id := range rw.logs {
		cctx, cancel := context.WithTimeout(ctx, commandTimeout)
		err := rw.c.UnsubscribeLog(cctx, id)
		cancel()
		if isConnErr(err) {
			return
		}
	}
}

func isDone(c *conn.Conn) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}
