package main

import (
	"bytes"
	"encoding/base64"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer a child's stderr copier writes while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newPasswordRelay runs `veil-relay serve --password-file` with pw,
// logging at debug level into the returned buffer.
func newPasswordRelay(t *testing.T, pw string) (*testRelay, *syncBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	r := &testRelay{t: t, dir: t.TempDir(), port: ln.Addr().(*net.TCPAddr).Port, logTo: logs}
	ln.Close()
	pwFile := filepath.Join(t.TempDir(), "relay-password")
	(&profile{t: t}).writeFile(pwFile, pw)
	r.extra = []string{"--password-file", pwFile, "--log-level", "debug"}
	r.start()
	t.Cleanup(r.stop)
	return r, logs
}

// TestE2EPasswordRelay: a private relay (veil-relay --password-file). The
// inviter adds the password from a file; `relay list` says (password) and
// never shows it; a profile without it is told how to add it; the invite
// key carries it, so the joiner's mailbox there works, and a group's
// joiner, promoted, makes a commit there. Nothing printed but the invite
// keys, and nothing the relay logs at debug level, holds the password.
func TestE2EPasswordRelay(t *testing.T) {
	t.Parallel()
	const pw = "pw-SENTINEL-3f9a"
	enc := base64.RawURLEncoding.EncodeToString([]byte(pw))
	r, relayLogs := newPasswordRelay(t, pw)
	host := strings.TrimPrefix(r.addr[:strings.IndexByte(r.addr, '#')], "veil+ws://")
	var printed []string // every stdout and stderr but the invite keys
	run := func(p *profile, args ...string) (string, string, int) {
		t.Helper()
		out, errOut, code := p.run(args...)
		printed = append(printed, out, errOut)
		return out, errOut, code
	}
	ok := func(p *profile, args ...string) string {
		t.Helper()
		out, errOut, code := run(p, args...)
		if code != 0 {
			t.Fatalf("veil %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return strings.TrimSpace(out)
	}
	key := func(p *profile, args ...string) string {
		t.Helper()
		k := p.ok(args...) // the key itself holds the password
		if !strings.Contains(k, "~"+enc+".") {
			t.Fatalf("the key of %v does not carry the relay's password", args)
		}
		return k
	}

	ana, ben, cat := newProfile(t, r.addr), newProfile(t, r.addr), newProfile(t, r.addr)
	// Without the password: the error says what to do, naming host:port.
	_, errOut, code := run(cat, "invite")
	if code == 0 || !strings.Contains(errOut, "relay "+host+" needs a password: veil relay add ADDRESS --password-file FILE (ask its operator)") {
		t.Fatalf("invite without the password: exit %d, %s", code, errOut)
	}
	// A wrong one: refused, said so.
	wrong := filepath.Join(t.TempDir(), "wrong")
	cat.writeFile(wrong, "not it")
	ok(cat, "relay", "add", r.addr, "--password-file", wrong)
	if _, errOut, code := run(cat, "group", "create", "x"); code == 0 || !strings.Contains(errOut, "relay "+host+" refused the password stored for it") {
		t.Fatalf("group create with a wrong password: exit %d, %s", code, errOut)
	}

	pwFile := filepath.Join(t.TempDir(), "pw")
	ana.writeFile(pwFile, pw)
	ok(ana, "relay", "add", r.addr, "--password-file", pwFile)
	if l := ok(ana, "relay", "list"); !strings.Contains(l, r.addr+"  (password)") {
		t.Fatalf("relay list: %q", l)
	}

	// 1:1: ben had no password; the key's is used and kept.
	k := key(ana, "invite", "--name", "ben", "--as", "ana")
	ok(ben, "join", k, "--name", "ana", "--as", "ben")
	ok(ben, "send", "ana", "hello ana")
	evs, _, _ := run(ana, "watch", "--json", "--count", "2", "--timeout", "30s")
	if !strings.Contains(evs, `"text":"hello ana"`) {
		t.Fatalf("ana's events: %s", evs)
	}
	if l := ok(ben, "relay", "list"); !strings.Contains(l, "(password)") {
		t.Fatalf("ben's relay list after the join: %q", l)
	}

	// A group: ben and cat join (cat's wrong password stays: it is stored,
	// the key's is only an offer), ben is promoted and removes cat.
	ok(ana, "group", "create", "river", "--as", "ana")
	k = key(ana, "group", "invite", "river")
	bGroup := ok(ben, "join", k, "--as", "ben")
	ok(ana, "group", "sync")
	ok(ben, "group", "sync")
	k = key(ana, "group", "invite", "river")
	ok(cat, "join", k, "--as", "cat")
	ok(ana, "group", "sync")
	ok(cat, "group", "sync")
	ok(ben, "group", "sync")
	ok(ana, "group", "promote", "river", "ben")
	ok(ben, "group", "sync")
	ok(ben, "group", "remove", bGroup, "cat")
	ok(ben, "send", bGroup, "cat is out")
	ok(ana, "group", "sync")
	if got := texts(ana.read("river")); !strings.Contains(strings.Join(got, "|"), "cat is out") {
		t.Fatalf("ana after ben's removal: %q", got)
	}
	members := ok(ana, "group", "members", "river")
	if strings.Contains(members, "cat") {
		t.Fatalf("cat still a member: %s", members)
	}
	printed = append(printed, ok(ana, "chats", "--json"), ok(ben, "chats", "--json"), ok(ana, "invites"))

	r.stop() // waits for the relay's last log lines
	printed = append(printed, relayLogs.String())
	for _, s := range printed {
		if strings.Contains(s, pw) || strings.Contains(s, enc) {
			t.Fatalf("printed text holds the relay password: %q", s)
		}
	}
}
