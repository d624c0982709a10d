package main

import (
	"strings"
	"testing"
)

// TestE2ECommandsSayWhatTheyDid: join names the chat and the next step,
// burn asks on a terminal and refuses a script without --yes, and burn,
// group leave, wipe and panic each say what they did; stdout keeps only
// what scripts read.
func TestE2ECommandsSayWhatTheyDid(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	ana := newProfile(t, r.addr)
	ben := newProfile(t, r.addr)
	// The test relay is on 127.0.0.1: invite warns that the key works on
	// this machine only, unless --local says that is the point.
	key, errOut, code := ana.run("invite", "--name", "ben", "--as", "ana")
	key = strings.TrimSpace(key)
	if code != 0 || !strings.Contains(errOut, "warning: this invite's relay can be reached from this machine only") || !strings.Contains(errOut, "veil relay add URL") {
		t.Errorf("invite on a loopback relay: exit %d, said %q", code, errOut)
	}
	if _, errOut, code := ana.run("invite", "--local", "--name", "other"); code != 0 || strings.Contains(errOut, "warning") {
		t.Errorf("invite --local: exit %d, said %q", code, errOut)
	}
	out, errOut, code := ben.run("join", key, "--name", "ana", "--as", "ben")
	if code != 0 || strings.Count(out, "\n") != 1 || len(strings.Fields(out)) != 1 {
		t.Fatalf("join: exit %d, stdout %q (want the chat id alone)", code, out)
	}
	if !strings.Contains(errOut, `Joined chat "ana"`) || !strings.Contains(errOut, "veil verify ana") || !strings.Contains(errOut, "veil send ana") {
		t.Errorf("join said %q", errOut)
	}

	// Without a terminal and without --yes, burn erases nothing.
	if errOut := ben.fails(2, "burn", "ana"); !strings.Contains(errOut, "pass --yes") {
		t.Errorf("burn without --yes said %q", errOut)
	}
	if ids := ben.chatIDs(); len(ids) != 1 {
		t.Fatalf("burn without --yes left chats %v", ids)
	}
	if _, errOut, code := ben.run("burn", "--yes", "ana"); code != 0 || !strings.Contains(errOut, `Burned "ana"`) {
		t.Errorf("burn: exit %d, said %q", code, errOut)
	}

	ana.ok("group", "create", "river", "--as", "ana")
	if _, errOut, code := ana.run("group", "leave", "river"); code != 0 || !strings.Contains(errOut, `Left group "river"`) {
		t.Errorf("group leave: exit %d, said %q", code, errOut)
	}

	for _, tc := range []struct {
		p    *profile
		args []string
	}{{ana, []string{"wipe", "--yes"}}, {ben, []string{"panic"}}} {
		if _, errOut, code := tc.p.run(tc.args...); code != 0 || !strings.Contains(errOut, "Profile erased") {
			t.Errorf("%v: exit %d, said %q", tc.args, code, errOut)
		}
	}
}
