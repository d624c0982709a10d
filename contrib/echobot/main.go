// Command echobot answers every message a veil profile receives with the
// same text behind a prefix. It is an example of a bot on veil's local API
// (spec/api.md): JSON-RPC 2.0, one object a line, over the Unix socket of
// a running `veil daemon`. It imports no veil package, only Go's standard
// library: a bot in any language needs nothing more than the socket and
// the spec.
//
// Run the daemon in one terminal and the bot in another:
//
//	veil daemon --home DIR
//	go run ./contrib/echobot --home DIR [--prefix "echo: "] [--count N]
//
// The bot never answers a message that starts with its prefix, so two bots
// cannot echo each other forever. Peers' words are never printed: it logs
// message ids only. When the daemon restarts, the bot connects again and
// resumes its event stream where it stopped, or from now when the daemon
// no longer holds those events.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
)

// The error codes the bot branches on (spec/api.md §3), and the longest
// line the API sends (§2).
const (
	codeLocked = 1
	codeGap    = 4
	maxLine    = 1 << 20
)

var (
	errLocked = errors.New("the profile is locked: run veil unlock")
	errDone   = errors.New("done")
)

// message is a line of the API: a response (ID set) or a notification.
type message struct {
	ID     *int64          `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *rpcError       `json:"error"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *rpcError) Error() string { return clean(e.Message) }

// client is one connection. Calls are made one at a time; notifications
// that arrive while a call waits for its answer are queued for next.
type client struct {
	conn   net.Conn
	lines  *bufio.Scanner
	lastID int64
	queue  []message
}

func dial(home string) (*client, error) {
	conn, err := net.Dial("unix", filepath.Join(home, "veil.sock"))
	if err != nil {
		return nil, err
	}
	s := bufio.NewScanner(conn)
	s.Buffer(make([]byte, 64<<10), maxLine+1)
	return &client{conn: conn, lines: s}, nil
}

func (c *client) read() (m message, err error) {
	if !c.lines.Scan() {
		return m, errors.Join(errors.New("the daemon closed the connection"), c.lines.Err())
	}
	return m, json.Unmarshal(c.lines.Bytes(), &m)
}

// call sends a request and decodes its result into result (when not nil).
func (c *client) call(method string, params, result any) error {
	c.lastID++
	req, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": c.lastID, "method": method, "params": params})
	if _, err := c.conn.Write(append(req, '\n')); err != nil {
		return err
	}
	for {
		m, err := c.read()
		switch {
		case err != nil:
			return err
		case m.Method != "":
			c.queue = append(c.queue, m)
		case m.ID == nil || *m.ID != c.lastID: // not an answer to this call
		case m.Error != nil:
			return m.Error
		case result != nil:
			return json.Unmarshal(m.Result, result)
		default:
			return nil
		}
	}
}

// next returns the next notification.
func (c *client) next() (message, error) {
	if len(c.queue) > 0 {
		m := c.queue[0]
		c.queue = c.queue[1:]
		return m, nil
	}
	for {
		if m, err := c.read(); err != nil || m.Method != "" {
			return m, err
		}
	}
}

// bot is the echo bot's state across connections.
type bot struct {
	prefix          string
	count, answered int
	stream          string // the event stream read ("" before the first subscribe)
	seq             uint64 // the last event of stream handled
}

// subscribe resumes the stream after the last event handled, or starts it
// from now when there is none or the daemon no longer holds what follows.
func (b *bot) subscribe(c *client) error {
	if b.stream != "" {
		err := c.call("subscribe", map[string]any{"stream": b.stream, "after": b.seq}, nil)
		var re *rpcError
		if !errors.As(err, &re) || re.Code != codeGap {
			return err
		}
		log.Printf("events were missed (%v); reading from now", re)
	}
	var st struct {
		Stream string
		Seq    uint64
	}
	err := c.call("subscribe", nil, &st)
	b.stream, b.seq = st.Stream, st.Seq
	return err
}

