package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"veil/client"
	"veil/daemon/rpc"
	"veil/relay/relaytest"
	"veil/vault"
)

// TestLockedAnswersLocked: while locked, every method but status, unlock,
// lock and erase answers "locked", whatever its params, and reaches no
// engine.
func TestLockedAnswersLocked(t *testing.T) {
	p := newTestProfile(t, t.TempDir(), "", nil, client.CreateOptions{})
	s := New(Config{Profile: p, UID: -1})
	c := pipe(t, s)
	for _, name := range slices.Sorted(maps.Keys(methods)) {
		switch name {
		case "status", "unlock", "lock", "erase":
			continue
		}
		for _, params := range []any{nil, map[string]any{}, map[string]any{"chat": "x", "nope": 1}, []int{1, 2}} {
			err := do(t, c, name, params, nil)
			if re := apiError(t, err); re.Code != rpc.CodeLocked || re.Data == nil || re.Data.Kind != "locked" {
				t.Errorf("%s %v: got %d %q %+v, want locked", name, params, re.Code, re.Message, re.Data)
			}
		}
	}
	var st Status
	must(t, c, "status", nil, &st)
	if !st.Locked || st.Stream != "" || st.API != rpc.Version {
		t.Fatalf("status: %+v", st)
	}
	must(t, c, "lock", nil, &st)
	if !st.Locked || !s.Locked() {
		t.Fatalf("lock on a locked server: %+v", st)
	}
}

// TestUnlockWrongPINBackoff: wrong PINs are refused and the profile stays
// locked; after the vault's free attempts the API answers with a back-off
// (the right PIN too), and the right PIN opens once it has passed.
func TestUnlockWrongPINBackoff(t *testing.T) {
	clock := newFakeClock()
	p := newTestProfile(t, t.TempDir(), "", clock, client.CreateOptions{})
	s := New(Config{Profile: p, UID: -1})
	t.Cleanup(s.Shutdown)
	c := pipe(t, s)
	var st Status
	// The vault allows three wrong PINs without a wait (vault/state.go).
	for i := range 3 {
		err := do(t, c, "unlock", map[string]string{"pin": "1111 222" + string(rune('0'+i))}, nil)
		wantCode(t, err, rpc.CodeFailed, "wrong_pin")
		must(t, c, "status", nil, &st)
		if !st.Locked {
			t.Fatalf("a wrong PIN unlocked: %+v", st)
		}
	}
	err := do(t, c, "unlock", map[string]string{"pin": "1111 2229"}, nil)
	re := wantCode(t, err, rpc.CodeBackoff, "backoff")
	if re.Data.RetryAfter <= 0 {
		t.Fatalf("back-off without retry_after: %+v", re.Data)
	}
	// During the back-off no PIN is tried, not even the right one.
	err = do(t, c, "unlock", map[string]string{"pin": testPIN}, nil)
	wantCode(t, err, rpc.CodeBackoff, "backoff")
	if !s.Locked() {
		t.Fatal("unlocked during the back-off")
	}
	clock.Add(time.Duration(re.Data.RetryAfter*float64(time.Second)) + time.Second)
	must(t, c, "unlock", map[string]string{"pin": testPIN}, &st)
	if st.Locked || st.Stream == "" {
		t.Fatalf("the right PIN after the back-off: %+v", st)
	}
	must(t, c, "chats", nil, nil)
}

// TestUnlockDuressDecoy: the duress PIN in decoy mode unlocks through the
// API into an empty profile; the real chats are gone and the real PIN
// opens nothing any more.
func TestUnlockDuressDecoy(t *testing.T) {
	r := relaytest.Start(t)
	p := newTestProfile(t, t.TempDir(), r.Address.String(), nil, client.CreateOptions{DuressPIN: []byte(duressPIN)})
	s := New(Config{Profile: p, UID: -1})
	t.Cleanup(s.Shutdown)
	c := pipe(t, s)
	must(t, c, "unlock", map[string]string{"pin": testPIN}, nil)
	var inv InviteResult
	must(t, c, "invite", map[string]string{"name": "ben"}, &inv)
	var chats []client.ChatInfo
	must(t, c, "chats", nil, &chats)
	if len(chats) != 1 {
		t.Fatalf("chats before: %+v", chats)
	}
	must(t, c, "lock", nil, nil)

	var st Status
	must(t, c, "unlock", map[string]string{"pin": duressPIN}, &st)
	if st.Locked {
		t.Fatal("the duress PIN did not unlock")
	}
	must(t, c, "chats", nil, &chats)
	if len(chats) != 0 {
		t.Fatalf("the decoy shows chats: %+v", chats)
	}
	must(t, c, "lock", nil, nil)
	err := do(t, c, "unlock", map[string]string{"pin": testPIN}, nil)
	wantCode(t, err, rpc.CodeFailed, "wrong_pin")
	select {
	case <-s.Done():
		t.Fatal("the server stopped after a decoy unlock")
	default:
	}
}

