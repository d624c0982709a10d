package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"veil/client/internal/format"
	"veil/ratchet"
	"veil/vault"
)

// ChatInfo describes one chat for display. Peer-supplied strings are
// sanitised.
type ChatInfo struct {
	ID           string        `json:"id"`
	Name         string        `json:"name,omitempty"`
	Peer         string        `json:"peer,omitempty"` // the peer's nickname
	As           string        `json:"as,omitempty"`   // ours
	Pending      bool          `json:"pending,omitempty"`
	Leaked       bool          `json:"leaked,omitempty"`
	Unread       int           `json:"unread"`
	Deadline     time.Time     `json:"deadline,omitzero"`
	InviteUntil  time.Time     `json:"invite_until,omitzero"`
	MessageTTL   time.Duration `json:"message_ttl,omitempty"`
	ReadReceipts bool          `json:"read_receipts"`
	LastActive   time.Time     `json:"last_active,omitzero"`
	// Waiting is set for a group whose admin has not let us in yet,
	// Removed for one we were removed from (read-only); Notice says
	// either in words (spec/groups.md §7.4, §9.3).
	Waiting bool   `json:"waiting,omitempty"`
	Removed bool   `json:"removed,omitempty"`
	Notice  string `json:"notice,omitempty"`
	// Verified is set while the user's comparison of the safety code
	// holds; VerifyLost once the code changed after it (spec/client.md §4.5).
	Verified   bool `json:"verified,omitempty"`
	VerifyLost bool `json:"verify_lost,omitempty"`
	// Relays are a 1:1 chat's mailboxes: ours and the peer's, by slot
	// (spec/client.md §7.5).
	Relays []ChatRelay `json:"relays,omitempty"`
	// PQ is a 1:1 chat's post-quantum healing (the KEM ratchet,
	// spec/client.md §5.13), once the chat has a session.
	PQ *ChatPQ `json:"pq,omitempty"`
}

// ChatPQ is the state of a 1:1 chat's KEM ratchet (spec/session.md §14).
type ChatPQ struct {
	On     bool   `json:"on"`
	Epochs uint32 `json:"epochs"` // epochs this side completed
	// PeerTooOld is set while the session is off and the peer has not
	// announced that it speaks the KEM ratchet.
	PeerTooOld bool `json:"peer_too_old,omitempty"`
}

// String says it in words, as chat info shows it.
func (p *ChatPQ) String() string {
	switch {
	case p.On:
		return fmt.Sprintf("post-quantum healing: on, %d epochs", p.Epochs)
	case p.PeerTooOld:
		return "post-quantum healing: off (peer's software too old)"
	}
	return "post-quantum healing: off"
}

// ChatRelay is one mailbox of a 1:1 chat.
type ChatRelay struct {
	Relay string `json:"relay"` // HOST:PORT
	Ours  bool   `json:"ours"`  // we receive there; else the peer does
	Slot  int    `json:"slot"`
	// State is "up"; "down" (Since says since when) for a relay we
	// failed to send to for SlotDownAfter; "moving" for a mailbox a move
	// offered and not yet confirmed; "retiring" for one a move replaced.
	State string    `json:"state"`
	Since time.Time `json:"since,omitzero"`
}

