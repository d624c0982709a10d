package daemon

import (
	"context"
	"testing"
	"time"

	"veil/client"
)

// TestStartingHoldsCallsButErase: while a daemon reads its PIN it serves
// its socket (so that veil panic's erase is answered) but holds every
// other call until the unlock is tried: a bot that reconnects while its
// daemon restarts asks status and must see the unlocked profile, not a
// "locked" that makes it give up. Here status waits while the server is
// starting and answers unlocked once the unlock is done.
func TestStartingHoldsCallsButErase(t *testing.T) {
	p := newTestProfile(t, t.TempDir(), "", nil, client.CreateOptions{})
	s := New(Config{Profile: p, UID: -1})
	t.Cleanup(s.Shutdown)
	release := s.Starting()
	c := pipe(t, s)
	got := make(chan Status, 1)
	go func() {
		var st Status
		if err := c.Call(context.Background(), "status", nil, &st); err != nil {
			t.Errorf("status: %v", err)
		}
		got <- st
	}()
	select {
	case st := <-got:
		t.Fatalf("status answered while the server was starting: %+v", st)
	case <-time.After(200 * time.Millisecond):
	}
	if err := s.Unlock(context.Background(), []byte(testPIN)); err != nil {
		t.Fatal(err)
	}
	release()
	select {
	case st := <-got:
		if st.Locked {
			t.Errorf("status after the startup's unlock: locked")
		}
	case <-time.After(2 * waitLimit):
		t.Fatal("status held after the server started")
	}
}

// TestStartingAnswersErase: erase is answered while the server starts,
// and a call held meanwhile ends instead of waiting for ever.
func TestStartingAnswersErase(t *testing.T) {
	p := newTestProfile(t, t.TempDir(), "", nil, client.CreateOptions{})
	s := New(Config{Profile: p, UID: -1})
	t.Cleanup(s.Shutdown)
	release := s.Starting()
	defer release()
	held := pipe(t, s)
	ended := make(chan error, 1)
	go func() { ended <- held.Call(context.Background(), "status", nil, nil) }()
	must(t, pipe(t, s), "erase", nil, nil)
	select {
	case <-ended:
	case <-time.After(2 * waitLimit):
		t.Fatal("a call held while the server started outlived its erase")
	}
}
