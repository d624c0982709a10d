package client

import (
	"context"
	"testing"

	"veil/relay/relaytest"
)

// TestCloseDoesNotCountATry: closing the engine in the middle of an upload
// stops it so that it resumes next time; it is not a failure of the
// transfer. A transfer that counted each Close as a try would be failed
// for good after xferMaxTries restarts, and waits a back-off after each.
func TestCloseDoesNotCountATry(t *testing.T) {
	t.Parallel()
	rec := &relaytest.Recorder{}
	r := relaytest.Start(t, relaytest.WithObserver(rec))
	a, _, aChat, _ := oneShotPair(t, r.Address.String())
	id := startedUpload(t, a, rec, aChat, 0)
	cfg := a.cfg
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	e, err := Open(context.Background(), cfg, []byte("test pin"))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ts, err := e.v.Transfers()
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range ts {
		if tr.ID != transferID(aChat, id) {
			continue
		}
		if tr.Tries != 0 || tr.Err != "" || tr.NextTry.After(e.now()) {
			t.Fatalf("Close counted as a failed try: tries %d, err %q, next try in %v", tr.Tries, tr.Err, tr.NextTry.Sub(e.now()))
		}
		return
	}
	t.Fatal("the upload's transfer record is gone after Close")
}
