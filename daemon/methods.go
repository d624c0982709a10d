package daemon

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"time"

	"veil/client"
	"veil/daemon/rpc"
)

// networkTimeout bounds a method that talks to relays (invite, join,
// group changes): the same bound as the CLI's.
const networkTimeout = 2 * time.Minute

// method is one API method (spec/api.md §4).
type method struct {
	// locked methods answer whether or not the profile is unlocked; they
	// get no engine.
	locked  bool
	network bool
	run     func(ctx context.Context, c *conn, eng *client.Engine, params json.RawMessage) (any, func(), error)
}

// ok is the result of a method that returns nothing.
type ok struct{}

// paramError is a call whose params do not fit its method.
type paramError struct{ msg string }

func (e *paramError) Error() string { return e.msg }

func badParams(format string, a ...any) error { return &paramError{fmt.Sprintf(format, a...)} }

// call builds a method from a function of its decoded params.
func call[P any](f func(ctx context.Context, eng *client.Engine, p *P) (any, error)) func(context.Context, *conn, *client.Engine, json.RawMessage) (any, func(), error) {
	return func(ctx context.Context, _ *conn, eng *client.Engine, raw json.RawMessage) (any, func(), error) {
		var p P
		if err := rpc.DecodeParams(raw, &p); err != nil {
			return nil, nil, badParams("%s", strings.TrimPrefix(err.Error(), "rpc: "))
		}
		if v, ok := any(&p).(interface{ check() error }); ok {
			if err := v.check(); err != nil {
				return nil, nil, err
			}
		}
		r, err := f(ctx, eng, &p)
		return r, nil, err
	}
}

// Duration is a duration in params: a string as the CLI reads it ("90s",
// "10m", "7d", "off") or a number of seconds (spec/api.md §2.1).
type Duration time.Duration

// UnmarshalJSON reads either form.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := client.ParseDuration(s)
		if err != nil {
			return badParams("%q is not a duration such as 90s, 10m, 2h or 7d", s)
		}
		*d = Duration(v)
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil || n < 0 || n > client.MaxDuration.Seconds() {
		return badParams("a duration is a string such as \"10m\" or a number of seconds")
	}
	*d = Duration(time.Duration(n * float64(time.Second)))
	return nil
}

// Parameter shapes shared by several methods.
type (
	chatParam struct {
		Chat string `json:"chat"`
	}
	msgParam struct {
		Chat string `json:"chat"`
		ID   string `json:"id"`
	}
	relayParam struct {
		Relay string `json:"relay"`
	}
	routingParams struct {
		Mode      *string `json:"mode,omitempty"`      // auto, always or off
		Forwarder *string `json:"forwarder,omitempty"` // a relay, "" for the default relay
	}
	memberParam struct {
		Chat   string `json:"chat"`
		Member string `json:"member"`
	}
	// relayAddParam is relay.add's: the relay, and its password
	// (base64url, optional) when it is not in a credentialed relay.
	relayAddParam struct {
		Relay    string `json:"relay"`
		Password string `json:"password"`
	}
)

func (p *relayAddParam) check() error { return need("relay", p.Relay) }

func (p *chatParam) check() error  { return need("chat", p.Chat) }
func (p *msgParam) check() error   { return errors.Join(need("chat", p.Chat), need("id", p.ID)) }
func (p *relayParam) check() error { return need("relay", p.Relay) }
func (p *memberParam) check() error {
	return errors.Join(need("chat", p.Chat), need("member", p.Member))
}

// present refuses a missing parameter whose zero value means something.
func present(name string, ok bool) error {
	if !ok {
		return badParams("missing parameter %q", name)
	}
	return nil
}

func need(name, v string) error {
	if v == "" {
		return badParams("missing parameter %q", name)
	}
	return nil
}