// serve runs one connection until it fails, the profile is locked or the
// bot has answered its count.
func (b *bot) serve(c *client) error {
	var st struct{ Locked bool }
	if err := c.call("status", nil, &st); err != nil {
		return err
	}
	if st.Locked {
		return errLocked
	}
	if err := b.subscribe(c); err != nil {
		return err
	}
	log.Printf("subscribed: answering messages")
	for {
		m, err := c.next()
		if err != nil {
			return err
		}
		var n struct {
			Stream, Reason string
			Seq            uint64
			Event          struct{ Type, Chat, Message, Text string }
		}
		if err := json.Unmarshal(m.Params, &n); err != nil {
			return err
		}
		switch {
		case m.Method == "stream_end" && n.Reason == "locked":
			return errLocked
		case m.Method == "stream_end":
			log.Printf("the event stream ended (%s); subscribing again", clean(n.Reason))
			err = b.subscribe(c)
		case m.Method == "event" && n.Event.Type == "message":
			err = b.answer(c, n.Event.Chat, n.Event.Message, n.Event.Text)
		}
		if err != nil {
			return err
		}
		if m.Method == "event" {
			b.stream, b.seq = n.Stream, n.Seq
		}
		if b.count > 0 && b.answered >= b.count {
			return errDone
		}
	}
}

// answer echoes one message and marks it read.
func (b *bot) answer(c *client, chat, id, text string) error {
	if !strings.HasPrefix(text, b.prefix) {
		err := c.call("send", map[string]string{"chat": chat, "text": b.prefix + text}, nil)
		if err == nil {
			b.answered++
			log.Printf("answered message %s", clean(id))
		}
		if err := refused(err, id); err != nil {
			return err
		}
	}
	return refused(c.call("mark_read", map[string]any{"chat": chat, "ids": []string{id}}, nil), id)
}

// refused logs a call the daemon refused (the chat is gone, the text is
// too long) and returns nil, so the bot goes on; it returns the errors
// that end the connection (I/O) or the bot (locked).
func refused(err error, id string) error {
	var re *rpcError
	if !errors.As(err, &re) {
		return err
	}
	if re.Code == codeLocked {
		return errLocked
	}
	log.Printf("message %s: %v", clean(id), re)
	return nil
}

// clean makes a string from the daemon safe for a terminal: no control or
// formatting characters (escape sequences, bidi overrides), at most 200 runes.
func clean(s string) string {
	r := []rune(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s))
	return string(r[:min(len(r), 200)])
}

// defaultHome is the profile directory veil uses without --home.
func defaultHome() string {
	if h := os.Getenv("VEIL_HOME"); h != "" {
		return h
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "veil")
	}
	h, _ := os.UserHomeDir()
	return filepath.Join(h, ".local", "share", "veil")
}

func main() {
	log.SetFlags(log.Ltime)
	log.SetPrefix("echobot: ")
	home := flag.String("home", defaultHome(), "the veil profile `DIR`")
	prefix := flag.String("prefix", "echo: ", "put `STR` before every answer; messages starting with it are not answered")
	count := flag.Int("count", 0, "exit after answering `N` messages (0: never)")
	flag.Parse()
	if *prefix == "" || *count < 0 || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	b := &bot{prefix: *prefix, count: *count}
	for connected := false; ; time.Sleep(time.Second) {
		c, err := dial(*home)
		if err != nil && !connected {
			log.Fatalf("no veil daemon answers in %s (veil daemon starts one)", *home)
		}
		if err != nil {
			continue
		}
		connected = true
		err = b.serve(c)
		c.conn.Close()
		var re *rpcError
		switch {
		case errors.Is(err, errDone):
			return
		case errors.Is(err, errLocked) || errors.As(err, &re):
			log.Fatal(err)
		}
		log.Printf("connection lost (%v); connecting again", err)
	}
}
