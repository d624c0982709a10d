package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// groupMembers returns the nicknames `group members --json` lists, with
// " (admin)" after admins.
func (p *profile) groupMembers(group string) []string {
	p.t.Helper()
	var v struct {
		Members []struct {
			Nick  string `json:"nick"`
			Admin bool   `json:"admin"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(p.ok("group", "members", group, "--json")), &v); err != nil {
		p.t.Fatal(err)
	}
	var out []string
	for _, m := range v.Members {
		if m.Admin {
			m.Nick += " (admin)"
		}
		out = append(out, m.Nick)
	}
	return out
}

func texts(ms []message) (out []string) {
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return out
}

// joinGroup has admin invite p into group as nick; both sides sync, so
// p is in when it returns. It returns p's chat ID and the key used.
func joinGroup(t *testing.T, admin, p *profile, group, nick string) (string, string) {
	t.Helper()
	key := admin.ok("group", "invite", group)
	chat := p.ok("join", key, "--as", nick)
	admin.ok("group", "sync") // admits p: a new epoch sealed to everyone
	p.ok("group", "sync")     // p reads the welcome
	return chat, key
}

func TestE2EGroup(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	ana, ben, cat, dan := newProfile(t, r.addr), newProfile(t, r.addr), newProfile(t, r.addr), newProfile(t, r.addr)
	ana.ok("group", "create", "river", "--as", "ana")
	bGroup, key1 := joinGroup(t, ana, ben, "river", "ben")
	ana.ok("send", "river", "before cat")
	cGroup, _ := joinGroup(t, ana, cat, "river", "cat")
	ben.ok("group", "sync")

	// A used group key is dead.
	_, errOut, code := dan.run("join", key1, "--as", "dan")
	if code == 0 || !strings.Contains(errOut, "already used") {
		t.Fatalf("reusing a group key: exit %d, %s", code, errOut)
	}

	if got := cat.groupMembers(cGroup); !slices.Equal(got, []string{"ana (admin)", "ben", "cat"}) {
		t.Fatalf("cat sees members %q", got)
	}
	// Every member of the epoch prints the same verification code.
	if a, b, c := ana.ok("group", "verify", "river"), ben.ok("group", "verify", bGroup), cat.ok("group", "verify", cGroup); a != b || a != c || !strings.Contains(a, "epoch 3") {
		t.Fatalf("group verify: ana %q, ben %q, cat %q", a, b, c)
	}
	// A message from each reaches the two others.
	ana.ok("send", "river", "from ana")
	ben.ok("send", bGroup, "from ben")
	cat.ok("send", cGroup, "from cat")
	for _, p := range []*profile{ana, ben, cat} {
		p.ok("group", "sync")
	}
	want := map[*profile][]string{
		ana: {"before cat", "from ana", "from ben", "from cat"},
		ben: {"before cat", "from ana", "from ben", "from cat"},
		cat: {"from ana", "from ben", "from cat"}, // nothing from before its join
	}
	chats := map[*profile]string{ana: "river", ben: bGroup, cat: cGroup}
	for p, w := range want {
		got := texts(p.read(chats[p]))
		slices.Sort(got)
		if !slices.Equal(got, w) {
			t.Fatalf("%s read %q, want %q", p.home, got, w)
		}
	}

	// ana removes cat; cat's client keeps what it had, read-only, and
	// reads nothing after, while ana and ben continue.
	ana.ok("group", "remove", "river", "cat")
	ana.ok("send", "river", "cat is out")
	ben.ok("group", "sync")
	if got := texts(ben.read(bGroup)); !slices.Contains(got, "cat is out") {
		t.Fatalf("ben after the removal: %q", got)
	}
	evs := chatEvents(cat.watch(1, 30*time.Second))
	if len(evs) != 1 || evs[0].Type != "group_removed" {
		t.Fatalf("cat saw %+v, want its removal", evs)
	}
	if !slices.Contains(cat.chatIDs(), cGroup) {
		t.Fatal("the removed member lost the group's history")
	}
	if got := texts(cat.read(cGroup)); slices.Contains(got, "cat is out") || len(got) == 0 {
		t.Fatalf("the removed member reads %q", got)
	}
	if errOut := cat.fails(1, "send", cGroup, "still here?"); !strings.Contains(errOut, "you were removed from river by ana") {
		t.Fatalf("send after removal: %s", errOut)
	}
	if out := cat.ok("chats"); !strings.Contains(out, "read-only") {
		t.Fatalf("chats after removal: %s", out)
	}
	cat.ok("burn", "--yes", cGroup)
	if slices.Contains(cat.chatIDs(), cGroup) {
		t.Fatal("burn left the removed group")
	}
	if got := ben.groupMembers(bGroup); !slices.Equal(got, []string{"ana (admin)", "ben"}) {
		t.Fatalf("ben sees members %q after the removal", got)
	}

	// ben, not an admin, replaces its keys; the group goes on.
	ben.ok("group", "rekey", bGroup)
	ana.ok("group", "sync")
	ana.ok("send", "river", "after ben's rekey")
	ben.ok("group", "sync")
	if got := texts(ben.read(bGroup)); !slices.Contains(got, "after ben's rekey") {
		t.Fatalf("ben after its rekey: %q", got)
	}

	// Promote, then leave: ben becomes an admin, admits dan, and leaves;
	// ana's client commits the leave.
	ana.ok("group", "promote", "river", "ben")
	ben.ok("group", "sync")
	if got := ben.groupMembers(bGroup); !slices.Equal(got, []string{"ana (admin)", "ben (admin)"}) {
		t.Fatalf("ben sees members %q after the promotion", got)
	}
	dGroup, _ := joinGroup(t, ben, dan, bGroup, "dan")
	ana.ok("group", "sync")
	ben.ok("group", "leave", bGroup)
	if slices.Contains(ben.chatIDs(), bGroup) {
		t.Fatal("ben still has the group after leaving")
	}
	ana.ok("group", "sync")
	dan.ok("group", "sync")
	if got := dan.groupMembers(dGroup); !slices.Equal(got, []string{"ana (admin)", "dan"}) {
		t.Fatalf("dan sees members %q after ben left", got)
	}

	// Burn: the group is erased for every member.
	ana.ok("burn", "--yes", "river")
	if slices.Contains(ana.chatIDs(), "river") {
		t.Fatal("burn left the group on the admin's side")
	}
	dan.ok("group", "sync")
	if slices.Contains(dan.chatIDs(), dGroup) {
		t.Fatal("burn left the group on a member's side")
	}
}

// TestE2EGroupDeadline checks that `group create --expires` sets the
// group's deadline and that members join such a group. The deadline
// passing is client's TestTimerGroupDeadline, on a clock it moves.
func TestE2EGroupDeadline(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	ana, ben := newProfile(t, r.addr), newProfile(t, r.addr)
	const life = time.Hour
	before := time.Now()
	gid := ana.ok("group", "create", "brief", "--as", "ana", "--expires", life.String())
	after := time.Now()
	wantAfter(t, "the group's deadline", ana.chat(gid).Deadline, before, after, life)
	bGroup, _ := joinGroup(t, ana, ben, "brief", "ben")
	if got := ben.groupMembers(bGroup); !slices.Equal(got, []string{"ana (admin)", "ben"}) {
		t.Fatalf("ben sees members %q", got)
	}
	ana.ok("group", "sync")
	ben.ok("group", "sync")
	if !slices.Contains(ana.chatIDs(), gid) || !slices.Contains(ben.chatIDs(), bGroup) {
		t.Fatal("the group ended before its deadline")
	}
}

// TestE2EGroupStates: a joiner waits in one state until it is let in; an
// admin changes the group's timer and lifetime with group set; a member
// cannot.
func TestE2EGroupStates(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	ana, ben := newProfile(t, r.addr), newProfile(t, r.addr)
	gid := ana.ok("group", "create", "river", "--as", "ana")
	key := ana.ok("group", "invite", "river")
	bGroup := ben.ok("join", key, "--as", "ben")
	const waiting = "waiting for an admin to let you in"
	if out := ben.ok("chats"); !strings.Contains(out, waiting) {
		t.Fatalf("chats while waiting: %s", out)
	}
	if errOut := ben.fails(1, "send", bGroup, "hello?"); !strings.Contains(errOut, waiting) {
		t.Fatalf("send while waiting: %s", errOut)
	}
	if errOut := ben.fails(1, "group", "members", bGroup); !strings.Contains(errOut, waiting) {
		t.Fatalf("members while waiting: %s", errOut)
	}
	ana.ok("group", "sync")
	ben.ok("group", "sync")
	if out := ben.ok("chats"); strings.Contains(out, waiting) {
		t.Fatalf("chats once in: %s", out)
	}
	ben.ok("send", bGroup, "in")

	if errOut := ben.fails(1, "group", "set", bGroup, "--timer", "1h"); !strings.Contains(errOut, "not an admin of river") {
		t.Fatalf("a member's group set: %s", errOut)
	}
	ana.ok("group", "set", "river", "--timer", "1h", "--expires", "2h")
	ben.ok("group", "sync")
	c := ben.chat(bGroup)
	if c.MessageTTL != time.Hour || c.Deadline.IsZero() {
		t.Fatalf("ben's chat after group set: %+v", c)
	}
	ben.ok("send", bGroup, "brief", "--ttl", "10m")
	ana.ok("group", "sync")
	found := false
	for _, m := range ana.readTimed(gid) {
		if m.Text == "brief" {
			found = true
			if m.Expires.IsZero() || time.Until(m.Expires) > 10*time.Minute {
				t.Fatalf("a 10m message expires at %v", m.Expires)
			}
		}
	}
	if !found {
		t.Fatal("ana did not read the 10m message")
	}
}

// TestE2EGroupTwoRelays: a group created on two relays keeps talking
// through the second while the first is down, refuses roster changes
// meanwhile (they wait for the first), and holds each message once.
func TestE2EGroupTwoRelays(t *testing.T) {
	t.Parallel()
	r1, r2 := newTestRelay(t), newTestRelay(t)
	ana, ben := newProfile(t, r1.addr), newProfile(t, r1.addr)
	gid := ana.ok("group", "create", "river", "--as", "ana", "--relay", r1.addr, "--relay", r2.addr)
	key := ana.ok("group", "invite", "river")
	bGroup := ben.ok("join", key, "--as", "ben")
	ana.ok("group", "sync")
	ben.ok("group", "sync")
	ben.ok("send", bGroup, "both up")
	r1.stop()
	ben.ok("send", bGroup, "first down")
	ana.ok("group", "sync")
	if errOut := ana.fails(1, "group", "remove", "river", "ben"); !strings.Contains(errOut, "primary relay is unreachable") {
		t.Fatalf("a remove with the first relay down: %s", errOut)
	}
	r1.start()
	ana.ok("group", "sync")
	ben.ok("group", "sync")
	ana.ok("group", "sync")
	seen := map[string]int{}
	for _, m := range ana.read(gid) {
		seen[m.Text]++
	}
	if seen["both up"] != 1 || seen["first down"] != 1 {
		t.Fatalf("ana holds %v", seen)
	}
}