// Results with more than one value.
type (
	// ReadResult is the result of read: a page of messages, oldest first.
	ReadResult struct {
		Messages []client.MessageInfo `json:"messages"`
		// More is true when older messages exist (read again with
		// before set to the first message's id).
		More bool `json:"more"`
	}
	// InviteResult is the result of invite.
	InviteResult struct {
		Key  string `json:"key"`
		Chat string `json:"chat"`
	}
	// ChatResult names a chat (join, group.create).
	ChatResult struct {
		Chat string `json:"chat"`
	}
	// IDResult names a message (send).
	IDResult struct {
		ID string `json:"id"`
	}
	// KeyResult is an invite key (group.invite, invite.show).
	KeyResult struct {
		Key string `json:"key"`
	}
	// CodeResult is a safety or verification code.
	CodeResult struct {
		Code  string `json:"code"`
		Epoch uint64 `json:"epoch,omitempty"`
	}
	// MembersResult is a group's roster.
	MembersResult struct {
		Epoch   uint64              `json:"epoch"`
		Members []client.MemberInfo `json:"members"`
	}
	// RelayInfo is one relay of relay.list.
	RelayInfo struct {
		Relay    string `json:"relay"`
		Default  bool   `json:"default,omitempty"`
		Embedded bool   `json:"embedded,omitempty"`
		// Password: a password is stored for the relay (never its value).
		Password bool `json:"password,omitempty"`
	}
	// RelayAddResult is the result of relay.add.
	RelayAddResult struct {
		// Warning says why the relay could not be checked; it is added
		// anyway.
		Warning string `json:"warning,omitempty"`
	}
	// QueuedResult counts what waits to be sent.
	QueuedResult struct {
		Queued int `json:"queued"`
		// Error says why the flush stopped short, when it did.
		Error string `json:"error,omitempty"`
	}
)

// minPassphrase is the shortest backup passphrase taken, in bytes.
const minPassphrase = 8

// maxPage bounds one read in messages, maxPageBytes in encoded bytes, so
// a page always fits one line (rpc.MaxLine) whatever its texts hold.
const (
	maxPage      = 1000
	maxPageBytes = 768 << 10
)

var methods map[string]method