// MessageInfo is one message for display. Text is sanitised.
type MessageInfo struct {
	ID       string `json:"id"`
	Outgoing bool   `json:"outgoing"`
	From     string `json:"from,omitempty"`
	Text     string `json:"text"`
	Status   string `json:"status,omitempty"`
	// Time is when the message arrived here (ours: when we sent it);
	// Sent is when its sender sent it, from the sender's clock, bounded
	// (spec/client.md §6): SentUnsure when that clock was out of bounds
	// and Sent is the arrival time instead.
	Time       time.Time `json:"time"`
	Sent       time.Time `json:"sent"`
	SentUnsure bool      `json:"sent_unsure,omitempty"`
	Expires    time.Time `json:"expires,omitzero"`
	Edited     bool      `json:"edited,omitempty"`
	Deleted    bool      `json:"deleted,omitempty"`
	Unread     bool      `json:"unread,omitempty"`
	// Reply is the message this one quotes (spec/client.md §5.8).
	Reply *Quote `json:"reply,omitempty"`
	// Reactions are the reactions to this message (§5.9).
	Reactions []Reaction `json:"reactions,omitempty"`
	// Kind is "timer" for a line saying who set the chat's timer
	// (§5.10), whose value Timer holds in seconds; Text says it in words.
	// It is "relays" for a line saying that an admin moved the group to
	// other relays (spec/groups.md §3.5); Text names them.
	Kind  string  `json:"kind,omitempty"`
	Timer *uint32 `json:"timer,omitempty"`
	// File describes a file message (Kind "file"); Text is its name.
	File *FileInfo `json:"file,omitempty"`
}

// resolveChat finds a chat by ID or, failing that, by its unique local name.
func resolveChat(tx *vault.Tx, ref string) (vault.Chat, error) {
	c, err := tx.Chat(ref)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, vault.ErrNotFound) {
		return c, err
	}
	chats, err := tx.Chats()
	if err != nil {
		return c, err
	}
	var found []vault.Chat
	for _, c := range chats {
		if c.Name != "" && c.Name == ref {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		return c, &noChatError{ref: ref}
	case 1:
		return found[0], nil
	}
	return c, badInput("%d chats are named %q: use the chat id", len(found), ref)
}

// viewChat runs fn in a read transaction with the chat ref names, and
// reports a burn that removed the chat during the read as the no-chat
// error (goneChat).
func (e *Engine) viewChat(ctx context.Context, ref string, fn func(tx *vault.Tx, c *vault.Chat) error) error {
	id := ""
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		c, err := resolveChat(tx, ref)
		if err != nil {
			return err
		}
		id = c.ID
		if f := e.chatRead.Load(); f != nil {
			(*f)(c.ID)
		}
		return fn(tx, &c)
	})
	if id == "" {
		return err
	}
	return e.goneChat(ctx, ref, id, err)
}

// goneChat turns err, met reading chat ref, into the no-chat error when
// a burn removed the chat meanwhile: a read that started before the
// burn still sees the chat's records, but their keys are erased at once
// (vault.ErrNotFound, or ErrNoMessage where a message was looked up),
// and "the chat is gone" is what the user needs to hear, not a missing
// key or message.
func (e *Engine) goneChat(ctx context.Context, ref, id string, err error) error {
	if !errors.Is(err, vault.ErrNotFound) && !errors.Is(err, ErrNoMessage) {
		return err
	}
	if e.chatGone(ctx, id) {
		return &noChatError{ref: ref}
	}
	return err
}

// chatGone reports whether chat id is gone. A read that began after a
// burn had erased the chat's keys but before it deleted its records looks
// once the burn has ended; the chat is looked up by its ID, since the
// name the user gave may name another chat by now.
func (e *Engine) chatGone(ctx context.Context, id string) bool {
	if e.v.SettleChat(id) != nil {
		return false
	}
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		_, err := tx.Chat(id)
		return err
	})
	return errors.Is(err, vault.ErrNotFound)
}

// Chats lists every chat.
func (e *Engine) Chats(ctx context.Context) ([]ChatInfo, error) {
	var out []ChatInfo
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		chats, err := tx.Chats()
		if err != nil {
			return err
		}
		for _, c := range chats {
			info, err := e.chatInfo(tx, &c)
			if err != nil {
				return err
			}
			out = append(out, info)
		}
		return nil
	})
	return out, err
}

// Chat describes one chat (by ID or name).
func (e *Engine) Chat(ctx context.Context, ref string) (ChatInfo, error) {
	var info ChatInfo
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		c, err := resolveChat(tx, ref)
		if err != nil {
			return err
		}
		info, err = e.chatInfo(tx, &c)
		return err
	})
	return info, err
}

