package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2EInvitesSearchVerify runs, as a user would: an invite written to a
// file (an existing file and a symbolic link refused), listed as open,
// shown again and cancelled; a search across chats; and the verified mark
// set, listed and removed.
func TestE2EInvitesSearchVerify(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	a, b := newProfile(t, r.addr), newProfile(t, r.addr)

	dir := t.TempDir()
	existing := filepath.Join(dir, "existing")
	a.writeFile(existing, "keep me")
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "target"), link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{existing, link} {
		if msg := a.fails(1, "invite", "--out", p); !strings.Contains(msg, "already exists") {
			t.Fatalf("invite --out %s: %q", p, msg)
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me\n" {
		t.Fatalf("the existing file changed: %q", b)
	}
	if _, err := os.Lstat(filepath.Join(dir, "target")); !os.IsNotExist(err) {
		t.Fatal("the link's target was created")
	}
	if out := a.ok("invites"); out != "" {
		t.Fatalf("refused invites were made: %q", out)
	}
	keyFile := filepath.Join(dir, "key")
	if out := a.ok("invite", "--name", "later", "--out", keyFile); out != "" {
		t.Fatalf("invite --out printed %q on stdout", out)
	}
	st, err := os.Stat(keyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	raw, _ := os.ReadFile(keyFile)
	key := strings.TrimSpace(string(raw))
	var inv struct {
		Chat   string    `json:"chat"`
		Until  time.Time `json:"until"`
		HasKey bool      `json:"has_key"`
	}
	if err := json.Unmarshal([]byte(a.ok("invites", "--json")), &inv); err != nil || !inv.HasKey || inv.Until.IsZero() {
		t.Fatalf("invites --json: %+v %v", inv, err)
	}
	if got := a.ok("invites", "--show", "later"); got != key {
		t.Fatalf("--show gave %q, the file holds %q", got, key)
	}
	a.ok("invite", "cancel", "later")
	if out := a.ok("invites"); out != "" {
		t.Fatalf("after cancel: %q", out)
	}
	if msg := b.fails(1, "join", key); !strings.Contains(msg, "already used") {
		t.Fatalf("joining a cancelled invite: %q", msg)
	}

	aChat, bChat := connect(t, a, b)
	b.ok("send", bChat, "Meet at the old MILL \x1b[31mtonight")
	a.watch(1, 30*time.Second)
	a.ok("send", aChat, "the mill, fine")
	out := a.ok("search", "mill")
	if lines := strings.Split(out, "\n"); len(lines) != 2 || !strings.Contains(lines[0], "the mill, fine") || strings.Contains(out, "\x1b") {
		t.Fatalf("search: %q", out)
	}
	var hit struct {
		Chat, From, Snippet string
	}
	if err := json.Unmarshal([]byte(strings.Split(a.ok("search", "OLD mill", "--json", "--chat", aChat), "\n")[0]), &hit); err != nil ||
		hit.Chat != aChat || hit.From != "ben" || !strings.Contains(hit.Snippet, "old MILL") {
		t.Fatalf("search --json: %+v %v", hit, err)
	}
	if out := a.ok("search", ".*"); out != "" {
		t.Fatalf("a regular expression matched: %q", out)
	}

	code := a.ok("verify", aChat)
	if len(strings.ReplaceAll(code, " ", "")) != 60 {
		t.Fatalf("code %q", code)
	}
	if qr := a.ok("verify", aChat, "--qr"); !strings.HasPrefix(qr, code+"\n") || len(qr) < 500 {
		t.Fatalf("verify --qr printed %d bytes", len(qr))
	}
	a.ok("verify", aChat, "--mark")
	if out := a.ok("chats"); !strings.Contains(out, "verified") || !strings.Contains(out, "post-quantum healing: on, ") {
		t.Fatalf("chats after --mark: %q", out)
	}
	if out := a.ok("chats", "--json"); !strings.Contains(out, `"verified":true`) || !strings.Contains(out, `"pq":{"on":true,"epochs":`) {
		t.Fatalf("chats --json after --mark: %q", out)
	}
	a.ok("verify", aChat, "--unmark")
	if out := a.ok("chats", "--json"); strings.Contains(out, `"verified"`) {
		t.Fatalf("chats --json after --unmark: %q", out)
	}
}