// answerWatch is the server's end of a connection: it records whether
// anything was written after the server said it was done.
type answerWatch struct {
	net.Conn
	done           <-chan struct{}
	written, early atomic.Bool
}

func (w *answerWatch) Write(b []byte) (int, error) {
	select {
	case <-w.done:
		w.early.Store(true)
	default:
	}
	n, err := w.Conn.Write(b)
	if err == nil {
		w.written.Store(true)
	}
	return n, err
}

// TestUnlockDuressReset: the duress PIN in reset mode erases the profile;
// the answer names the erase, and the server ends only once the client
// has it.
func TestUnlockDuressReset(t *testing.T) {
	p := newTestProfile(t, t.TempDir(), "", nil, client.CreateOptions{DuressPIN: []byte(duressPIN), DuressMode: client.DuressReset})
	s := New(Config{Profile: p, UID: -1})
	t.Cleanup(s.Shutdown)
	a, b := net.Pipe()
	w := &answerWatch{Conn: a, done: s.Done()}
	served := make(chan struct{})
	go func() { s.ServeConn(w); close(served) }()
	c := NewClient(b)
	t.Cleanup(func() { c.Close() })

	err := do(t, c, "unlock", map[string]string{"pin": duressPIN}, nil)
	wantCode(t, err, rpc.CodeFailed, "erased")
	select {
	case <-s.Done():
	case <-time.After(waitLimit):
		t.Fatal("the server did not end after the erase")
	}
	if !w.written.Load() || w.early.Load() {
		t.Fatalf("answer written %v, after the end %v", w.written.Load(), w.early.Load())
	}
	select {
	case <-served:
	case <-time.After(waitLimit):
		t.Fatal("the connection was not closed")
	}
	if !s.Gone() || !s.Locked() {
		t.Fatal("the server does not know the profile is gone")
	}
	o := p.options()
	if _, err := vault.Open(context.Background(), p.dir, []byte(testPIN), &o); !errors.Is(err, vault.ErrNoProfile) {
		t.Fatalf("the real PIN after a reset: %v, want no profile", err)
	}
}

// TestLock: lock ends the stream, closes the engine and answers "locked";
// after the next unlock the old stream cannot be resumed.
func TestLock(t *testing.T) {
	// A clock that does not move: every unlock happens at the same
	// instant, and the streams must still differ.
	clock := newFakeClock()
	s, p := unlockedServer(t, Config{Now: clock.Now}, "")
	c, lc := pipe(t, s), pipe(t, s)
	var st Status
	must(t, c, "subscribe", nil, &st)
	old := p.lastEngine()
	s.publish(client.Event{Type: client.EventWarning, Err: "one"})
	ev := nextEvent(t, c)
	if ev.Stream != st.Stream || ev.Seq != 1 {
		t.Fatalf("first event %+v on %+v", ev, st)
	}

	var locked Status
	must(t, lc, "lock", nil, &locked)
	if !locked.Locked || locked.Stream != "" {
		t.Fatalf("lock answered %+v", locked)
	}
	n := nextNote(t, c)
	var end EndNote
	if n.Method != NoteEnd || json.Unmarshal(n.Params, &end) != nil || end.Reason != "locked" || end.Stream != st.Stream {
		t.Fatalf("after lock: %s %s", n.Method, n.Params)
	}
	for _, m := range []string{"chats", "subscribe", "queued"} {
		wantCode(t, do(t, c, m, nil, nil), rpc.CodeLocked, "locked")
	}
	if _, err := old.Chats(context.Background()); err == nil {
		t.Fatal("the engine of the locked session still answers")
	}

	var again Status
	must(t, lc, "unlock", map[string]string{"pin": testPIN}, &again)
	if again.Stream == "" || again.Stream == st.Stream {
		t.Fatalf("the stream after the unlock is %q, before %q", again.Stream, st.Stream)
	}
	after := ev.Seq
	wantCode(t, do(t, c, "subscribe", SubscribeParams{Stream: st.Stream, After: &after}, nil), rpc.CodeGap, "gap")
	// A sequence number without its stream resumes nothing.
	s.publish(client.Event{Type: client.EventWarning, Err: "new one"})
	wantCode(t, do(t, c, "subscribe", SubscribeParams{After: &after}, nil), rpc.CodeInvalidParams, "bad_params")
	// The connection whose stream ended may subscribe again.
	var st2 Status
	must(t, c, "subscribe", nil, &st2)
	if st2.Stream != again.Stream {
		t.Fatalf("new subscription on %q, want %q", st2.Stream, again.Stream)
	}
	if p.lastEngine() == old {
		t.Fatal("the unlock reused the closed engine")
	}
}