func init() {
	methods = map[string]method{
		"status": {locked: true, run: func(_ context.Context, c *conn, _ *client.Engine, raw json.RawMessage) (any, func(), error) {
			if err := rpc.DecodeParams(raw, &struct{}{}); err != nil {
				return nil, nil, badParams("status takes no parameters")
			}
			return c.s.Status(), nil, nil
		}},
		"unlock": {locked: true, run: unlockMethod},
		"lock": {locked: true, run: func(_ context.Context, c *conn, _ *client.Engine, raw json.RawMessage) (any, func(), error) {
			if err := rpc.DecodeParams(raw, &struct{}{}); err != nil {
				return nil, nil, badParams("lock takes no parameters")
			}
			c.s.Lock()
			return c.s.Status(), nil, nil
		}},
		"erase": {locked: true, run: func(ctx context.Context, c *conn, _ *client.Engine, raw json.RawMessage) (any, func(), error) {
			if err := rpc.DecodeParams(raw, &struct{}{}); err != nil {
				return nil, nil, badParams("erase takes no parameters")
			}
			return ok{}, c.s.finishIfGone, c.s.Erase(context.WithoutCancel(ctx))
		}},
		"subscribe":   {run: subscribeMethod},
		"unsubscribe": {run: unsubscribeMethod},

		"chats": {run: call(func(ctx context.Context, eng *client.Engine, _ *struct{}) (any, error) {
			cs, err := eng.Chats(ctx)
			if cs == nil {
				cs = []client.ChatInfo{}
			}
			return cs, err
		})},
		"chat": {run: call(func(ctx context.Context, eng *client.Engine, p *chatParam) (any, error) {
			return eng.Chat(ctx, p.Chat)
		})},
		"read": {run: call(readMethod)},
		"mark_read": {run: call(func(ctx context.Context, eng *client.Engine, p *markParams) (any, error) {
			if p.IDs == nil {
				return ok{}, eng.MarkRead(ctx, p.Chat)
			}
			if len(*p.IDs) == 0 {
				return ok{}, nil // an empty list marks nothing
			}
			return ok{}, eng.MarkRead(ctx, p.Chat, *p.IDs...)
		})},
		"send": {run: call(func(ctx context.Context, eng *client.Engine, p *sendParams) (any, error) {
			id, err := eng.Send(ctx, p.Chat, p.Text, client.SendOptions{TTL: time.Duration(p.TTL), Reply: p.Reply})
			return IDResult{id}, err
		})},
		"react": {run: call(reactMethod)},
		"edit": {run: call(func(ctx context.Context, eng *client.Engine, p *editParams) (any, error) {
			return ok{}, eng.Edit(ctx, p.Chat, p.ID, p.Text)
		})},
		// delete, burn, group.leave and invite.cancel strip the chat's
		// words from the stream through the engine (OnLocalErase), as the
		// TUI's do.
		"delete": {run: call(func(ctx context.Context, eng *client.Engine, p *msgParam) (any, error) {
			return ok{}, eng.Delete(ctx, p.Chat, p.ID)
		})},
		"burn": {run: call(func(ctx context.Context, eng *client.Engine, p *chatParam) (any, error) {
			return ok{}, eng.Burn(ctx, p.Chat)
		})},
		"rename": {run: call(func(ctx context.Context, eng *client.Engine, p *renameParams) (any, error) {
			return ok{}, eng.Rename(ctx, p.Chat, *p.Name)
		})},
		"verify": {run: call(func(ctx context.Context, eng *client.Engine, p *chatParam) (any, error) {
			code, err := eng.SafetyCode(ctx, p.Chat)
			return CodeResult{Code: code}, err
		})},
		"receipts": {run: call(func(ctx context.Context, eng *client.Engine, p *receiptsParams) (any, error) {
			return ok{}, eng.SetReadReceipts(ctx, p.Chat, *p.On)
		})},
		"timer": {run: call(func(ctx context.Context, eng *client.Engine, p *timerParams) (any, error) {
			return ok{}, eng.SetTimer(ctx, p.Chat, time.Duration(*p.TTL))
		})},
		"invite": {network: true, run: call(func(ctx context.Context, eng *client.Engine, p *inviteParams) (any, error) {
			key, chat, err := eng.Invite(ctx, client.InviteOptions{Name: p.Name, As: p.As, Expires: time.Duration(p.Expires), ChatExpires: time.Duration(p.ChatExpires), Relay: p.Relay, Relays: p.Relays})
			return InviteResult{Key: key, Chat: chat}, err
		})},
		"join": {network: true, run: call(func(ctx context.Context, eng *client.Engine, p *joinParams) (any, error) {
			chat, err := eng.Join(ctx, p.Key, client.JoinOptions{Name: p.Name, As: p.As, Relay: p.Relay, Relays: p.Relays})
			return ChatResult{chat}, err
		})},
		"chat.move": {network: true, run: call(func(ctx context.Context, eng *client.Engine, p *moveParams) (any, error) {
			return ok{}, eng.MoveChat(ctx, p.Chat, p.Slot, p.Relay)
		})},
		"chat.rotate": {network: true, run: call(func(ctx context.Context, eng *client.Engine, p *chatParam) (any, error) {
			return ok{}, eng.RotateChat(ctx, p.Chat)
		})},
		"flush": {network: true, run: call(func(ctx context.Context, eng *client.Engine, _ *struct{}) (any, error) {
			n, err := eng.Flush(ctx)
			r := QueuedResult{Queued: n}
			if err != nil && n > 0 {
				r.Error = explain(err).Message
			}
			return r, nil
		})},
		"queued": {run: call(func(ctx context.Context, eng *client.Engine, _ *struct{}) (any, error) {
			n, err := eng.QueuedCount(ctx)
			return QueuedResult{Queued: n}, err
		})},
		"policy": {run: call(func(ctx context.Context, eng *client.Engine, _ *struct{}) (any, error) {
			p, err := eng.Policy(ctx)
			return policyResult{WipeAfter: p.WipeAfter, DeadMan: p.DeadMan.String()}, err
		})},
		"backup": {run: backupMethod},

		"group.create": {network: true, run: call(func(ctx context.Context, eng *client.Engine, p *groupCreateParams) (any, error) {
			id, err := eng.GroupCreate(ctx, client.GroupOptions{Name: p.Name, As: p.As, Timer: time.Duration(p.Timer), Expires: time.Duration(p.Expires), Relay: p.Relay, Relays: p.Relays})
			return ChatResult{id}, err
		})},
		"group.invite": {network: true, run: call(func(ctx context.Context, eng *client.Engine, p *groupInviteParams) (any, error) {
			key, err := eng.GroupInvite(ctx, p.Chat, time.Duration(p.Expires))
			return KeyResult{key}, err
		})},
		"group.members": {run: call(func(ctx context.Context, eng *client.Engine, p *chatParam) (any, error) {
			ms, epoch, err := eng.GroupMembers(ctx, p.Chat)
			if ms == nil {
				ms = []client.MemberInfo{}
			}
			return MembersResult{Epoch: epoch, Members: ms}, err
		})},
		"group.remove": {network: true, run: call(func(ctx context.Context, eng *client.Engine, p *memberParam) (any, error) {
			return ok{}, eng.GroupRemove(ctx, p.Chat, p.Member)
		})},
		"group.promote": {network: true, run: call(func(ctx context.Context, eng *client.Engine, p *memberParam) (any, error) {
			return ok{}, eng.GroupPromote(ctx, p.Chat, p.Member)
		})},
		"group.set": {network: true, run: call(func(ctx context.Context, eng *client.Engine, p *groupSetParams) (any, error) {
			var s client.GroupSettings
			if p.Timer != nil {
				t := time.Duration(*p.Timer)
				s.Timer = &t
			}
			if p.Expires != nil {
				x := time.Duration(*p.Expires)
				s.Expires = &x
			}
			s.Relays = p.Relays
			return ok{}, eng.GroupSet(ctx, p.Chat, s)
		})},
		"group.rekey": {network: true, run: call(func(ctx context.Context, eng *client.Engine, p *chatParam) (any, error) {
			return ok{}, eng.GroupRekey(ctx, p.Chat)
		})},
		"group.leave": {network: true, run: call(func(ctx context.Context, eng *client.Engine, p *chatParam) (any, error) {
			return ok{}, eng.GroupLeave(ctx, p.Chat)
		})},
		"group.sync": {network: true, run: call(func(ctx context.Context, eng *client.Engine, _ *struct{}) (any, error) {
			return ok{}, eng.GroupSync(ctx)
		})},
		"group.verify": {run: call(func(ctx context.Context, eng *client.Engine, p *chatParam) (any, error) {
			code, epoch, err := eng.GroupVerifyCode(ctx, p.Chat)
			return CodeResult{Code: code, Epoch: epoch}, err
		})},

		"relay.list": {run: relayListMethod},
		"relay.add": {network: true, run: call(func(ctx context.Context, eng *client.Engine, p *relayAddParam) (any, error) {
			var pw []byte
			if p.Password != "" {
				b, err := base64.RawURLEncoding.Strict().DecodeString(p.Password)
				if err != nil {
					return nil, badParams("password must be unpadded base64url")
				}
				pw = b
			}
			var r RelayAddResult
			if err := eng.CheckRelay(ctx, p.Relay); err != nil {
				r.Warning = explain(err).Message
			}
			if pw != nil {
				return r, eng.AddRelayPassword(ctx, p.Relay, pw)
			}
			return r, eng.AddRelay(ctx, p.Relay)
		})},
		"relay.default": {run: call(func(ctx context.Context, eng *client.Engine, p *relayParam) (any, error) {
			return ok{}, eng.SetDefaultRelay(ctx, p.Relay)
		})},
		"relay.remove": {run: call(func(ctx context.Context, eng *client.Engine, p *relayParam) (any, error) {
			return ok{}, eng.RemoveRelay(ctx, p.Relay)
		})},
		"relay.routing": {run: call(func(ctx context.Context, eng *client.Engine, p *routingParams) (any, error) {
			if p.Mode != nil {
				if err := eng.SetRouting(ctx, *p.Mode); err != nil {
					return nil, err
				}
			}
			if p.Forwarder != nil {
				if err := eng.SetForwarder(ctx, *p.Forwarder); err != nil {
					return nil, err
				}
			}
			return eng.Routing(ctx)
		})},
	}
	maps.Copy(methods, moreMethods())
	maps.Copy(methods, fileMethods())
	for name, m := range methods {
		if m.network {
			run := m.run
			m.run = func(ctx context.Context, c *conn, eng *client.Engine, raw json.RawMessage) (any, func(), error) {
				ctx, cancel := context.WithTimeout(ctx, networkTimeout)
				defer cancel()
				return run(ctx, c, eng, raw)
			}
			methods[name] = m
		}
	}
}

