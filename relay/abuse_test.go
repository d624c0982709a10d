package relay_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/relaytest"
	"veil/relay/wire"
)

// Abuse limits under floods (spec/relay.md §11 "Abuse limits"). The
// attacker dials from 127.0.0.1, the victim from 127.0.0.2: two source
// addresses, as two users on the Internet.

const (
	attackerIP = "127.0.0.1"
	victimIP   = "127.0.0.2"
	// roundTrips is how many SEND → delivery round trips the victim
	// times, unloaded and under the flood (fewer under the race
	// detector, which only looks for races here).
	roundTrips     = 200
	raceRoundTrips = 40
)

// trips is how many round trips the victim times.
func trips() int {
	if raceEnabled {
		return raceRoundTrips
	}
	return roundTrips
}

// latencyBound is how far the victim's p99 under a flood may be from
// its unloaded p99: four times it plus 100 ms. The flooders run in the
// test process, on the cores the relay and the victim use, sealing and
// signing as fast as the relay answers, so a flood also takes CPU from
// the victim that no relay limit can give back (on a shared two-core
// machine under a load average of 23 the flooded p99 was 7-150 ms
// against 0.4-15 ms unloaded, at a load of about 2 it was 0.6-8 ms
// against 0.4-3 ms);
// the bound is generous for that reason. A single stall of the shared
// machine decides a p99 of 200, so the victim gets up to three runs of
// 200 under the same flood and one must meet the bound. Under the race
// detector, which slows everything several times over, the latency is
// logged only.
func latencyBound(base time.Duration) time.Duration { return 4*base + 100*time.Millisecond }

// floodedP99 runs the victim's round trips under a flood, up to three
// times until one run's p99 is within latencyBound(base), and returns
// the best; it fails the test when none is.
func floodedP99(t *testing.T, v *victim, base time.Duration) time.Duration {
	t.Helper()
	best := time.Duration(1<<63 - 1)
	for range 3 {
		best = min(best, p99(v.run(t, trips())))
		if best <= latencyBound(base) || raceEnabled {
			return best
		}
	}
	t.Errorf("victim's p99 %v under the flood, %v unloaded: over the bound %v", best, base, latencyBound(base))
	return best
}

// abuseLimits are small budgets so that floods reach them quickly: a
// 64 MiB relay (so 1.6 MiB of bodies per connection, 12.8 MiB per
// address), 100 mailboxes, logs and blobs per connection and 400 per
// address, 32 connections per address.
func abuseLimits(c *relay.Config) {
	c.Limits.MaxStorage = 64 << 20
	c.Limits.ConnMailboxes, c.Limits.ConnLogs, c.Limits.ConnBlobs = 100, 100, 100
	c.Limits.AddrMailboxes, c.Limits.AddrLogs, c.Limits.AddrBlobs = 400, 400, 400
	c.Limits.CreateRate, c.Limits.CreateBurst = 20, 50
	c.Limits.AddrCreateRate, c.Limits.AddrCreateBurst = 200, 200
	c.Limits.MaxConnsPerAddr = 32
}

// tryDialFrom is dialFrom that returns the error instead of failing.
func (tr *testRelay) tryDialFrom(t testing.TB, ip string) (*conn.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := conn.DialAddress(ctx, tr.addr, &conn.Options{Dial: relaytest.DialFrom(ip)})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// victim is an honest client: a subscribed mailbox on one connection, a
// send connection, both from victimIP.
type victim struct {
	tr         *testRelay
	send, recv *conn.Conn
	m          *mailbox
}

func newVictim(t *testing.T, tr *testRelay) *victim {
	v := &victim{tr: tr, send: tr.dialFrom(t, victimIP), recv: tr.dialFrom(t, victimIP)}
	v.m = newMailbox(t, v.recv)
	if err := v.recv.Subscribe(tctx(t), v.m.rid, v.m.key); err != nil {
		t.Fatal(err)
	}
	return v
}

// run makes n round trips: SEND, its delivery, ACK; every 50th also a
// NEW. It returns the SEND → delivery times.
func (v *victim) run(t *testing.T, n int) []time.Duration {
	t.Helper()
	ctx := tctx(t)
	var lat []time.Duration
	for i := range n {
		if i%50 == 0 {
			k, _ := crypto.GenerateSign(nil)
			if _, _, err := v.send.New(ctx, k, nil); err != nil {
				t.Fatalf("victim's NEW %d: %v", i, err)
			}
		}
		start := time.Now()
		if err := v.send.Send(ctx, v.m.sid, &v.m.cap, body(1024, byte(i))); err != nil {
			t.Fatalf("victim's SEND %d: %v", i, err)
		}
		p := nextPush(t, v.recv)
		lat = append(lat, time.Since(start))
		if p.Type != wire.TypeMSG || p.Body[0] != byte(i) {
			t.Fatalf("victim's delivery %d: %v", i, p.Type)
		}
		if err := v.recv.Ack(ctx, v.m.rid, p.Seq); err != nil {
			t.Fatalf("victim's ACK %d: %v", i, err)
		}
	}
	return lat
}

func p99(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)*99+99)/100-1]
}

