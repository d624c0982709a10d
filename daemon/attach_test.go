package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"veil/client"
	"veil/crypto"
	"veil/daemon/rpc"
	"veil/vault"
)

// A Server serving an engine that another program (the TUI) opens, runs
// and closes: Attach, Publish, Detach, and lock and erase handed to the
// owner.

// attachEngine is a real engine over a vault with a cheap KDF, closed
// when the test ends (by the test, as an owner would: never the Server).
func attachEngine(t *testing.T) *client.Engine {
	t.Helper()
	cfg := client.Config{Dir: t.TempDir(),
		Vault: vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1}}
	e, err := client.Create(context.Background(), cfg, []byte("test pin"), client.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// attachOwner is the program holding the engine: it counts what the
// Server asks of it and locks as a TUI does, detaching from its own
// goroutine.
type attachOwner struct {
	s *Server

	mu            sync.Mutex
	locks, erases int
	closed        bool // the owner closed its session
}

func (o *attachOwner) Lock() {
	o.mu.Lock()
	o.locks++
	o.mu.Unlock()
	go o.close()
}

func (o *attachOwner) Erase(context.Context) error {
	o.mu.Lock()
	o.erases++
	o.mu.Unlock()
	o.close()
	return nil
}

func (o *attachOwner) close() {
	o.s.Detach()
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
}

func (o *attachOwner) counts() (locks, erases int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.locks, o.erases
}

// attachProfile is the Profile of a Server whose sessions are attached:
// it never unlocks (the owner does) and counts the calls.
type attachProfile struct {
	mu              sync.Mutex
	unlocks, erases int
}

var errOwnerHolds = errors.New("the owner holds this profile: unlock it there")

func (p *attachProfile) Unlock(context.Context, []byte, chan<- client.Event) (*Session, error) {
	p.mu.Lock()
	p.unlocks++
	p.mu.Unlock()
	return nil, errOwnerHolds
}

func (p *attachProfile) Erase(context.Context) error {
	p.mu.Lock()
	p.erases++
	p.mu.Unlock()
	return nil
}

func (p *attachProfile) Backup(context.Context, *client.Engine, string, []byte) error {
	return errors.New("no backup here")
}

// attachServer is a locked Server with an attached engine's owner, and a
// client connected to it.
func attachServer(t *testing.T) (*Server, *attachOwner, *attachProfile, *Client, *client.Engine, *bool) {
	t.Helper()
	prof := &attachProfile{}
	s := New(Config{Profile: prof, UID: -1})
	owner := &attachOwner{s: s}
	eng := attachEngine(t)
	closed := new(bool)
	s.Attach(&Session{Engine: eng, Close: func() { *closed = true }}, owner)
	a, b := net.Pipe()
	go s.ServeConn(a)
	c := NewClient(b)
	t.Cleanup(func() { c.Close() })
	return s, owner, prof, c, eng, closed
}

func attachCall(t *testing.T, c *Client, method string, params, result any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Call(ctx, method, params, result)
}

// attachNote waits for the next notification.
func attachNote(t *testing.T, c *Client) Note {
	t.Helper()
	select {
	case n, ok := <-c.Notes():
		if !ok {
			t.Fatal("the connection ended")
		}
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
	}
	return Note{}
}

func TestAttachServesThenLockAsksOwner(t *testing.T) {
	s, owner, prof, c, eng, closed := attachServer(t)

	var st Status
	if err := attachCall(t, c, "status", nil, &st); err != nil || st.Locked || st.Stream == "" {
		t.Fatalf("status while attached: %+v, %v", st, err)
	}
	var chats []client.ChatInfo
	if err := attachCall(t, c, "chats", nil, &chats); err != nil {
		t.Fatalf("chats through the attached engine: %v", err)
	}
	// unlock has nothing to do: the owner's profile is not asked.
	if err := attachCall(t, c, "unlock", map[string]string{"pin": "x"}, &st); err != nil || st.Locked {
		t.Fatalf("unlock while attached: %+v, %v", st, err)
	}

	// The owner's events reach a subscriber, in order, numbered.
	if err := attachCall(t, c, "subscribe", nil, &st); err != nil {
		t.Fatal(err)
	}
	s.Publish(client.Event{Type: client.EventMessage, Chat: "c1", Text: "one"})
	s.Publish(client.Event{Type: client.EventStatus, Chat: "c1", Status: "delivered"})
	for i, want := range []string{"one", ""} {
		n := attachNote(t, c)
		var ev EventNote
		if err := json.Unmarshal(n.Params, &ev); n.Method != NoteEvent || err != nil {
			t.Fatalf("note %d: %s %s", i, n.Method, n.Params)
		}
		if ev.Seq != uint64(i+1) || ev.Event.Text != want || ev.Stream != st.Stream {
			t.Fatalf("note %d: %+v", i, ev)
		}
	}

	// lock asks the owner, which detaches; the answer says locked.
	if err := attachCall(t, c, "lock", nil, &st); err != nil || !st.Locked {
		t.Fatalf("lock while attached: %+v, %v", st, err)
	}
	if locks, erases := owner.counts(); locks != 1 || erases != 0 {
		t.Fatalf("the owner was asked %d lock(s), %d erase(s)", locks, erases)
	}
	n := attachNote(t, c)
	var end EndNote
	if err := json.Unmarshal(n.Params, &end); n.Method != NoteEnd || err != nil || end.Reason != "locked" {
		t.Fatalf("after lock: %s %s", n.Method, n.Params)
	}
	err := attachCall(t, c, "chats", nil, nil)
	var re *rpc.Error
	if !errors.As(err, &re) || re.Code != rpc.CodeLocked {
		t.Fatalf("chats after the owner locked: %v", err)
	}
	// The Server neither closed the engine nor kept its events.
	if *closed {
		t.Fatal("the Server closed the owner's session")
	}
	if _, err := eng.Chats(context.Background()); err != nil {
		t.Fatalf("the owner's engine after Detach: %v", err)
	}
	s.Publish(client.Event{Type: client.EventMessage, Text: "after"})
	if st := s.Status(); !st.Locked || st.Stream != "" {
		t.Fatalf("status after Detach: %+v", st)
	}

	// Detached: unlock goes to the Profile, which refuses in its words.
	err = attachCall(t, c, "unlock", map[string]string{"pin": "x"}, nil)
	if !errors.As(err, &re) || re.Message != errOwnerHolds.Error() || prof.unlocks != 1 {
		t.Fatalf("unlock after Detach: %v (%d unlocks)", err, prof.unlocks)
	}

	// Attached again: a new stream, starting at 1.
	s.Attach(&Session{Engine: eng, Close: func() { *closed = true }}, owner)
	st2 := s.Status()
	if st2.Locked || st2.Stream == "" || st2.Seq != 0 {
		t.Fatalf("status attached again: %+v", st2)
	}
	s.Publish(client.Event{Type: client.EventWarning, Err: "x"})
	if st2 = s.Status(); st2.Seq != 1 {
		t.Fatalf("seq after one event: %+v", st2)
	}
	s.Detach()
	s.Detach() // twice: nothing more
	if !s.Locked() || *closed {
		t.Fatalf("after Detach: locked %v, closed %v", s.Locked(), *closed)
	}
}

func TestAttachEraseAsksOwner(t *testing.T) {
	s, owner, prof, c, _, closed := attachServer(t)
	if err := attachCall(t, c, "erase", nil, nil); err != nil {
		t.Fatalf("erase while attached: %v", err)
	}
	if _, erases := owner.counts(); erases != 1 || prof.erases != 0 {
		t.Fatalf("erase asked the owner %d time(s), the Profile %d", erases, prof.erases)
	}
	if !s.Locked() || !s.Gone() || *closed {
		t.Fatalf("after erase: locked %v, gone %v, closed by the Server %v", s.Locked(), s.Gone(), *closed)
	}
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the Server did not finish after the erase")
	}
}

// Lock and Shutdown of the Server itself (the idle lock, a stop) ask the
// owner too, and never close its session.
func TestAttachServerLockAsksOwner(t *testing.T) {
	s, owner, _, _, _, closed := attachServer(t)
	s.Lock()
	if locks, _ := owner.counts(); locks != 1 || !s.Locked() || *closed {
		t.Fatalf("Lock: %d lock(s) asked, locked %v, closed %v", locks, s.Locked(), *closed)
	}
	s.Shutdown() // locked already: the owner is not asked again
	if locks, _ := owner.counts(); locks != 1 {
		t.Fatalf("Shutdown asked %d lock(s)", locks)
	}
}

func TestAttachUnlockedServerPanics(t *testing.T) {
	s, owner, _, _, eng, _ := attachServer(t)
	defer func() {
		if recover() == nil {
			t.Fatal("a second Attach did not panic")
		}
	}()
	s.Attach(&Session{Engine: eng, Close: func() {}}, owner)
}