type (
	markParams struct {
		Chat string    `json:"chat"`
		IDs  *[]string `json:"ids,omitempty"`
	}
	sendParams struct {
		Chat  string   `json:"chat"`
		Text  string   `json:"text"`
		TTL   Duration `json:"ttl,omitempty"`
		Reply string   `json:"reply,omitempty"` // the local ID of the message quoted
	}
	editParams struct {
		Chat string `json:"chat"`
		ID   string `json:"id"`
		Text string `json:"text"`
	}
	renameParams struct {
		Chat string  `json:"chat"`
		Name *string `json:"name"`
	}
	receiptsParams struct {
		Chat string `json:"chat"`
		On   *bool  `json:"on"`
	}
	timerParams struct {
		Chat string    `json:"chat"`
		TTL  *Duration `json:"ttl"`
	}
	inviteParams struct {
		Name        string   `json:"name,omitempty"`
		As          string   `json:"as,omitempty"`
		Expires     Duration `json:"expires,omitempty"`
		ChatExpires Duration `json:"chat_expires,omitempty"`
		Relay       string   `json:"relay,omitempty"`
		Relays      []string `json:"relays,omitempty"`
	}
	joinParams struct {
		Key    string   `json:"key"`
		Name   string   `json:"name,omitempty"`
		As     string   `json:"as,omitempty"`
		Relay  string   `json:"relay,omitempty"`
		Relays []string `json:"relays,omitempty"`
	}
	moveParams struct {
		Chat  string `json:"chat"`
		Slot  int    `json:"slot"`
		Relay string `json:"relay,omitempty"`
	}
	readParams struct {
		Chat   string `json:"chat"`
		Limit  int    `json:"limit,omitempty"`
		Before string `json:"before,omitempty"`
		// MarkRead marks the incoming messages returned as read (their
		// disappearing timers start).
		MarkRead bool `json:"mark_read,omitempty"`
	}
	groupCreateParams struct {
		Name    string   `json:"name"`
		As      string   `json:"as,omitempty"`
		Timer   Duration `json:"timer,omitempty"`
		Expires Duration `json:"expires,omitempty"`
		Relay   string   `json:"relay,omitempty"`
		// Relays: the group's two relays, the primary first
		// (spec/groups.md §3.5); Relay is then ignored.
		Relays []string `json:"relays,omitempty"`
	}
	groupInviteParams struct {
		Chat    string   `json:"chat"`
		Expires Duration `json:"expires,omitempty"`
	}
	groupSetParams struct {
		Chat    string    `json:"chat"`
		Timer   *Duration `json:"timer,omitempty"`
		Expires *Duration `json:"expires,omitempty"`
		Relays  []string  `json:"relays,omitempty"` // a move (spec/groups.md §3.5)
	}
	policyResult struct {
		WipeAfter int    `json:"wipe_after"`
		DeadMan   string `json:"dead_man"`
	}
	unlockParams struct {
		PIN string `json:"pin"`
	}
	backupParams struct {
		Path       string `json:"path"`
		Passphrase string `json:"passphrase"`
	}
)

