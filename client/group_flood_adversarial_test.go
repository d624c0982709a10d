package client

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"veil/client/internal/format"
	"veil/relay/wire"
)

// Adversarial tests of what a member can make another member's client
// do by writing to the group's log (spec/groups.md §6.2, §6.3, §12).

// floodUnreadable has member m append n entries its readers cannot use,
// in turn: an entry whose signature does not verify, a signed entry that
// is no envelope, a BURN from a member who is not an admin, a one-part
// commit whose bytes do not match its hash, and one whose bytes hash
// right but are no commit. It returns how many of them are signed by m
// (the others are signed by nobody).
func floodUnreadable(t *testing.T, m *member, n int) (signed int) {
	t.Helper()
	ctx := context.Background()
	w, _ := m.g.cur.epoch.Caps()
	conf := format.ConfTag(m.g.cur.conf)
	junk := []byte("not a commit")
	for i := range n {
		var pt []byte
		var err error
		switch i % 5 {
		case 0, 1:
			pt = []byte{0xff, byte(i)}
		case 2:
			pt, err = (&format.GroupEnvelope{Conf: conf, Type: format.GenvBurn}).Marshal()
		case 3:
			pt, err = (&format.GroupEnvelope{Conf: conf, Type: format.GenvCommit, Hash: [32]byte{byte(i), byte(i >> 8)}, Parts: 1, Bytes: junk}).Marshal()
		case 4:
			pt, err = (&format.GroupEnvelope{Conf: conf, Type: format.GenvCommit, Hash: format.CommitHash(junk), Parts: 1, Bytes: junk}).Marshal()
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := m.g.cur.epoch.Encrypt(pt)
		if err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			body[len(body)-1] ^= 1 // the signature no longer verifies
		} else {
			signed++
		}
		if _, err := m.c.Append(ctx, m.g.cur.id, (*[wire.CapSize]byte)(&w), body); err != nil {
			t.Fatal(err)
		}
	}
	return signed
}

// TestGroupWarningFloodIsBounded attacks spec/groups.md §6.2 ("at most
// one warning per sender per read for the entries it cannot use"): a
// member writes thousands of entries the victim cannot use, around an
// honest member's messages. The victim reads every message, in order,
// and is told once, with the count, per sender (and once for the entries
// nobody signed), not once per entry; a second read finds nothing more.
func TestGroupWarningFloodIsBounded(t *testing.T) {
	t.Parallel()
	ms := newTestGroup(t, 3)
	ana, ben, mal := ms[0], ms[1], ms[2]
	n := 1500 // more than one LREAD's worth (groupReadBatch)
	if testing.Short() {
		n = groupReadBatch/2 + 10 // the two floods still span more than one LREAD
	}
	ana.send(t, "one")
	signed := floodUnreadable(t, mal, n)
	ana.send(t, "two")
	signed += floodUnreadable(t, mal, n)
	ana.send(t, "three")

	evs := ben.poll(t)
	if got := texts(evs); len(got) != 3 || got[0] != "m0: one" || got[1] != "m0: two" || got[2] != "m0: three" {
		t.Fatalf("ben read %q around the garbage", got)
	}
	ws := warnings(evs)
	if len(ws) > 2 {
		t.Fatalf("%d entries nobody can read made %d warnings; the first: %q", 2*n, len(ws), ws[:3])
	}
	all := strings.Join(ws, "\n")
	for _, want := range []string{
		fmt.Sprint(signed) + " entries from m2 could not be read",
		fmt.Sprint(2*n-signed) + " entries that do not authenticate",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no warning says %q: %q", want, ws)
		}
	}
	if ben.g.cur.roster.Epoch != 1 || len(ben.g.asm.List) != 0 {
		t.Errorf("the garbage left ben in epoch %d with %d commits in progress", ben.g.cur.roster.Epoch, len(ben.g.asm.List))
	}
	if again := ben.poll(t); len(again) != 0 {
		t.Errorf("a second read found %+v", again)
	}
	ana.send(t, "four")
	if got := texts(ben.poll(t)); len(got) != 1 || got[0] != "m0: four" {
		t.Errorf("after the flood ben read %q", got)
	}
}