func (e *Engine) chatInfo(tx *vault.Tx, c *vault.Chat) (ChatInfo, error) {
	m, err := getMeta(tx, c.ID)
	if err != nil {
		return ChatInfo{}, err
	}
	info := ChatInfo{ID: c.ID, Name: SanitizeLine(c.Name), As: SanitizeLine(m.As), Pending: m.Pending, Leaked: m.Leaked,
		Unread: c.Unread, Deadline: c.Deadline, MessageTTL: c.MessageTTL, ReadReceipts: m.ReadReceipts, LastActive: c.LastActive}
	if m.Pending {
		info.InviteUntil = m.InviteUntil
	}
	if c.Kind == vault.ChatGroup {
		info.Waiting, info.Removed, info.Notice = groupStatus(tx, c, &m)
	}
	vs := e.verifyState(tx, c, &m)
	info.Verified, info.VerifyLost = vs.Verified, vs.Lost
	if ct, err := tx.Contact(c.ContactID); err == nil {
		info.Peer = SanitizeLine(ct.Nickname)
		if c.Kind == vault.ChatDirect {
			info.Relays = e.chatRelays(&ct)
			info.PQ = e.chatPQ(&ct, &m)
		}
	}
	return info, nil
}

// chatRelays describes a contact's mailboxes, ours first, by slot.
func (e *Engine) chatRelays(ct *vault.Contact) []ChatRelay {
	var out []ChatRelay
	now := e.now()
	for _, rc := range ct.Relays {
		cr := ChatRelay{Relay: shortRelay(rc.Address), Ours: len(rc.RecvID) > 0, Slot: int(rc.Slot), State: "up"}
		switch {
		case rc.Offer != nil || rc.Pending != nil:
			cr.State = "moving"
		case !rc.Retire.IsZero():
			cr.State = "retiring"
		case !cr.Ours:
			if since := e.health.downSince(rc.Address, now, e.cfg.SlotDownAfter); !since.IsZero() {
				cr.State, cr.Since = "down", since
			}
		}
		out = append(out, cr)
	}
	slices.SortStableFunc(out, func(a, b ChatRelay) int {
		if a.Ours != b.Ours {
			if a.Ours {
				return -1
			}
			return 1
		}
		return a.Slot - b.Slot
	})
	return out
}

// Messages returns the last limit messages of a chat (all when limit <= 0).
// It changes nothing: call MarkRead once they are on screen.
func (e *Engine) Messages(ctx context.Context, ref string, limit int) ([]MessageInfo, error) {
	var out []MessageInfo
	err := e.viewChat(ctx, ref, func(tx *vault.Tx, c *vault.Chat) error {
		peer := ""
		if ct, err := tx.Contact(c.ContactID); err == nil {
			peer = SanitizeLine(ct.Nickname)
		}
		ms, err := tx.Messages(c.ID, limit)
		if err != nil {
			return err
		}
		ix := targetIndex{tx: tx, chat: c.ID}
		for _, m := range ms {
			mi := MessageInfo{ID: m.ID, Outgoing: m.Direction == vault.Outgoing, Text: Sanitize(string(m.Body)),
				Time: m.Sent, Sent: m.Sent, Expires: m.Expires, Edited: !m.Edited.IsZero(), Deleted: m.Deleted}
			if mi.Outgoing {
				mi.Status = statusName(m.Status)
			} else {
				mi.From, mi.Time, mi.Unread = peer, m.Received, m.Read.IsZero()
				if c.Kind == vault.ChatGroup {
					mi.From = SanitizeLine(m.Sender) // the member's nickname
				}
			}
			mm := metaOf(&m)
			mi.SentUnsure = mm.SentUnsure
			if mm.Timer != nil {
				who := "you"
				if !mi.Outgoing {
					who = mi.From
				}
				mi.Kind, mi.Timer, mi.Text, mi.Status, mi.Unread = "timer", mm.Timer, timerText(who, *mm.Timer), "", false
			}
			if mm.Relays != "" {
				mi.Kind, mi.Text, mi.Status, mi.Unread = "relays", relaysLineText(mi.From, mm.Relays), "", false
			}
			if mm.File != nil && !m.Deleted {
				fi := fileInfoTx(tx, c.ID, &m, mm.File, e.now())
				fi.From = mi.From
				mi.Kind, mi.File, mi.Text = "file", &fi, SanitizeLine(fileEventText(mm.File))
			}
			if mm.Reply != "" && !m.Deleted {
				q := quoteOf(&ix, c, mm.Reply, peer)
				mi.Reply = &q
			}
			mi.Reactions = reactionsOf(&mm, peer)
			out = append(out, mi)
		}
		return nil
	})
	return out, err
}