// floodStats counts a flood's answers.
type floodStats struct {
	ok, quota, rate, other atomic.Int64
}

func (s *floodStats) note(ctx context.Context, err error, clk *testClock) {
	var we *wire.Error
	switch {
	case ctx.Err() != nil: // the flood is over; the command was cut short
	case err == nil:
		s.ok.Add(1)
	case errors.As(err, &we) && we.Code == wire.CodeQuota:
		s.quota.Add(1)
	case errors.As(err, &we) && we.Code == wire.CodeRate:
		// The creation rate refills on the relay's clock: move it on
		// rather than sleep.
		s.rate.Add(1)
		clk.Advance(100 * time.Millisecond)
	default:
		s.other.Add(1)
	}
}

// flooder sends one kind of storing command on c until ctx ends.
type flooder func(ctx context.Context, t *testing.T, c *conn.Conn, clk *testClock, st *floodStats)

func floodMailboxes(ctx context.Context, t *testing.T, c *conn.Conn, clk *testClock, st *floodStats) {
	k, _ := crypto.GenerateSign(nil)
	for ctx.Err() == nil {
		_, _, err := c.New(ctx, k, nil)
		st.note(ctx, err, clk)
	}
}

func floodLogs(ctx context.Context, t *testing.T, c *conn.Conn, clk *testClock, st *floodStats) {
	var wc, rc [32]byte
	for ctx.Err() == nil {
		_, err := c.NewLog(ctx, &wc, &rc, time.Hour, nil)
		st.note(ctx, err, clk)
	}
}

func floodBlobs(ctx context.Context, t *testing.T, c *conn.Conn, clk *testClock, st *floodStats) {
	b := body(16000, 9)
	for ctx.Err() == nil {
		id, _ := crypto.NewID(nil)
		st.note(ctx, c.Put(ctx, id, time.Hour, nil, b), clk)
	}
}

// floodBytes fills a mailbox of its own with the largest bodies.
func floodBytes(ctx context.Context, t *testing.T, c *conn.Conn, clk *testClock, st *floodStats) {
	k, _ := crypto.GenerateSign(nil)
	rid, sid, err := c.New(ctx, k, nil)
	for errors.Is(err, errRate(err)) {
		clk.Advance(time.Second)
		rid, sid, err = c.New(ctx, k, nil)
	}
	if err != nil {
		st.other.Add(1)
		return
	}
	_ = rid
	var capa [32]byte
	capa[0] = 1
	if err := c.SecureSender(ctx, sid, &capa); err != nil {
		st.other.Add(1)
		return
	}
	b := body(16000, 7)
	for ctx.Err() == nil {
		st.note(ctx, c.Send(ctx, sid, &capa, b), clk)
	}
}

// errRate returns err when it is a RATE answer, something else
// otherwise (for errors.Is).
func errRate(err error) error {
	var we *wire.Error
	if errors.As(err, &we) && we.Code == wire.CodeRate {
		return err
	}
	return errors.New("not rate")
}

