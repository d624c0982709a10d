package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"veil/client/internal/format"
	"veil/vault"
)

// established returns a pair whose handshake is done both ways.
func established(t *testing.T) (ana, ben *Engine, chat string, evA, evB chan Event) {
	t.Helper()
	evA, evB = make(chan Event, 500), make(chan Event, 500)
	ana, ben, chat = pair(t, evA, evB)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	return ana, ben, chat, evA, evB
}

// rawSend queues an envelope of ben's choosing, as a hostile client would.
func rawSend(t *testing.T, from *Engine, chat string, envs ...*format.Envelope) {
	t.Helper()
	err := from.withSession(context.Background(), chat, func(tx *vault.Tx, s *txSession) error {
		for _, env := range envs {
			if err := from.queue(tx, s.sess, chat, "", env); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func msgByText(t *testing.T, ms []MessageInfo, text string) MessageInfo {
	t.Helper()
	for _, m := range ms {
		if m.Text == text {
			return m
		}
	}
	t.Fatalf("no message %q in %+v", text, ms)
	return MessageInfo{}
}

func TestReplyQuotesTheTargetsOwnText(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat, _, _ := established(t)
	anaID, _ := ana.Send(ctx, chat, "meet at 8\nbring the map", SendOptions{})
	pump(t, ana, ben, chat)
	bms, _ := ben.Messages(ctx, chat, 0)
	target := msgByText(t, bms, "meet at 8\nbring the map")
	if _, err := ben.Send(ctx, chat, "ok", SendOptions{Reply: target.ID}); err != nil {
		t.Fatal(err)
	}
	pump(t, ben, ana, chat)
	ams, _ := ana.Messages(ctx, chat, 0)
	got := msgByText(t, ams, "ok")
	if got.Reply == nil || got.Reply.Text != "meet at 8" || got.Reply.ID != anaID || !got.Reply.Outgoing || got.Reply.Missing {
		t.Fatalf("ana's view of the reply: %+v", got.Reply)
	}
	bms, _ = ben.Messages(ctx, chat, 0)
	if r := msgByText(t, bms, "ok").Reply; r == nil || r.Text != "meet at 8" || r.From != "ana" {
		t.Fatalf("ben's view of his reply: %+v", r)
	}
	// Unknown and deleted targets.
	if _, err := ben.Send(ctx, chat, "x", SendOptions{Reply: "00"}); !errors.Is(err, ErrNoMessage) {
		t.Fatalf("reply to an unknown id: %v", err)
	}
	if err := ana.Delete(ctx, chat, anaID); err != nil {
		t.Fatal(err)
	}
	pump(t, ana, ben, chat)
	bms, _ = ben.Messages(ctx, chat, 0)
	if r := msgByText(t, bms, "ok").Reply; r == nil || !r.Missing || r.Text != notAvailable {
		t.Fatalf("quote of a deleted message: %+v", r)
	}
	if _, err := ben.Send(ctx, chat, "x", SendOptions{Reply: target.ID}); !errors.Is(err, ErrNoMessage) {
		t.Fatalf("reply to a deleted message: %v", err)
	}
}

// TestReplyHostile: a peer cannot make a quote show text other than the
// target's own: not another chat's message, not a copy of our wire ID,
// not a later message reusing one of its own IDs.
func TestReplyHostile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat, _, _ := established(t)
	// Another chat of Ana's, whose message Ben knows the wire ID of.
	other, carl, chat2, _, _ := established(t)
	_ = other
	secretID, _ := carl.Send(ctx, chat2, "the other chat's secret", SendOptions{})
	secretW, _ := outgoingWireID(secretID)
	anaID, _ := ana.Send(ctx, chat, "ana's words", SendOptions{})
	pump(t, ana, ben, chat)
	anaW, _ := outgoingWireID(anaID)
	ids := func(n byte) format.WireID {
		var w format.WireID
		binary.BigEndian.PutUint64(w[:], uint64(time.Now().UnixNano()))
		w[15] = n
		return w
	}
	w1 := ids(1)
	rawSend(t, ben, chat,
		&format.Envelope{Type: format.EnvText, ID: anaW, Text: "forged copy of ana's id"},
		&format.Envelope{Type: format.EnvText, ID: w1, Text: "ben's real one"},
		&format.Envelope{Type: format.EnvText, ID: w1, Text: "ben's reuse"},
		&format.Envelope{Type: format.EnvReply, ID: ids(2), Target: anaW, Text: "r-ana"},
		&format.Envelope{Type: format.EnvReply, ID: ids(3), Target: w1, Text: "r-ben"},
		&format.Envelope{Type: format.EnvReply, ID: ids(4), Target: secretW, Text: "r-other"},
		&format.Envelope{Type: format.EnvReply, ID: ids(5), Target: ids(99), Text: "r-unknown"},
		&format.Envelope{Type: format.EnvReply, ID: ids(6), Target: w1, Text: "r-\x1b]8;;evil\x07\u202e"},
	)
	pump(t, ben, ana, chat)
	ams, _ := ana.Messages(ctx, chat, 0)
	for text, want := range map[string]string{"r-ana": "ana's words", "r-ben": "ben's real one", "r-other": notAvailable, "r-unknown": notAvailable} {
		if r := msgByText(t, ams, text).Reply; r == nil || r.Text != want {
			t.Errorf("%s quotes %+v, want %q", text, r, want)
		}
	}
	for _, m := range ams {
		if strings.ContainsAny(m.Text, "\x1b\u202e") || strings.Contains(m.Text, "secret") {
			t.Errorf("unsanitised or leaked: %q", m.Text)
		}
	}
}

func TestReactions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat, evA, _ := established(t)
	anaID, _ := ana.Send(ctx, chat, "vote", SendOptions{})
	pump(t, ana, ben, chat)
	bms, _ := ben.Messages(ctx, chat, 0)
	onBen := msgByText(t, bms, "vote").ID
	for _, bad := range []string{"ab", "👍 ", "👍\u202e", "\x1b[31m", strings.Repeat("👍", 9), "", "\u0301"} {
		if bad == "" {
			continue
		}
		if err := ben.React(ctx, chat, onBen, bad); err == nil {
			t.Errorf("reaction %q accepted", bad)
		}
	}
	for _, good := range []string{"👍", "👍🏽", "🇫🇷", "é", "1\u20e3"} {
		if _, ok := checkReaction(good); !ok {
			t.Errorf("reaction %q refused", good)
		}
	}
	if err := ben.React(ctx, chat, onBen, "👍"); err != nil {
		t.Fatal(err)
	}
	if err := ana.React(ctx, chat, anaID, "👍"); err != nil {
		t.Fatal(err)
	}
	pump(t, ben, ana, chat)
	ams, _ := ana.Messages(ctx, chat, 0)
	rs := msgByText(t, ams, "vote").Reactions
	if len(rs) != 1 || rs[0].Reaction != "👍" || rs[0].Count != 2 || !rs[0].Mine || len(rs[0].From) != 1 || rs[0].From[0] != "ben" {
		t.Fatalf("reactions: %+v", rs)
	}
	// A new one replaces; an empty one takes it back.
	if err := ben.React(ctx, chat, onBen, "❤"); err != nil {
		t.Fatal(err)
	}
	pump(t, ben, ana, chat)
	ams, _ = ana.Messages(ctx, chat, 0)
	if rs := msgByText(t, ams, "vote").Reactions; len(rs) != 2 {
		t.Fatalf("after replacing: %+v", rs)
	}
	if err := ben.React(ctx, chat, onBen, ""); err != nil {
		t.Fatal(err)
	}
	pump(t, ben, ana, chat)
	ams, _ = ana.Messages(ctx, chat, 0)
	if rs := msgByText(t, ams, "vote").Reactions; len(rs) != 1 || rs[0].Count != 1 || !rs[0].Mine {
		t.Fatalf("after taking back: %+v", rs)
	}
	drainEvents(evA)

	// Hostile: oversize is refused by the decoder; controls, bidi, several
	// characters and unknown targets are dropped; a flood of one sender
	// keeps one reaction.
	anaW, _ := outgoingWireID(anaID)
	var flood []*format.Envelope
	for _, r := range []string{"\x1b]0;x\x07", "\u202e", "ab", "👍\u200d👍"} {
		flood = append(flood, &format.Envelope{Type: format.EnvReact, ID: anaW, Reaction: r})
	}
	for i := range 200 {
		flood = append(flood, &format.Envelope{Type: format.EnvReact, ID: anaW, Reaction: string(rune(0x1F600 + i%50))})
	}
	flood = append(flood, &format.Envelope{Type: format.EnvReact, ID: format.WireID{1}, Reaction: "👍"})
	rawSend(t, ben, chat, flood...)
	pump(t, ben, ana, chat)
	ams, _ = ana.Messages(ctx, chat, 0)
	rs = msgByText(t, ams, "vote").Reactions
	total := 0
	for _, r := range rs {
		total += r.Count
		if strings.ContainsAny(r.Reaction, "\x1b\u202e\u200d") {
			t.Errorf("unsafe reaction kept: %q", r.Reaction)
		}
	}
	if total != 2 {
		t.Fatalf("after the flood: %+v", rs)
	}
	// The per-message bound.
	m := vault.Message{}
	for i := range MaxReactions + 5 {
		applyReaction(&m, reactorKey(fmt.Sprint(i)), "👍")
	}
	if mm := metaOf(&m); len(mm.Reacts) != MaxReactions {
		t.Fatalf("kept %d reactions", len(mm.Reacts))
	}
	// Reactions go with their message.
	if err := ana.Delete(ctx, chat, anaID); err != nil {
		t.Fatal(err)
	}
	pump(t, ana, ben, chat)
	bms, _ = ben.Messages(ctx, chat, 0)
	for _, m := range bms {
		if m.ID == onBen && (len(m.Reactions) != 0 || !m.Deleted) {
			t.Fatalf("deleted message kept its reactions: %+v", m)
		}
	}
}

func TestTimerAnnounced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat, _, evB := established(t)
	if err := ana.SetTimer(ctx, chat, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	pump(t, ana, ben, chat)
	info, _ := ben.Chat(ctx, chat)
	if info.MessageTTL != 24*time.Hour {
		t.Fatalf("ben's timer: %v", info.MessageTTL)
	}
	bms, _ := ben.Messages(ctx, chat, 0)
	if len(bms) != 1 || bms[0].Kind != "timer" || bms[0].Text != "ana set messages to disappear after 1d" || bms[0].Unread {
		t.Fatalf("ben's line: %+v", bms)
	}
	ams, _ := ana.Messages(ctx, chat, 0)
	if len(ams) != 1 || ams[0].Text != "you set messages to disappear after 1d" {
		t.Fatalf("ana's line: %+v", ams)
	}
	found := false
	for _, ev := range drainEvents(evB) {
		found = found || ev.Type == EventTimer
	}
	if !found {
		t.Fatal("no timer event")
	}
	// Ben's next message takes the new timer.
	id, _ := ben.Send(ctx, chat, "short-lived", SendOptions{})
	bms, _ = ben.Messages(ctx, chat, 0)
	for _, m := range bms {
		if m.ID == id && m.Expires.IsZero() {
			t.Fatal("ben's message does not disappear")
		}
	}
	// Off, and an absurd TIMER, which does not decode.
	if err := ben.SetTimer(ctx, chat, 0); err != nil {
		t.Fatal(err)
	}
	pump(t, ben, ana, chat)
	ams, _ = ana.Messages(ctx, chat, 0)
	if last := ams[len(ams)-1]; last.Text != "ben turned disappearing messages off" {
		t.Fatalf("ana's line: %+v", last)
	}
	err := ben.withSession(ctx, chat, func(tx *vault.Tx, s *txSession) error {
		pt := []byte{1, format.EnvTimer}
		pt = append(pt, make([]byte, 16)...)
		pt = append(pt, 0xff, 0xff, 0xff, 0xff)
		msg, err := s.sess.Encrypt(pt)
		if err != nil {
			return err
		}
		return tx.PutOutbox(&vault.OutboxItem{ID: "zz", ChatID: chat, Payload: msg, Created: time.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	pump(t, ben, ana, chat)
	if info, _ := ana.Chat(ctx, chat); info.MessageTTL != 0 {
		t.Fatalf("absurd timer applied: %v", info.MessageTTL)
	}
}

func TestTimerSentTime(t *testing.T) {
	t.Parallel()
	created := time.Unix(1_700_000_000, 0)
	recv := created.Add(time.Hour)
	at := func(t time.Time) format.WireID {
		var w format.WireID
		binary.BigEndian.PutUint64(w[:], uint64(t.UnixNano()))
		return w
	}
	for _, c := range []struct {
		sent   time.Time
		want   time.Time
		unsure bool
	}{
		{recv.Add(-time.Minute), recv.Add(-time.Minute), false},
		{recv.Add(9 * time.Minute), recv.Add(9 * time.Minute), false},
		{recv.Add(11 * time.Minute), recv, true},
		{created.Add(-time.Hour), recv, true},
		{time.Unix(0, 0), recv, true},
	} {
		got, unsure := sentTime(at(c.sent), recv, created)
		if !got.Equal(c.want) || unsure != c.unsure {
			t.Errorf("sent %v: got %v %v", c.sent, got, unsure)
		}
	}
	var max format.WireID
	for i := range 8 {
		max[i] = 0xff
	}
	if got, unsure := sentTime(max, recv, created); !got.Equal(recv) || !unsure {
		t.Error("an absurd clock is believed")
	}
}