// MarkRead records that the chat's incoming messages (only those in ids,
// when given) were shown: their
// disappearing timers start now (the recipient's copy counts from display,
// spec/client.md §8.1), the unread count drops to zero, and, when the chat
// has read receipts on, the peer is told.
func (e *Engine) MarkRead(ctx context.Context, ref string, ids ...string) error {
	only := map[string]bool{}
	for _, id := range ids {
		only[id] = true
	}
	queued := false
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		queued = false
		c, err := resolveChat(tx, ref)
		if err != nil {
			return err
		}
		meta, err := getMeta(tx, c.ID)
		if err != nil {
			return err
		}
		ms, err := tx.Messages(c.ID, 0)
		if err != nil {
			return err
		}
		now := e.now()
		var read []format.WireID
		marked := 0
		for i := range ms {
			m := &ms[i]
			if m.Direction != vault.Incoming || !m.Read.IsZero() || len(only) > 0 && !only[m.ID] {
				continue
			}
			m.Read = now
			marked++
			if ttl, ok := meta.TTLs[m.ID]; ok {
				m.Expires = now.Add(time.Duration(ttl) * time.Second)
				delete(meta.TTLs, m.ID)
				// A 1:1 file not downloaded by then: its chunks go
				// with it (spec/client.md §8.5).
				if tk, ok := messageFileTask(tx, m, c.Kind == vault.ChatGroup); ok {
					tk.NotBefore = m.Expires
					if err := addTasks(tx, tk); err != nil {
						return err
					}
				}
			}
			if err := tx.PutMessage(m); err != nil {
				return err
			}
			if _, w, ok := strings.Cut(m.ID, "-"); ok && !m.Deleted {
				if id, ok := outgoingWireID(w); ok {
					read = append(read, id)
				}
			}
		}
		if len(only) == 0 {
			c.Unread = 0
		} else {
			c.Unread = max(c.Unread-marked, 0)
		}
		if err := tx.PutChat(&c); err != nil {
			return err
		}
		if meta.ReadReceipts && len(read) > 0 && !meta.Pending {
			ct, err := tx.Contact(c.ContactID)
			if err != nil {
				return err
			}
			sess, err := e.ratchetOf(&ct)
			if err != nil {
				return err
			}
			for len(read) > 0 {
				n := min(len(read), format.MaxReceiptIDs)
				if err := e.queue(tx, sess, c.ID, "", &format.Envelope{Type: format.EnvReceipt, Kind: format.ReceiptRead, IDs: read[:n]}); err != nil {
					return err
				}
				read = read[n:]
			}
			ct.Ratchet = sess.Marshal()
			if err := tx.PutContact(&ct); err != nil {
				return err
			}
			queued = true
		}
		return putMeta(tx, c.ID, &meta)
	})
	if queued {
		e.kickOutbox()
	}
	return err
}

// SendOptions are the options of Send.
type SendOptions struct {
	// TTL is the message's disappearing timer; zero takes the chat's.
	TTL time.Duration
	// Reply is the local ID of the chat's message this one quotes
	// (spec/client.md §5.8); empty for none.
	Reply string
}

