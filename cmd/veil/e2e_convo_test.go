package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// convoMessage is one line of `read --json` with the conversation fields.
type convoMessage struct {
	ID         string    `json:"id"`
	Outgoing   bool      `json:"outgoing"`
	Text       string    `json:"text"`
	Time       time.Time `json:"time"`
	Sent       time.Time `json:"sent"`
	SentUnsure bool      `json:"sent_unsure"`
	Kind       string    `json:"kind"`
	Reply      *struct {
		ID      string `json:"id"`
		Text    string `json:"text"`
		Missing bool   `json:"missing"`
	} `json:"reply"`
	Reactions []struct {
		Reaction string   `json:"reaction"`
		Count    int      `json:"count"`
		From     []string `json:"from"`
		Mine     bool     `json:"mine"`
	} `json:"reactions"`
}

func (p *profile) readConvo(chat string) []convoMessage {
	p.t.Helper()
	var ms []convoMessage
	for _, line := range strings.Split(p.ok("read", chat, "--json"), "\n") {
		if line == "" {
			continue
		}
		var m convoMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			p.t.Fatalf("read printed %q", line)
		}
		ms = append(ms, m)
	}
	return ms
}

// TestE2EReplyReactTimer: the CLI's reply, reaction and timer commands
// between two real profiles, and the sent time beside the arrival time.
func TestE2EReplyReactTimer(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	ana := newProfile(t, r.addr)
	ben := newProfile(t, r.addr)
	anaChat, benChat := connect(t, ana, ben)

	ben.ok("send", benChat, "where?\nsomewhere quiet")
	if evs := chatEvents(ana.watch(1, 30*time.Second)); len(evs) != 1 || evs[0].Text != "where?\nsomewhere quiet" {
		t.Fatalf("ana saw %+v", evs)
	}
	ms := ana.readConvo(anaChat)
	if len(ms) != 1 || ms[0].Sent.IsZero() || ms[0].SentUnsure || ms[0].Sent.After(ms[0].Time) {
		t.Fatalf("sent and arrival times: %+v", ms)
	}
	target := ms[0].ID
	ana.ok("send", anaChat, "the library", "--reply", target)
	ana.fails(1, "send", anaChat, "x", "--reply", "0123")
	ana.ok("react", anaChat, target, "👍")
	ana.fails(2, "react", anaChat, target)
	if out := ana.fails(1, "react", anaChat, target, "\u202eab"); !strings.Contains(out, "one emoji") {
		t.Fatalf("a bad reaction: %q", out)
	}
	ana.ok("timer", anaChat, "1d")
	if evs := chatEvents(ben.watch(3, 30*time.Second)); len(evs) != 3 {
		t.Fatalf("ben saw %+v", evs)
	}
	ms = ben.readConvo(benChat)
	if len(ms) != 3 {
		t.Fatalf("ben's chat: %+v", ms)
	}
	if r := ms[1].Reply; r == nil || r.Text != "where?" || ms[1].Text != "the library" {
		t.Fatalf("ben's view of the reply: %+v", ms[1])
	}
	if rs := ms[0].Reactions; len(rs) != 1 || rs[0].Reaction != "👍" || rs[0].Count != 1 {
		t.Fatalf("ben's view of the reaction: %+v", ms[0])
	}
	if ms[2].Kind != "timer" || ms[2].Text != "ana set messages to disappear after 1d" {
		t.Fatalf("ben's timer line: %+v", ms[2])
	}
	if c := ben.chat(benChat); c.MessageTTL != 24*time.Hour {
		t.Fatalf("ben's timer: %v", c.MessageTTL)
	}
	out := ben.ok("read", benChat)
	for _, want := range []string{"↳ reply to me: where?", "reactions: 👍 1", "-- ana set messages to disappear after 1d"} {
		if !strings.Contains(out, want) {
			t.Fatalf("read prints no %q:\n%s", want, out)
		}
	}
	ana.ok("react", anaChat, target, "--remove")
	chatEvents(ben.watch(1, 30*time.Second))
	if ms = ben.readConvo(benChat); len(ms[0].Reactions) != 0 {
		t.Fatalf("the reaction stays: %+v", ms[0])
	}
}
