package main

// File attachments end to end (spec/client.md §5.12): real veil processes
// and a real veil-relay with metrics, so the tests can count the chunks the
// relay stored, returned and deleted.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chunkPlain is the plaintext one chunk carries (crypto.FileChunkPlain).
const chunkPlain = 15984

// maxRepeat bounds the chunks a transfer killed once moves again: the
// positions acknowledged since its last checkpoint (one every 256) and
// the 128 in flight.
const maxRepeat = 256 + 128

// fileJSON is one line of veil files --json.
type fileJSON struct {
	ID       string `json:"id"`
	Outgoing bool   `json:"outgoing"`
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	State    string `json:"state"`
	Done     uint32 `json:"done"`
	Total    uint32 `json:"total"`
	Err      string `json:"error"`
}

// writeRandomFile writes size bytes from a seeded generator to path and
// returns their SHA-256.
func writeRandomFile(t testing.TB, path string, size int64, seed uint64) [32]byte {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	src := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 'v', 'e', 'i', 'l'})
	if _, err := io.CopyN(io.MultiWriter(f, h), src, size); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

func sha256File(t testing.TB, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// runFor runs veil like run, with a longer bound for big transfers.
func (p *profile) runFor(timeout time.Duration, args ...string) (string, string, int) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := p.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		p.t.Fatalf("veil %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// okFor is ok with runFor's bound.
func (p *profile) okFor(timeout time.Duration, args ...string) string {
	p.t.Helper()
	out, errOut, code := p.runFor(timeout, args...)
	if code != 0 {
		p.t.Fatalf("veil %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return strings.TrimSpace(out)
}

// command is a veil command of this profile, not started.
func (p *profile) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, veilBin, append([]string{"--home", p.home, "--pin-file", p.pin}, args...)...)
	cmd.Env = append(append(os.Environ(), fastKDFEnv+"=1", "VEIL_HOME="), p.env...)
	return cmd
}

// files lists chat's files (without receiving first).
func (p *profile) files(chat string) []fileJSON {
	p.t.Helper()
	var fs []fileJSON
	for _, line := range strings.Split(p.ok("files", chat, "--json"), "\n") {
		if line == "" {
			continue
		}
		var f fileJSON
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			p.t.Fatalf("files printed a line that is not JSON: %q", line)
		}
		fs = append(fs, f)
	}
	return fs
}

// awaitFile receives (veil watch) until chat holds an incoming file in one
// of states, and returns it.
func (p *profile) awaitFile(chat string, limit time.Duration, states ...string) fileJSON {
	p.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		for _, f := range p.files(chat) {
			if f.Outgoing {
				continue
			}
			for _, s := range states {
				if f.State == s {
					return f
				}
			}
			if f.State == "failed" || f.State == "refused" {
				p.t.Fatalf("incoming file %+v", f)
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no incoming file in state %v in %s: %+v", states, limit, p.files(chat))
		}
		p.okFor(time.Minute, "watch", "--timeout", "2s")
	}
}

// awaitOutgoing runs the engine (veil watch) until chat's file id is in
// state.
func (p *profile) awaitOutgoing(chat, id, state string, limit time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		for _, f := range p.files(chat) {
			if f.ID == id && f.State == state {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("file %s not %s in %s: %+v", id, state, limit, p.files(chat))
		}
		p.okFor(time.Minute, "watch", "--timeout", "3s")
	}
}

// killAt starts cmd and kills it with SIGKILL once count() reaches at
// least at; it reports whether the kill came before cmd ended on its own.
func killAt(t *testing.T, cmd *exec.Cmd, count func() float64, at float64) bool {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	go func() { cmd.Wait(); close(ended) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ended:
			t.Logf("%s ended before the kill: %s", cmd.Args[len(cmd.Args)-1], out.String())
			return false
		case <-tick.C:
			if count() >= at {
				cmd.Process.Signal(syscall.SIGKILL)
				<-ended
				return true
			}
		}
	}
}