// Send writes a message to the vault's outbox and returns its ID; nothing
// touches the network first (spec/client.md §7.3). Run sends it at once
// when it is active; otherwise call Flush.
func (e *Engine) Send(ctx context.Context, ref, text string, opt SendOptions) (string, error) {
	if opt.TTL < 0 || opt.TTL > maxTTL {
		return "", badInput("disappearing timer must be between 1s and %v", maxTTL)
	}
	if !utf8.ValidString(text) {
		return "", badInput("the message is not valid UTF-8 text")
	}
	if e.isGroup(ctx, ref) {
		return e.groupSend(ctx, ref, text, opt) // spec/groups.md §6.2
	}
	var id string
	err := e.withSession(ctx, ref, func(tx *vault.Tx, s *txSession) error {
		ttl := opt.TTL
		if ttl == 0 {
			ttl = s.chat.MessageTTL
		}
		if err := checkTextLen(text, s.sess); err != nil {
			return err
		}
		var err error
		if id, err = e.newID(); err != nil {
			return err
		}
		w, _ := outgoingWireID(id)
		env := &format.Envelope{Type: format.EnvText, ID: w, TTL: uint32((ttl + time.Second - 1) / time.Second), Text: text}
		var mm msgMeta
		if opt.Reply != "" {
			target, err := replyTarget(tx, s.chat.ID, opt.Reply)
			if err != nil {
				return err
			}
			if err := checkReplyLen(text, s.sess); err != nil {
				return err
			}
			env.Type, env.Target, mm.Reply = format.EnvReply, target, hex.EncodeToString(target[:])
		}
		now := e.now()
		m := vault.Message{ID: id, ChatID: s.chat.ID, Direction: vault.Outgoing, Body: []byte(text), Sent: now, Status: vault.StatusPending}
		setMeta(&m, &mm)
		if ttl > 0 {
			m.Expires = now.Add(ttl) // the sender's copy counts from send
		}
		s.chat.LastActive = now
		// A chat restarting its session holds the message until the new
		// session exists (spec/client.md §13.2).
		if held, err := holdMessage(tx, s.chat.ID, &m); err != nil || held {
			return err
		}
		if err := e.queue(tx, s.sess, s.chat.ID, id, env); err != nil {
			return err
		}
		return tx.PutMessage(&m)
	})
	if err == nil {
		e.emit(ctx, Event{Type: EventStatus, Chat: chatOf(ctx, e, ref), Message: id, Status: statusName(vault.StatusPending)})
		e.kickOutbox()
	}
	return id, err
}

// chatOf returns the ID of the chat ref names, or ref itself.
func chatOf(ctx context.Context, e *Engine, ref string) string {
	id := ref
	_ = e.v.View(ctx, func(tx *vault.Tx) error {
		c, err := resolveChat(tx, ref)
		if err == nil {
			id = c.ID
		}
		return err
	})
	return id
}

// Edit replaces the text of one of our messages on both sides.
func (e *Engine) Edit(ctx context.Context, ref, msgID, text string) error {
	if !utf8.ValidString(text) {
		return badInput("the message is not valid UTF-8 text")
	}
	if len(text) > MaxText {
		return tooLong(len(text), MaxText)
	}
	return e.control(ctx, ref, msgID, func(m *vault.Message) *format.Envelope {
		w, _ := outgoingWireID(m.ID)
		m.Body, m.Edited = []byte(text), e.now()
		return &format.Envelope{Type: format.EnvEdit, ID: w, Text: text}
	})
}

