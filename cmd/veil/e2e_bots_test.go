package main

// End-to-end tests of the local API with real processes: veil daemons, the
// echo bot of contrib/echobot, and apiConn, a client that speaks the API's
// JSON lines over the socket with the standard library alone, as any
// program may: spec/api.md is all a bot needs.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	echobotOnce sync.Once
	echobotBin  string
	echobotErr  error
)

// buildEchobot builds contrib/echobot beside the veil binary, once.
func buildEchobot(t *testing.T) string {
	t.Helper()
	echobotOnce.Do(func() {
		echobotBin = filepath.Join(filepath.Dir(veilBin), "echobot")
		out, err := exec.Command("go", "build", "-o", echobotBin, "../../contrib/echobot").CombinedOutput()
		if err != nil {
			echobotErr = fmt.Errorf("building echobot: %v\n%s", err, out)
		}
	})
	if echobotErr != nil {
		t.Fatal(echobotErr)
	}
	return echobotBin
}

// watchedOutput collects a process's output and reports when it first
// holds a given text.
type watchedOutput struct {
	mu   sync.Mutex
	b    bytes.Buffer
	want string
	seen chan struct{} // closed once b holds want
}

func (w *watchedOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if w.want != "" && strings.Contains(w.b.String(), w.want) {
		close(w.seen)
		w.want = ""
	}
	return len(p), nil
}

func (w *watchedOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// bgProc is a process running in the background for one test; the test's
// cleanup kills it if it still runs.
type bgProc struct {
	t           *testing.T
	name        string
	cmd         *exec.Cmd
	out, errOut *watchedOutput
	done        chan struct{} // closed when it has exited
	code        int
}

// startProc starts bin and waits until its stderr says await (when not
// empty).
func startProc(t *testing.T, await, bin string, args ...string) *bgProc {
	t.Helper()
	p := &bgProc{t: t, name: filepath.Base(bin) + " " + strings.Join(args, " "), done: make(chan struct{}),
		out: &watchedOutput{}, errOut: &watchedOutput{want: await, seen: make(chan struct{})}}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), fastKDFEnv+"=1", "VEIL_HOME=")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errOut
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	if await != "" {
		select {
		case <-p.errOut.seen:
		case <-p.done:
			t.Fatalf("%s exited %d before saying %q; stderr:\n%s", p.name, p.code, await, p.errOut)
		case <-time.After(60 * time.Second):
			t.Fatalf("%s did not say %q; stderr:\n%s", p.name, await, p.errOut)
		}
	}
	return p
}

// waitOutput waits until stderr holds text n times.
func (p *bgProc) waitOutput(text string, n int) {
	p.t.Helper()
	for deadline := time.Now().Add(60 * time.Second); strings.Count(p.errOut.String(), text) < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not say %q %d times; stderr:\n%s", p.name, text, n, p.errOut)
		}
	}
}

// wait waits up to d for the process to exit and returns its exit code.
func (p *bgProc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		p.t.Fatalf("%s still runs after %v; stderr:\n%s", p.name, d, p.errOut)
		return -1
	}
}

// stop sends SIGTERM and returns the exit code.
func (p *bgProc) stop(d time.Duration) int {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	return p.wait(d)
}

func startDaemon(t *testing.T, p *profile) *bgProc {
	t.Helper()
	return startProc(t, "veil daemon: serving", veilBin, "--home", p.home, "--pin-file", p.pin, "daemon")
}

// stopDaemon stops d with SIGTERM: it exits 0 within a few seconds and
// leaves no socket behind.
func stopDaemon(t *testing.T, d *bgProc, p *profile) {
	t.Helper()
	if code := d.stop(10 * time.Second); code != 0 {
		t.Fatalf("the daemon exited %d; stderr:\n%s", code, d.errOut)
	}
	if _, err := os.Lstat(filepath.Join(p.home, "veil.sock")); err == nil {
		t.Fatal("the daemon left its socket behind")
	}
}

// apiConn is one connection to a profile's API, speaking JSON lines with
// nothing from veil's packages. It checks that the events it reads are
// numbered without a gap.
type apiConn struct {
	t     *testing.T
	conn  net.Conn
	lines *bufio.Scanner
	id    int
	queue []apiLine // notifications read while waiting for an answer
	seq   uint64    // the last event's sequence number
}