func (p *markParams) check() error { return need("chat", p.Chat) }
func (p *sendParams) check() error { return errors.Join(need("chat", p.Chat), need("text", p.Text)) }
func (p *editParams) check() error {
	return errors.Join(need("chat", p.Chat), need("id", p.ID), need("text", p.Text))
}
func (p *renameParams) check() error {
	return errors.Join(need("chat", p.Chat), present("name", p.Name != nil))
}
func (p *receiptsParams) check() error {
	return errors.Join(need("chat", p.Chat), present("on", p.On != nil))
}
func (p *timerParams) check() error {
	return errors.Join(need("chat", p.Chat), present("ttl", p.TTL != nil))
}
func (p *joinParams) check() error        { return need("key", p.Key) }
func (p *groupCreateParams) check() error { return need("name", p.Name) }
func (p *groupInviteParams) check() error { return need("chat", p.Chat) }
func (p *groupSetParams) check() error {
	if p.Timer == nil && p.Expires == nil {
		return errors.Join(need("chat", p.Chat), badParams("give timer, expires or both"))
	}
	return need("chat", p.Chat)
}
func (p *readParams) check() error {
	if p.Limit < 0 || p.Limit > maxPage {
		return badParams("limit is 0 to %d (0: %d)", maxPage, maxPage)
	}
	return need("chat", p.Chat)
}

