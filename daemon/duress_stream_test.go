package daemon

import (
	"strconv"
	"strings"
	"testing"

	"veil/client"
	"veil/relay/relaytest"
)

// TestDuressStreamLooksNew checks SECURITY.md, "Another program or user
// on the same machine": "Unlocking through the API takes the same time
// and has the same outcomes as at the terminal: the duress PIN erases and
// then looks like a new profile", and spec/api.md §5: a stream's name
// says nothing of the server's earlier unlocks. A coerced user whose
// daemon was unlocked earlier (and locked since, by hand or --lock-after)
// types the duress PIN at `veil unlock`; `status` then names the decoy's
// stream. A name that counted the server's unlocks would end in the
// count (2 here) where a new profile's daemon names its first stream
// with 1. Both names are made alike: the unlock's time and a random part.
func TestDuressStreamLooksNew(t *testing.T) {
	r := relaytest.Start(t)
	p := newTestProfile(t, t.TempDir(), r.Address.String(), nil, client.CreateOptions{DuressPIN: []byte(duressPIN)})
	s := New(Config{Profile: p, UID: -1})
	t.Cleanup(s.Shutdown)
	c := pipe(t, s)
	var first Status
	must(t, c, "unlock", map[string]string{"pin": testPIN}, &first)
	must(t, c, "lock", nil, nil)
	var decoy Status
	must(t, c, "unlock", map[string]string{"pin": duressPIN}, &decoy)

	fresh := newTestProfile(t, t.TempDir(), r.Address.String(), nil, client.CreateOptions{})
	s2 := New(Config{Profile: fresh, UID: -1})
	t.Cleanup(s2.Shutdown)
	c2 := pipe(t, s2)
	var st Status
	must(t, c2, "unlock", map[string]string{"pin": testPIN}, &st)

	if decoy.Stream == first.Stream {
		t.Fatalf("the unlock after a lock kept the stream %q", first.Stream)
	}
	suffix := func(stream string) string { return stream[strings.LastIndexByte(stream, '.')+1:] }
	for n, stream := range []string{first.Stream, decoy.Stream} {
		if suffix(stream) == strconv.Itoa(n+1) {
			t.Errorf("unlock %d of one server names its stream %q: the name counts the server's unlocks (a new profile's first stream is %q)",
				n+1, stream, st.Stream)
		}
	}
	if strings.Count(decoy.Stream, ".") != 1 || strings.Count(st.Stream, ".") != 1 {
		t.Errorf("the decoy's stream %q and a new profile's %q are not named alike", decoy.Stream, st.Stream)
	}
}