// Delete deletes a message. One of ours is deleted for everyone (a DELETE
// control message asks the peer's client to drop it); one of the peer's is
// deleted here only.
func (e *Engine) Delete(ctx context.Context, ref, msgID string) (err error) {
	defer e.reportErase(ctx, ref, msgID, &err)()
	// A file's transfer stops first, and does not start again until the
	// deletion commits: nothing of it goes on meanwhile.
	var chat string
	_ = e.v.View(ctx, func(tx *vault.Tx) error {
		c, err := resolveChat(tx, ref)
		chat = c.ID
		return err
	})
	if chat != "" {
		defer e.holdTransfer(chat, msgID)()
	}
	err = e.control(ctx, ref, msgID, func(m *vault.Message) *format.Envelope {
		w, _ := outgoingWireID(m.ID)
		m.Body, m.Deleted = nil, true
		return &format.Envelope{Type: format.EnvDelete, ID: w}
	})
	if !errors.Is(err, errIncoming) {
		return err
	}
	return e.v.Update(ctx, func(tx *vault.Tx) error {
		c, err := resolveChat(tx, ref)
		if err != nil {
			return err
		}
		if m, err := tx.Message(c.ID, msgID); err == nil {
			if tk, ok := messageFileTask(tx, &m, c.Kind == vault.ChatGroup); ok {
				if err := addTasks(tx, tk); err != nil {
					return err
				}
			}
		}
		return tx.DeleteMessage(c.ID, msgID)
	})
}

// errRestarting refuses an edit, a deletion, a reaction or a timer
// change while the chat waits for
// its session reset (spec/client.md §13.2).
var errRestarting = notAllowed("this chat is restarting its session after a restore from a backup; try again once the contact has answered")

var errIncoming = notAllowed("that message is not yours: only its sender can edit it")

// control changes one of our messages with f and sends the control
// message f returns.
func (e *Engine) control(ctx context.Context, ref, msgID string, f func(*vault.Message) *format.Envelope) error {
	err := e.withSession(ctx, ref, func(tx *vault.Tx, s *txSession) error {
		m, err := tx.Message(s.chat.ID, msgID)
		if errors.Is(err, vault.ErrNotFound) {
			return ErrNoMessage
		}
		if err != nil {
			return err
		}
		if m.Direction != vault.Outgoing {
			return errIncoming
		}
		if m.Deleted {
			return ErrNoMessage
		}
		if err := sessionUsable(tx, s.chat.ID); err != nil {
			return err
		}
		fm, _ := fileOf(&m)
		env := f(&m)
		if fm != nil {
			if env.Type == format.EnvEdit {
				return badInput("a file message cannot be edited")
			}
			if env.Type == format.EnvDelete {
				// Deleted for everyone: the file goes here and on the relay.
				// One whose descriptor never went out (not yet sent, or
				// failed) is deleted here only: the peer has nothing of it.
				offered := fm.State == FileSent
				if err := dropFileTx(tx, s.chat.ID, &m, fm, fm.State != FilePreparing); err != nil {
					return err
				}
				if !offered {
					return tx.PutMessage(&m)
				}
			}
		}
		if err := e.queueChange(tx, s.sess, s.chat.ID, m.ID, env); err != nil {
			return err
		}
		return tx.PutMessage(&m)
	})
	if err == nil {
		e.kickOutbox()
	}
	return err
}

// sessionUsable refuses what is sealed on the chat's session at once
// (an edit, a deletion, a reaction, a timer change) while the session is
// out of date or restarting (spec/client.md §13.2): it would go out on a
// stale state. A new message is held instead (holdMessage).
func sessionUsable(tx *vault.Tx, chat string) error {
	meta, err := getMeta(tx, chat)
	if err != nil {
		return err
	}
	if meta.Outdated {
		return ErrOutdated
	}
	if meta.ResetKeys != nil {
		return errRestarting
	}
	return nil
}

type txSession struct {
	chat *vault.Chat
	ct   *vault.Contact
	sess *ratchet.Session
}

// withSession runs f with a chat's live session inside one transaction and
// stores the session and chat afterwards.
func (e *Engine) withSession(ctx context.Context, ref string, f func(*vault.Tx, *txSession) error) error {
	return e.v.Update(ctx, func(tx *vault.Tx) error {
		c, err := resolveChat(tx, ref)
		if err != nil {
			return err
		}
		ct, err := tx.Contact(c.ContactID)
		if err != nil {
			return err
		}
		sess, err := e.ratchetOf(&ct)
		if err != nil {
			return err
		}
		if err := f(tx, &txSession{chat: &c, ct: &ct, sess: sess}); err != nil {
			return err
		}
		ct.Ratchet = sess.Marshal()
		if err := tx.PutContact(&ct); err != nil {
			return err
		}
		return tx.PutChat(&c)
	})
}