// TestAbuseFloods floods each resource, from one connection and from
// many connections of one address, and checks that the limit holds
// (QUOTA, and no more stored than the budget allows) while another
// address's NEW, SEND and delivery keep working with their p99 within
// latencyBound of the unloaded p99.
func TestAbuseFloods(t *testing.T) {
	kinds := []struct {
		name  string
		flood flooder
		// most is the most the flood may store: from one connection,
		// and from the address.
		oneMost, addrMost int64
	}{
		{"mailboxes", floodMailboxes, 100, 400},
		{"logs", floodLogs, 100, 400},
		{"blobs", floodBlobs, 100, 400},
		// Bodies: 1.6 MiB per connection, 12.8 MiB per address, counted
		// in SENDs of 16,000 bytes (the mailbox also counts one NEW).
		{"bytes", floodBytes, (64 << 20) / 40 / 16000, (64 << 20) / 5 / 16000},
	}
	for _, k := range kinds {
		many := 8
		if raceEnabled {
			many = 2 // the race detector slows the flood and the victim alike
		}
		for _, conns := range []int{1, many} {
			name := k.name + "/one connection"
			most := k.oneMost
			if conns > 1 {
				name, most = k.name+"/many connections", k.addrMost
			}
			t.Run(name, func(t *testing.T) {
				if testing.Short() && conns == 1 {
					t.Skip("short: the address's limit, from many connections, stands for both")
				}
				tr := startRelay(t, abuseLimits)
				v := newVictim(t, tr)
				base := p99(v.run(t, trips()))

				ctx, stop := context.WithCancel(context.Background())
				var st floodStats
				var wg sync.WaitGroup
				// A failing victim must not leave the flood running.
				defer wg.Wait()
				defer stop()
				for range conns {
					c := tr.dialFrom(t, attackerIP)
					wg.Go(func() { k.flood(ctx, t, c, tr.clock, &st) })
				}
				// The flood reaches its limit before the victim is timed.
				deadline := time.Now().Add(60 * time.Second)
				for st.quota.Load() == 0 && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond) // waiting for a condition, not pacing
				}
				loaded := floodedP99(t, v, base)
				stop()
				wg.Wait()

				if st.quota.Load() == 0 {
					t.Fatalf("flood never met QUOTA: %d ok, %d RATE, %d other", st.ok.Load(), st.rate.Load(), st.other.Load())
				}
				// A budget drains while the flood moves the clock on:
				// allow a few more than the limit.
				if got := st.ok.Load(); got > most+most/20+2 {
					t.Errorf("flood stored %d, limit %d", got, most)
				}
				if st.other.Load() != 0 {
					t.Errorf("flood met %d answers other than OK, QUOTA and RATE", st.other.Load())
				}
				t.Logf("flood: %d ok, %d QUOTA, %d RATE; victim p99 %v unloaded, %v flooded", st.ok.Load(), st.quota.Load(), st.rate.Load(), base, loaded)
			})
		}
	}
	t.Run("connections", func(t *testing.T) {
		tr := startRelay(t, abuseLimits)
		v := newVictim(t, tr)
		base := p99(v.run(t, trips()))
		for i := range 32 {
			c := tr.dialFrom(t, attackerIP)
			if i == 0 {
				healthy(t, c)
			}
		}
		// Every further connection from the address is refused, also
		// while the victim runs.
		ctx, stop := context.WithCancel(context.Background())
		var refused, admitted atomic.Int64
		var wg sync.WaitGroup
		defer wg.Wait()
		defer stop()
		for range 4 {
			wg.Go(func() {
				for ctx.Err() == nil {
					if _, err := tr.tryDialFrom(t, attackerIP); err != nil {
						refused.Add(1)
					} else {
						admitted.Add(1)
					}
				}
			})
		}
		loaded := floodedP99(t, v, base)
		stop()
		wg.Wait()
		if admitted.Load() != 0 || refused.Load() == 0 {
			t.Fatalf("past the cap: %d admitted, %d refused", admitted.Load(), refused.Load())
		}
		// The victim's own address is not affected.
		tr.dialFrom(t, victimIP)
		t.Logf("%d connections refused; victim p99 %v unloaded, %v flooded", refused.Load(), base, loaded)
	})
}