type apiLine struct {
	ID     *int            `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type apiEvent struct {
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
	Event  struct {
		Type, Chat, Message, From, Text string
	} `json:"event"`
}

func dialAPI(t *testing.T, home string) *apiConn {
	t.Helper()
	conn, err := net.Dial("unix", filepath.Join(home, "veil.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := bufio.NewScanner(conn)
	s.Buffer(nil, 1<<20+1)
	return &apiConn{t: t, conn: conn, lines: s}
}

func (c *apiConn) read() apiLine {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	if !c.lines.Scan() {
		c.t.Fatalf("api: the connection ended: %v", c.lines.Err())
	}
	var l apiLine
	if err := json.Unmarshal(c.lines.Bytes(), &l); err != nil {
		c.t.Fatalf("api: the line %q: %v", c.lines.Bytes(), err)
	}
	return l
}

// call makes a call that must succeed and decodes its result into result
// (when not nil).
func (c *apiConn) call(method string, params, result any) {
	c.t.Helper()
	c.id++
	req, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": c.id, "method": method, "params": params})
	if _, err := c.conn.Write(append(req, '\n')); err != nil {
		c.t.Fatal(err)
	}
	for {
		l := c.read()
		switch {
		case l.Method != "":
			c.queue = append(c.queue, l)
		case l.ID == nil || *l.ID != c.id:
			c.t.Fatalf("api: an answer to another call: %+v", l)
		case l.Error != nil:
			c.t.Fatalf("api: %s: error %d: %s", method, l.Error.Code, l.Error.Message)
		default:
			if result != nil {
				if err := json.Unmarshal(l.Result, result); err != nil {
					c.t.Fatalf("api: %s result %s: %v", method, l.Result, err)
				}
			}
			return
		}
	}
}

// subscribe starts the event stream from now.
func (c *apiConn) subscribe() {
	c.t.Helper()
	var st struct{ Seq uint64 }
	c.call("subscribe", nil, &st)
	c.seq = st.Seq
}

// event returns the next event, which must follow the last one.
func (c *apiConn) event() apiEvent {
	c.t.Helper()
	var l apiLine
	if len(c.queue) > 0 {
		l, c.queue = c.queue[0], c.queue[1:]
	} else {
		l = c.read()
	}
	if l.Method != "event" {
		c.t.Fatalf("api: %s %s, want an event", l.Method, l.Params)
	}
	var ev apiEvent
	if err := json.Unmarshal(l.Params, &ev); err != nil {
		c.t.Fatal(err)
	}
	if ev.Seq != c.seq+1 {
		c.t.Fatalf("api: event %d after %d", ev.Seq, c.seq)
	}
	c.seq = ev.Seq
	return ev
}

// connectDaemons makes a chat between a (inviter) and b, both served by a
// daemon, and returns a's chat ID once a's daemon has seen b join; api is
// a subscribed connection to a's.
func connectDaemons(t *testing.T, a, b *profile, api *apiConn) string {
	t.Helper()
	key := a.ok("invite", "--as", "ana", "--name", "ben")
	b.ok("join", key, "--as", "ben", "--name", "ana")
	for {
		if ev := api.event(); ev.Event.Type == "contact_joined" {
			return ev.Event.Chat
		}
	}
}

func TestE2EBotsConversation(t *testing.T) {
	t.Parallel()
	bot := buildEchobot(t)
	r := newTestRelay(t)
	a, b := newProfile(t, r.addr), newProfile(t, r.addr)
	da, db := startDaemon(t, a), startDaemon(t, b)

	api := dialAPI(t, a.home)
	var st struct{ Locked bool }
	if api.call("status", nil, &st); st.Locked {
		t.Fatal("the daemon is locked")
	}
	api.subscribe()
	chat := connectDaemons(t, a, b, api)
	echo := startProc(t, "subscribed", bot, "--home", b.home, "--prefix", "echo: ", "--count", "20")

	// A message that looks like an echo is not answered; the twenty others
	// are, each once, ten before b's daemon restarts and ten after: the
	// bot connects again and reads the new daemon's stream from its start.
	api.call("send", map[string]string{"chat": chat, "text": "echo: not for the bot"}, nil)
	converse := func(from, to int) {
		t.Helper()
		want := map[string]bool{}
		for i := from; i < to; i++ {
			text := fmt.Sprintf("message %02d", i)
			api.call("send", map[string]string{"chat": chat, "text": text}, nil)
			want["echo: "+text] = true
		}
		for len(want) > 0 {
			ev := api.event()
			if ev.Event.Type != "message" {
				continue
			}
			if !want[ev.Event.Text] {
				t.Fatalf("an unexpected echo %q", ev.Event.Text)
			}
			delete(want, ev.Event.Text)
		}
	}
	converse(0, 10)
	stopDaemon(t, db, b)
	db = startDaemon(t, b)
	echo.waitOutput("subscribed", 2)
	if !strings.Contains(echo.errOut.String(), "reading from now") {
		t.Fatalf("echobot did not say it reads from now:\n%s", echo.errOut)
	}
	converse(10, 20)
	if code := echo.wait(10 * time.Second); code != 0 {
		t.Fatalf("echobot exited %d after its count; stderr:\n%s", code, echo.errOut)
	}
	if strings.Contains(echo.errOut.String(), "message 0") {
		t.Fatalf("echobot printed a peer's words:\n%s", echo.errOut)
	}

	// The CLI reads through the daemon: no PIN asked (there is no terminal
	// and no --pin-file).
	out, errOut, code := a.runPIN("", "read", chat, "--json")
	if code != 0 {
		t.Fatalf("read: exit %d: %s", code, errOut)
	}
	var in, sent int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m message
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("read printed %q", line)
		}
		switch {
		case m.Outgoing && (strings.HasPrefix(m.Text, "message ") || m.Text == "echo: not for the bot"):
			sent++
		case !m.Outgoing && strings.HasPrefix(m.Text, "echo: message "):
			in++
		default:
			t.Fatalf("read shows %+v", m)
		}
	}
	if sent != 21 || in != 20 {
		t.Fatalf("read shows %d sent and %d received, want 21 and 20", sent, in)
	}

	api.conn.Close()
	stopDaemon(t, da, a)
	stopDaemon(t, db, b)
}

func TestE2EDaemonRefusesSecond(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	a := newProfile(t, r.addr)
	d := startDaemon(t, a)
	// No --pin-file and no terminal: asking for a PIN would fail otherwise.
	_, errOut, code := a.runPIN("", "daemon")
	if code != 1 || !strings.Contains(errOut, "already runs") || strings.Contains(errOut, "PIN") {
		t.Fatalf("a second daemon: exit %d, stderr %q", code, errOut)
	}
	stopDaemon(t, d, a)
}

func TestE2EWatchAndSendTogether(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	a, b := newProfile(t, r.addr), newProfile(t, r.addr)
	da, db := startDaemon(t, a), startDaemon(t, b)
	api := dialAPI(t, a.home)
	api.subscribe()
	connectDaemons(t, a, b, api)
	api.conn.Close()

	watch := startProc(t, "", veilBin, "--home", a.home, "watch", "--json", "--count", "3", "--timeout", "60s")
	// Both sides send at once, round after round, until the watch has seen
	// three of b's messages (it joins the daemon's stream when it starts).
	type result struct {
		errOut string
		code   int
	}
	for round := 0; ; round++ {
		results := make(chan result, 2)
		for _, s := range []struct {
			p        *profile
			to, text string
		}{{a, "ben", "from ana"}, {b, "ana", "from ben"}} {
			go func() {
				_, errOut, code := s.p.run("send", s.to, fmt.Sprintf("%s %d", s.text, round))
				results <- result{errOut, code}
			}()
		}
		for range 2 {
			if r := <-results; r.code != 0 || strings.Contains(r.errOut, "another veil process") {
				t.Fatalf("send: exit %d: %s", r.code, r.errOut)
			}
		}
		select {
		case <-watch.done:
		case <-time.After(2 * time.Second):
			if round < 15 {
				continue
			}
			t.Fatalf("watch saw too little; stdout:\n%s", watch.out)
		}
		break
	}
	if watch.code != 0 || strings.Contains(watch.errOut.String(), "another veil process") {
		t.Fatalf("watch: exit %d: %s", watch.code, watch.errOut)
	}
	evs := chatEvents(parseEvents(t, watch.out.String()))
	if len(evs) != 3 {
		t.Fatalf("watch printed %+v, want 3 chat events", evs)
	}
	for _, ev := range evs {
		if ev.Type != "message" || ev.From != "ben" || !strings.HasPrefix(ev.Text, "from ben ") {
			t.Fatalf("watch printed %+v, want b's messages", ev)
		}
	}
	stopDaemon(t, da, a)
	stopDaemon(t, db, b)
}