// blobs lists the files of the file store under a profile directory.
func blobs(t *testing.T, home string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(path)) == "files" {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// TestE2EFileTransfer sends a file between two profiles over a real relay
// (5 MB under -short, 100 MB in the long tier): SHA-256 equal, each chunk
// stored once, no progress bar off a terminal, and veil save refuses to
// overwrite a file or a link without --force (and with it replaces the
// link, not its target).
func TestE2EFileTransfer(t *testing.T) {
	t.Parallel()
	size := int64(100_000_000)
	if testing.Short() {
		size = 5_000_000
	}
	r := startMetricsRelay(t)
	ana, ben := newProfile(t, r.addr), newProfile(t, r.addr)
	aChat, bChat := connect(t, ana, ben)
	ana.ok("files", "--auto", "0") // the download is veil save's

	src := filepath.Join(t.TempDir(), "holiday photos.bin")
	sum := writeRandomFile(t, src, size, 1)
	start := time.Now()
	out, errOut, code := ben.runFor(10*time.Minute, "send", bChat, "--file", src)
	if code != 0 {
		t.Fatalf("send --file: exit %d: %s %s", code, out, errOut)
	}
	up := time.Since(start)
	id := strings.TrimSpace(out)
	if strings.Contains(errOut, "\r") || strings.Contains(errOut, "MB/s") {
		t.Fatalf("a progress bar off a terminal: %q", errOut)
	}
	if fs := ben.files(bChat); len(fs) != 1 || fs[0].ID != id || fs[0].State != "sent" || fs[0].Size != size || !fs[0].Outgoing {
		t.Fatalf("ben's files after the send: %+v", fs)
	}
	n := counter(r.metrics(t), "veil_relay_chunks_stored_total")
	if n < float64(size/chunkPlain) || n > float64(size/chunkPlain)*1.13+1 {
		t.Fatalf("the relay stored %.0f chunks for %d bytes", n, size)
	}

	f := ana.awaitFile(aChat, 2*time.Minute, "offered")
	if f.Name != "holiday photos.bin" || f.Size != size {
		t.Fatalf("ana's file: %+v", f)
	}
	dir := t.TempDir()
	start = time.Now()
	saved := ana.okFor(10*time.Minute, "save", aChat, f.ID, "--out", dir)
	down := time.Since(start)
	if want := filepath.Join(dir, "holiday photos.bin"); saved != want {
		t.Fatalf("saved to %q, want %q", saved, want)
	}
	if got := sha256File(t, saved); got != sum {
		t.Fatalf("SHA-256 of the saved copy %x, sent %x", got, sum)
	}
	t.Logf("%d bytes in %.0f chunks: upload %s, download and save %s", size, n, up.Round(time.Millisecond), down.Round(time.Millisecond))
	if reads := counter(r.metrics(t), "veil_relay_chunks_read_total"); reads != n {
		t.Errorf("the relay returned %.0f chunks of %.0f", reads, n)
	}
	if fs := ana.files(aChat); len(fs) != 1 || fs[0].State != "ready" {
		t.Fatalf("ana's files after the save: %+v", fs)
	}
	if table := ana.ok("files", aChat); !strings.Contains(table, f.ID) || !strings.Contains(table, "holiday photos.bin") || !strings.Contains(table, "ready") {
		t.Fatalf("veil files: %q", table)
	}

	// veil save refuses what exists.
	errOut = ana.fails(1, "save", aChat, f.ID, "--out", dir)
	if !strings.Contains(errOut, saved+" exists (use --force)") {
		t.Fatalf("save onto the saved copy: %q", errOut)
	}
	victim := filepath.Join(dir, "victim.txt")
	if err := os.WriteFile(victim, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{victim, link, dangling} {
		if errOut := ana.fails(1, "save", aChat, f.ID, "--out", p); !strings.Contains(errOut, p+" exists (use --force)") {
			t.Fatalf("save onto %s: %q", p, errOut)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); err == nil {
		t.Fatal("save followed a dangling link")
	}
	ana.okFor(5*time.Minute, "save", aChat, f.ID, "--out", link, "--force")
	if b, _ := os.ReadFile(victim); string(b) != "keep me" {
		t.Fatal("save --force wrote through the link into its target")
	}
	if st, err := os.Lstat(link); err != nil || !st.Mode().IsRegular() {
		t.Fatalf("after save --force the link is %v (%v), want a regular file", st.Mode(), err)
	}
	if got := sha256File(t, link); got != sum {
		t.Fatal("save --force wrote something else")
	}
	// Usage errors.
	ana.fails(2, "send", aChat, "text", "--file", src)
	ana.fails(2, "files")
	ana.fails(2, "files", "--auto", "lots")
	if errOut := ana.fails(1, "send", aChat, "--file", dir); !strings.Contains(errOut, "not a regular file") {
		t.Fatalf("send --file DIR: %q", errOut)
	}
}

// TestE2EFileResumeAfterKill kills the sender (SIGKILL) at about 40 % of
// its upload and the receiver at about 40 % of its download: each resumes
// where its last checkpoint was and the copy is whole. The relay stores
// each chunk once; at most maxRepeat chunks are fetched twice.
func TestE2EFileResumeAfterKill(t *testing.T) {
	t.Parallel()
	size := int64(100_000_000)
	if testing.Short() {
		size = 20_000_000
	}
	r := startMetricsRelay(t)
	ana, ben := newProfile(t, r.addr), newProfile(t, r.addr)
	aChat, bChat := connect(t, ana, ben)
	ana.ok("files", "--auto", "0")
	src := filepath.Join(t.TempDir(), "big.bin")
	sum := writeRandomFile(t, src, size, 2)
	approx := float64(size / chunkPlain)
	stored := func() float64 { return counter(r.metrics(t), "veil_relay_chunks_stored_total") }
	read := func() float64 { return counter(r.metrics(t), "veil_relay_chunks_read_total") }

	killedUp := killAt(t, ben.command(context.Background(), "send", bChat, "--file", src), stored, 0.4*approx)
	fs := ben.files(bChat)
	if len(fs) != 1 {
		t.Fatalf("after the kill ben has %+v", fs)
	}
	t.Logf("sender killed: %v, at %d of %d chunks checkpointed (%s)", killedUp, fs[0].Done, fs[0].Total, fs[0].State)
	ben.awaitOutgoing(bChat, fs[0].ID, "sent", 5*time.Minute)
	n := stored()
	if n < approx || n > approx*1.13+1 {
		t.Fatalf("the relay stored %.0f chunks for %d bytes (each once)", n, size)
	}
	// A chunk put again after the kill is answered EXISTS.
	again := max(0, counter(r.metrics(t), `veil_relay_errors_total{code="EXISTS"}`))
	t.Logf("the relay stored %.0f chunks and answered %.0f puts again with EXISTS", n, again)
	if again > maxRepeat {
		t.Fatalf("%.0f chunks put again after the kill, more than %d", again, maxRepeat)
	}

	f := ana.awaitFile(aChat, 2*time.Minute, "offered")
	out := filepath.Join(t.TempDir(), "copy.bin")
	killedDown := killAt(t, ana.command(context.Background(), "save", aChat, f.ID, "--out", out), read, 0.4*n)
	if _, err := os.Lstat(out); killedDown && err == nil {
		t.Fatal("a download killed half way left its output")
	}
	ana.okFor(10*time.Minute, "save", aChat, f.ID, "--out", out)
	if got := sha256File(t, out); got != sum {
		t.Fatalf("SHA-256 after the resumes %x, sent %x", got, sum)
	}
	reads := read()
	t.Logf("receiver killed: %v; the relay returned %.0f chunk reads for %.0f chunks", killedDown, reads, n)
	// A kill loses what came after the last checkpoint: at most one
	// checkpoint's worth of positions and the chunks in flight.
	if again := reads - n; again < 0 || again > maxRepeat {
		t.Fatalf("%.0f chunk reads for %.0f chunks: %.0f fetched again, more than %d", reads, n, again, maxRepeat)
	}
}

// TestE2EFileBurnDuringDownload: the sender, or the receiver itself
// (through its daemon, which runs the download), burns the chat while
// the receiver downloads; the download stops with an error, nothing of
// the file stays on either disk, and the relay's chunks are deleted.
func TestE2EFileBurnDuringDownload(t *testing.T) {
	for _, who := range []string{"sender", "receiver"} {
		t.Run(who, func(t *testing.T) { testFileBurnDuringDownload(t, who == "receiver") })
	}
}

func testFileBurnDuringDownload(t *testing.T, receiverBurns bool) {
	size := int64(60_000_000)
	if testing.Short() {
		size = 20_000_000
	}
	r := startMetricsRelay(t)
	ana, ben := newProfile(t, r.addr), newProfile(t, r.addr)
	aChat, bChat := connect(t, ana, ben)
	ana.ok("files", "--auto", "0")
	src := filepath.Join(t.TempDir(), "burn.bin")
	writeRandomFile(t, src, size, 3)
	ben.okFor(10*time.Minute, "send", bChat, "--file", src)
	n := counter(r.metrics(t), "veil_relay_chunks_stored_total")
	f := ana.awaitFile(aChat, 2*time.Minute, "offered")
	if receiverBurns {
		runDaemon(t, ana)
	}

	out := filepath.Join(t.TempDir(), "never.bin")
	save := ana.command(context.Background(), "save", aChat, f.ID, "--out", out)
	var saveOut bytes.Buffer
	save.Stdout, save.Stderr = &saveOut, &saveOut
	if err := save.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- save.Wait() }()
	for counter(r.metrics(t), "veil_relay_chunks_read_total") < 0.2*n {
		select {
		case err := <-ended:
			t.Fatalf("the download ended before the burn (%v): %s", err, saveOut.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if receiverBurns {
		ana.ok("burn", aChat, "--yes")
	} else {
		ben.ok("burn", bChat, "--yes")
	}
	select {
	case err := <-ended:
		if err == nil || !strings.Contains(saveOut.String(), "the chat is gone") {
			t.Fatalf("save across a burn: %v: %s", err, saveOut.String())
		}
		t.Logf("save after the burn: %v: %s", err, strings.TrimSpace(saveOut.String()))
	case <-time.After(2 * time.Minute):
		save.Process.Kill()
		t.Fatal("save went on after the burn")
	}
	if _, err := os.Lstat(out); err == nil {
		t.Fatal("the burned file was saved")
	}
	if ids := ana.chatIDs(); len(ids) != 0 {
		t.Fatalf("ana still has chats %v", ids)
	}
	if b := blobs(t, ana.home); len(b) != 0 {
		t.Fatalf("blobs left after the burn: %v", b)
	}
	// The sender drops its copy once it has the burn (its own, or the
	// receiver's when it next runs).
	for deadline := time.Now().Add(time.Minute); len(blobs(t, ben.home)) != 0; {
		if !receiverBurns || time.Now().After(deadline) {
			t.Fatalf("the sender's blobs left after the burn: %v", blobs(t, ben.home))
		}
		ben.okFor(time.Minute, "watch", "--timeout", "2s")
	}
	// The chunks go from the relay: the burn's delete tasks run.
	deadline := time.Now().Add(time.Minute)
	for counter(r.metrics(t), "veil_relay_chunks_deleted_total") < n {
		if time.Now().After(deadline) {
			t.Fatalf("the relay deleted %.0f of %.0f chunks after the burn", counter(r.metrics(t), "veil_relay_chunks_deleted_total"), n)
		}
		ben.okFor(time.Minute, "watch", "--timeout", "2s")
		ana.okFor(time.Minute, "watch", "--timeout", "2s")
	}
}

// TestE2EFileNoPlaintextInProfile sends a 5 MB file full of a marker and
// reads every byte under both profile directories afterwards: the marker
// is only in the copy veil save wrote, outside them.
func TestE2EFileNoPlaintextInProfile(t *testing.T) {
	t.Parallel()
	r := startMetricsRelay(t)
	ana, ben := newProfile(t, r.addr), newProfile(t, r.addr)
	aChat, bChat := connect(t, ana, ben)
	var tag [16]byte
	for i := range tag {
		tag[i] = byte(rand.Uint32())
	}
	marker := []byte("MARKER-" + hex.EncodeToString(tag[:]) + "-")
	body := bytes.Repeat(marker, 5_000_000/len(marker)+1)[:5_000_000]
	src := filepath.Join(t.TempDir(), "marked.txt")
	if err := os.WriteFile(src, body, 0o600); err != nil {
		t.Fatal(err)
	}
	id := ben.okFor(5*time.Minute, "send", bChat, "--file", src)
	ben.awaitOutgoing(bChat, id, "sent", time.Minute)
	f := ana.awaitFile(aChat, 2*time.Minute, "ready") // under the auto limit
	out := filepath.Join(t.TempDir(), "marked.txt")
	ana.okFor(5*time.Minute, "save", aChat, f.ID, "--out", out)
	if b, err := os.ReadFile(out); err != nil || !bytes.Equal(b, body) {
		t.Fatalf("the saved copy differs (%v)", err)
	}
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	scanned := 0
	for _, home := range []string{ana.home, ben.home} {
		filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("reading %s: %v", path, err)
				return nil
			}
			scanned += len(b)
			if bytes.Contains(b, marker[:24]) {
				t.Errorf("%s holds the file's plaintext", path)
			}
			return nil
		})
	}
	if scanned < 5_000_000 {
		t.Fatalf("scanned only %d bytes: the blobs are not under the profile directories", scanned)
	}
	t.Logf("scanned %d bytes under both profiles", scanned)
}

// TestE2EFileGroup50 sends a 20 MB file to a group of 50: one upload
// (the relay stores each chunk once, not once per member), and members
// download and save the same bytes.
func TestE2EFileGroup50(t *testing.T) {
	if testing.Short() {
		t.Skip("a group of 50 runs in the long tier")
	}
	const members, size = 50, 20_000_000
	r := startMetricsRelay(t)
	admin := newProfile(t, r.addr)
	admin.ok("group", "create", "crowd", "--as", "m00")
	ps := []*profile{admin}
	chats := []string{"crowd"}
	for i := 1; i < members; i++ {
		p := newProfile(t, r.addr)
		chats = append(chats, p.ok("join", admin.ok("group", "invite", "crowd"), "--as", fmt.Sprintf("m%02d", i)))
		ps = append(ps, p)
	}
	// Each sync admits the members that joined, a batch at a time.
	for round := 0; len(admin.groupMembers("crowd")) < members; round++ {
		if round == 20 {
			t.Fatalf("the group has %d members after %d syncs", len(admin.groupMembers("crowd")), round)
		}
		admin.ok("group", "sync")
	}
	for _, p := range ps[1:] {
		p.ok("group", "sync")
	}
	src := filepath.Join(t.TempDir(), "slides.pdf")
	sum := writeRandomFile(t, src, size, 4)
	before := counter(r.metrics(t), "veil_relay_chunks_stored_total")
	ps[7].okFor(10*time.Minute, "send", chats[7], "--file", src)
	n := counter(r.metrics(t), "veil_relay_chunks_stored_total") - before
	if n < size/chunkPlain || n > size/chunkPlain*1.13+1 {
		t.Fatalf("the relay stored %.0f chunks for one %d-byte file to %d members", n, size, members)
	}
	for i, p := range ps {
		if i == 7 {
			continue
		}
		f := p.awaitFile(chats[i], 2*time.Minute, "offered")
		if i%10 != 3 {
			continue // every member got it; five of them download it
		}
		out := filepath.Join(t.TempDir(), "slides.pdf")
		p.okFor(5*time.Minute, "save", chats[i], f.ID, "--out", out)
		if sha256File(t, out) != sum {
			t.Fatalf("member %d saved other bytes", i)
		}
	}
	t.Logf("one upload of %.0f chunks served %d members", n, members-1)
}