// TestAbuseIssueScenario: one connection PUTting 4,128 blobs of 16,000
// bytes used to fill a 64 MiB relay in seconds, after which every
// user's NEW and SEND failed with STORAGE_FULL. With the default abuse
// limits the connection stops at its byte budget (a fortieth of the
// quota) with QUOTA, more connections from its address at the address's
// (a fifth), and another client's NEW and SEND still succeed.
func TestAbuseIssueScenario(t *testing.T) {
	tr := startRelay(t, func(c *relay.Config) { c.Limits.MaxStorage = 64 << 20 })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a thousand PUTs of 16,000 bytes, also under the race detector
	defer cancel()
	b := body(16000, 3)
	put := func(c *conn.Conn) (stored int, err error) {
		for range 4128 {
			id, _ := crypto.NewID(nil)
			err = c.Put(ctx, id, time.Hour, nil, b)
			for errors.Is(err, errRate(err)) {
				tr.clock.Advance(time.Second)
				err = c.Put(ctx, id, time.Hour, nil, b)
			}
			if err != nil {
				return stored, err
			}
			stored++
		}
		return stored, nil
	}
	connBudget := (64 << 20) / 40 / 16000
	n, err := put(tr.dialFrom(t, attackerIP))
	wantCode(t, err, wire.CodeQuota)
	if n > connBudget+1 {
		t.Fatalf("one connection stored %d blobs, budget %d", n, connBudget)
	}
	total := n
	for total < 4128 {
		n, err := put(tr.dialFrom(t, attackerIP))
		total += n
		wantCode(t, err, wire.CodeQuota)
		if n == 0 {
			break // the address's budget
		}
	}
	if addrBudget := (64 << 20) / 5 / 16000; total > addrBudget+addrBudget/20 {
		t.Fatalf("the address stored %d blobs, budget %d", total, addrBudget)
	}
	if size := tr.store.Size(); size > 64<<20/4 {
		t.Fatalf("store holds %d bytes", size)
	}
	v := newVictim(t, tr)
	v.run(t, 20)
	t.Logf("one connection stored %d blobs, the address %d", n, total)
}

// TestForwardedPutNeedsPassword: at a destination with a password, a
// forwarded PUT needs it as a direct one does (spec/relay.md §7.2): the
// short form, without the field, is PASSWORD. The long form's 28 bytes
// make a PUT the size of a SEND with the same body; the short form is
// 28 bytes less.
func TestForwardedPutNeedsPassword(t *testing.T) {
	d := startRelay(t, func(c *relay.Config) { c.Password = []byte("group secret") })
	f := startRelay(t, relaytest.WithR2RFrom(r2rIP))
	ctx := tctx(t)
	c := f.dialFrom(t, clientIP)
	route, err := c.FKey(ctx, nil, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	put := wire.Frame{Type: wire.TypePUT, ID: crypto.ID{8}, Seconds: 60, Body: body(1024, 5)}
	_, err = c.ForwardCommand(ctx, route, put, d.clock.Now(), nil)
	wantCode(t, err, wire.CodePassword)
	short, _ := wire.AppendFrame(nil, &put)
	put.Cap, put.PutHasPassword = wire.PutPassword(d.addr.Fingerprint, []byte("other")), true
	_, err = c.ForwardCommand(ctx, route, put, d.clock.Now(), nil)
	wantCode(t, err, wire.CodePassword)
	put.Cap = wire.PutPassword(d.addr.Fingerprint, []byte("group secret"))
	if r, err := c.ForwardCommand(ctx, route, put, d.clock.Now(), nil); err != nil || r.Type != wire.TypeOK {
		t.Fatalf("forwarded PUT with the password: %v %v", &r, err)
	}
	if b, err := d.dial(t).Take(ctx, put.ID); err != nil || b[0] != 5 {
		t.Fatalf("TAKE: %v", err)
	}
	send := wire.Frame{Type: wire.TypeSEND, ID: crypto.ID{1}, Body: put.Body}
	ps, _ := wire.AppendFrame(nil, &put)
	ss, _ := wire.AppendFrame(nil, &send)
	if len(ps) != len(ss) || len(short) != len(ss)-wire.PutPasswordSize {
		t.Fatalf("PUT of %d bytes (short form %d), SEND of %d", len(ps), len(short), len(ss))
	}
}