// readMethod returns the newest messages older than p.Before (all when it
// is empty), at most p.Limit of them.
func readMethod(ctx context.Context, eng *client.Engine, p *readParams) (any, error) {
	all, err := eng.Messages(ctx, p.Chat, 0)
	if err != nil {
		return nil, err
	}
	end := len(all)
	if p.Before != "" {
		end = -1
		for i, m := range all {
			if m.ID == p.Before {
				end = i
				break
			}
		}
		if end < 0 {
			return nil, client.ErrNoMessage
		}
	}
	limit := p.Limit
	if limit == 0 {
		limit = maxPage
	}
	start, err := pageStart(all, end, limit)
	if err != nil {
		return nil, err
	}
	page := all[start:end]
	if page == nil {
		page = []client.MessageInfo{}
	}
	if p.MarkRead {
		var ids []string
		for _, m := range page {
			if !m.Outgoing && m.Unread {
				ids = append(ids, m.ID)
			}
		}
		if len(ids) > 0 {
			if err := eng.MarkRead(ctx, p.Chat, ids...); err != nil {
				return nil, err
			}
		}
	}
	return ReadResult{Messages: page, More: start > 0}, nil
}

func relayListMethod(ctx context.Context, c *conn, eng *client.Engine, raw json.RawMessage) (any, func(), error) {
	if err := rpc.DecodeParams(raw, &struct{}{}); err != nil {
		return nil, nil, badParams("relay.list takes no parameters")
	}
	def, all, err := eng.Relays(ctx)
	if err != nil {
		return nil, nil, err
	}
	withPw, err := eng.RelaysWithPassword(ctx)
	if err != nil {
		return nil, nil, err
	}
	_, sess := c.s.engine()
	out := make([]RelayInfo, 0, len(all))
	for _, r := range all {
		out = append(out, RelayInfo{Relay: r, Default: r == def, Embedded: sess != nil && r == sess.Embedded, Password: withPw[r]})
	}
	return out, nil, nil
}

func unlockMethod(ctx context.Context, c *conn, _ *client.Engine, raw json.RawMessage) (any, func(), error) {
	var p unlockParams
	if err := rpc.DecodeParams(raw, &p); err != nil {
		return nil, nil, badParams("unlock takes {\"pin\": PIN}")
	}
	pin := []byte(p.PIN)
	defer clear(pin)
	if !c.s.Locked() {
		return c.s.Status(), nil, nil
	}
	// The unlock is not cancelled once the PIN is tried (a duress PIN
	// erases during it).
	if err := c.s.Unlock(context.WithoutCancel(ctx), pin); err != nil {
		return nil, c.s.finishIfGone, err
	}
	return c.s.Status(), nil, nil
}

func backupMethod(ctx context.Context, c *conn, eng *client.Engine, raw json.RawMessage) (any, func(), error) {
	var p backupParams
	if err := rpc.DecodeParams(raw, &p); err != nil {
		return nil, nil, badParams("backup takes {\"path\": FILE, \"passphrase\": PASSPHRASE}")
	}
	pass := []byte(p.Passphrase)
	defer clear(pass)
	switch {
	case !filepath.IsAbs(p.Path):
		return nil, nil, badParams("\"path\" must be an absolute file name")
	case len(pass) < minPassphrase:
		return nil, nil, badParams("the backup passphrase must be at least %d bytes", minPassphrase)
	}
	return ok{}, nil, c.s.cfg.Profile.Backup(ctx, eng, p.Path, pass)
}

// pageStart returns where the page of all that ends at end begins: the
// newest items first, at most limit of them, until the page would not
// fit its line (at least one item, whatever its size).
func pageStart[T any](all []T, end, limit int) (int, error) {
	start, size := end, 0
	for start > 0 && end-start < limit {
		b, err := rpc.Marshal(all[start-1])
		if err != nil {
			return 0, err
		}
		if size += len(b) + 1; size > maxPageBytes && start < end {
			break
		}
		start--
	}
	return start, nil
}