// Burn erases a chat and its contact here at once and tells the peer's
// client to do the same, with no confirmation round trip (spec/client.md
// §8.4). The BURN message and the deletion of our mailbox are queued as
// tasks that outlive the chat; Flush or Run sends them.
func (e *Engine) Burn(ctx context.Context, ref string) (err error) {
	defer e.reportErase(ctx, ref, "", &err)()
	if e.isGroup(ctx, ref) {
		return e.groupBurn(ctx, ref) // spec/groups.md §8
	}
	var chatID string
	err = e.v.Update(ctx, func(tx *vault.Tx) error {
		c, err := resolveChat(tx, ref)
		if err != nil {
			return err
		}
		chatID = c.ID
		ct, err := tx.Contact(c.ContactID)
		if errors.Is(err, vault.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if ss := sendSlots(&ct); len(ss) > 0 && len(ct.Ratchet) > 0 {
			sess, err := e.ratchetOf(&ct)
			if err != nil {
				return err
			}
			pt, _ := (&format.Envelope{Type: format.EnvBurn}).Marshal()
			msg, err := sess.Encrypt(pt)
			if err != nil {
				return err
			}
			for _, sc := range ss {
				if err := addTasks(tx, task{Kind: "send", Relay: sc.Address, ID: sc.SendID, Key: sc.SendCred, Payload: msg, Chat: ct.ID}); err != nil {
					return err
				}
			}
		}
		return e.forgetChatTx(tx, &ct)
	})
	if err != nil {
		return err
	}
	release := e.holdChatTransfers(chatID) // none restarts before the chat is gone
	err = e.v.DeleteChat(ctx, chatID)
	release()
	if err != nil && !errors.Is(err, vault.ErrNotFound) {
		return err
	}
	e.kickOutbox()
	return nil
}

// SafetyCode returns the chat's safety code: both sides show the same
// 60 digits when nobody sits between them (spec/session.md §9).
func (e *Engine) SafetyCode(ctx context.Context, ref string) (string, error) {
	var code string
	err := e.viewChat(ctx, ref, func(tx *vault.Tx, c *vault.Chat) error {
		ct, err := tx.Contact(c.ContactID)
		if err != nil {
			return err
		}
		sess, err := e.ratchetOf(&ct)
		if err != nil {
			return err
		}
		code = sess.SafetyCode()
		return nil
	})
	return code, err
}

// SetReadReceipts turns read receipts for a chat on or off (off by default).
func (e *Engine) SetReadReceipts(ctx context.Context, ref string, on bool) error {
	return e.v.Update(ctx, func(tx *vault.Tx) error {
		c, err := resolveChat(tx, ref)
		if err != nil {
			return err
		}
		m, err := getMeta(tx, c.ID)
		if err != nil {
			return err
		}
		m.ReadReceipts = on
		return putMeta(tx, c.ID, &m)
	})
}

// SetTimer sets a chat's disappearing timer for new messages (0: off).
func (e *Engine) SetTimer(ctx context.Context, ref string, ttl time.Duration) error {
	if ttl < 0 || ttl > maxTTL {
		return badInput("disappearing timer must be between 0 and %v", maxTTL)
	}
	return e.sendTimer(ctx, ref, ttl) // the peer is told, spec/client.md §5.10
}

// chatPQ describes the KEM ratchet of ct's session, nil when it has none
// (a pending invite) or it does not parse.
func (e *Engine) chatPQ(ct *vault.Contact, m *chatMeta) *ChatPQ {
	if len(ct.Ratchet) == 0 {
		return nil
	}
	s, err := e.ratchetOf(ct)
	if err != nil {
		return nil
	}
	defer s.Wipe()
	st := s.PQ()
	return &ChatPQ{On: st.On, Epochs: st.Epochs, PeerTooOld: !st.On && m.PeerFeatures&format.FeaturePQ == 0}
}