// TestAutoLock: LockAfter locks a profile idle that long, and every call
// starts the wait again.
func TestAutoLock(t *testing.T) {
	clock := newFakeClock()
	s, _ := unlockedServer(t, Config{LockAfter: 10 * time.Minute, Now: clock.Now}, "")
	c := pipe(t, s)
	must(t, c, "chats", nil, nil)
	clock.Add(9 * time.Minute)
	if s.CheckIdle() || s.Locked() {
		t.Fatal("locked after 9 minutes")
	}
	must(t, c, "status", nil, nil)
	clock.Add(9 * time.Minute)
	if s.CheckIdle() || s.Locked() {
		t.Fatal("a call did not restart the wait")
	}
	clock.Add(time.Minute)
	if !s.CheckIdle() || !s.Locked() {
		t.Fatal("not locked after 10 minutes without a call")
	}
	wantCode(t, do(t, c, "chats", nil, nil), rpc.CodeLocked, "locked")
	if s.CheckIdle() {
		t.Fatal("a locked server locked again")
	}
}

// TestLockDuringCalls: calls that race a lock either succeed or answer
// "locked"; none fails with the closed vault's own error.
func TestLockDuringCalls(t *testing.T) {
	s, _ := unlockedServer(t, Config{}, "")
	const callers = 4
	cycles := 20
	if testing.Short() {
		cycles = 5
	}
	for range cycles {
		var wg sync.WaitGroup
		answered := make(chan struct{}, callers)
		errs := make(chan error, callers)
		for range callers {
			c := pipe(t, s)
			wg.Go(func() {
				for i := 0; ; i++ {
					err := do(t, c, "chats", nil, nil)
					if i == 0 {
						answered <- struct{}{}
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		for range callers {
			<-answered
		}
		s.Lock()
		wg.Wait()
		close(errs)
		for err := range errs {
			if re := apiError(t, err); re.Code != rpc.CodeLocked {
				t.Fatalf("a call racing the lock answered %d %q (%+v)", re.Code, re.Message, re.Data)
			}
		}
		if err := s.Unlock(context.Background(), []byte(testPIN)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLockMidCall: a call whose engine is closed under it by a lock
// answers "locked", not the closed vault's error.
func TestLockMidCall(t *testing.T) {
	s, _ := unlockedServer(t, Config{}, "")
	const name = "test.lock_midway"
	methods[name] = method{run: func(ctx context.Context, c *conn, eng *client.Engine, _ json.RawMessage) (any, func(), error) {
		c.s.Lock()
		_, err := eng.Chats(ctx)
		return ok{}, nil, err
	}}
	t.Cleanup(func() { delete(methods, name) })
	wantCode(t, do(t, pipe(t, s), name, nil, nil), rpc.CodeLocked, "locked")
}

// TestErase: erase locks the profile, ends the stream, erases the vault
// and ends the server once the caller has the answer.
func TestErase(t *testing.T) {
	s, p := unlockedServer(t, Config{}, "")
	sub := pipe(t, s)
	must(t, sub, "subscribe", nil, nil)
	a, b := net.Pipe()
	w := &answerWatch{Conn: a, done: s.Done()}
	go s.ServeConn(w)
	c := NewClient(b)
	t.Cleanup(func() { c.Close() })
	must(t, c, "erase", nil, nil)
	if n := nextNote(t, sub); n.Method != NoteEnd {
		t.Fatalf("after erase: %s %s", n.Method, n.Params)
	}
	select {
	case <-s.Done():
	case <-time.After(waitLimit):
		t.Fatal("the server did not end after erase")
	}
	if !w.written.Load() || w.early.Load() {
		t.Fatalf("answer written %v, after the end %v", w.written.Load(), w.early.Load())
	}
	o := p.options()
	if _, err := vault.Open(context.Background(), p.dir, []byte(testPIN), &o); !errors.Is(err, vault.ErrNoProfile) {
		t.Fatalf("after erase: %v, want no profile", err)
	}
	if !errors.Is(do(t, c, "status", nil, nil), ErrClosed) {
		t.Fatal("the erased server still answers")
	}
}
