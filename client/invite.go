package client

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
	"veil/relay/wire"
	"veil/vault"
)

// InviteOptions are the options of Invite.
type InviteOptions struct {
	Name        string        // what we call the chat locally (optional)
	As          string        // the nickname the peer sees; random when empty
	Expires     time.Duration // the invite's own lifetime (24 h when zero, at most 7 days)
	ChatExpires time.Duration // the whole chat's lifetime from now; zero = no deadline
	Relay       string        // the relay for the blob and our mailbox; the profile's default when empty
	// Relays, when set, replaces Relay: the first holds the blob and our
	// slot 0 mailbox, a second our slot 1 mailbox (spec/client.md §7.5).
	Relays []string
}

// Invite creates a one-time invite (spec/client.md §4.1): our reply
// mailbox, a fresh per-contact identity and one-time keys, and the
// encrypted bundle stored on the relay as a one-time blob. It returns the
// invite key to hand to exactly one person over a private channel, and the
// new chat's ID.
func (e *Engine) Invite(ctx context.Context, opt InviteOptions) (key, chatID string, err error) {
	if opt.Expires == 0 {
		opt.Expires = defaultInviteLife
	}
	if opt.Expires < time.Second || opt.Expires > maxInviteLife {
		return "", "", badInput("invite lifetime must be between 1s and %v", maxInviteLife)
	}
	if opt.ChatExpires < 0 {
		return "", "", badInput("chat lifetime must be positive")
	}
	if err := checkNick(opt.As); err != nil {
		return "", "", err
	}
	if opt.As == "" {
		if opt.As, err = e.randomNick(); err != nil {
			return "", "", err
		}
	}
	relays := opt.Relays
	if len(relays) == 0 {
		relays = []string{opt.Relay}
	}
	if len(relays) > format.MaxSlots {
		return "", "", badInput("a chat uses at most %d relays", format.MaxSlots)
	}
	relayAddr, err := e.pickRelay(ctx, relays[0])
	if err != nil {
		return "", "", err
	}
	if err := envelopeRelay(relayAddr); err != nil {
		return "", "", err
	}
	second := ""
	if len(relays) == 2 {
		if second, err = e.pickRelay(ctx, relays[1]); err != nil {
			return "", "", err
		}
		if second == relayAddr {
			return "", "", badInput("the two relays of a chat must differ")
		}
		if err := envelopeRelay(second); err != nil {
			return "", "", err
		}
	}
	a, err := wire.ParseAddress(relayAddr)
	if err != nil {
		return "", "", fmt.Errorf("client: %w", err)
	}
	c, err := e.pool.get(ctx, relayAddr)
	if err != nil {
		return "", "", err
	}
	recvKey, err := crypto.GenerateSign(e.cfg.Rand)
	if err != nil {
		return "", "", err
	}
	rid, sid, err := e.relayNew(ctx, c, relayAddr, recvKey)
	if err != nil {
		return "", "", fmt.Errorf("client: creating the reply mailbox: %w", relayErr(relayAddr, err))
	}
	ours := []vault.RelayCap{{Address: a.String(), RecvID: rid[:], RecvKey: recvKey.Seed()}}
	var extra []format.BlobMailbox
	if second != "" {
		m, err := e.replyMailbox(ctx, second)
		if err != nil {
			_ = c.Delete(ctx, rid, recvKey)
			return "", "", err
		}
		ours = append(ours, vault.RelayCap{Address: second, RecvID: m.rid[:], RecvKey: m.key.Seed(), Slot: 1})
		// The blob carries the second relay's password too: the joiner
		// may make its own mailbox there (spec/client.md §3.1).
		extra = []format.BlobMailbox{{Relay: e.credentialedRelay(ctx, second), SID: m.sid}}
	}
	bp, err := ratchet.NewBundle(e.rcfg)
	if err != nil {
		return "", "", err
	}
	defer bp.Wipe()
	// The key carries the relay's password: the joiner creates its
	// mailbox there (spec/client.md §2.1).
	pws, err := e.passwordsFor(ctx, relayAddr)
	if err != nil {
		return "", "", err
	}
	k := &format.InviteKey{Relay: wire.Credentialed{Address: a, Password: pws.current()}}
	if err := e.random(k.Secret[:]); err != nil {
		return "", "", err
	}
	d := format.DeriveInvite(k)
	alarmRead, err := e.newAlarmLog(ctx, c, k, &d, opt.Expires)
	if err != nil {
		_ = c.Delete(ctx, rid, recvKey)
		return "", "", fmt.Errorf("client: creating the invite's alarm: %w", relayCause(relayAddr, err))
	}
	now := e.now()
	blob := &format.InviteBlob{Bundle: bp.Bundle().Marshal(), SID: sid, Nick: opt.As}
	if len(extra) > 0 {
		blob.Extra, blob.Features = extra, format.Features
	}
	if opt.ChatExpires > 0 {
		blob.Deadline = now.Add(opt.ChatExpires).Truncate(time.Second)
	}
	pt, err := blob.Marshal()
	if err != nil {
		return "", "", err
	}
	body, err := format.SealBlob(&d.BlobKey, d.BlobID, pt, format.LabelBlobAD, e.cfg.Rand)
	if err != nil {
		return "", "", err
	}
	if chatID, err = e.shortID(); err != nil {
		return "", "", err
	}
	// Store first: a crash after the PUT must not leave a live invite we
	// cannot complete.
	until := now.Add(opt.Expires)
	err = e.v.Update(ctx, func(tx *vault.Tx) error {
		for i := range ours {
			ours[i].Created, ours[i].RotateAt = now, e.rotateAt(now)
		}
		ct := vault.Contact{ID: chatID, OurIdentity: bp.Marshal(), Created: now, Relays: ours}
		if err := tx.PutContact(&ct); err != nil {
			return err
		}
		ch := vault.Chat{ID: chatID, Kind: vault.ChatDirect, Name: opt.Name, ContactID: chatID, Deadline: blob.Deadline, Created: now, LastActive: now}
		if err := tx.PutChat(&ch); err != nil {
			return err
		}
		return putMeta(tx, chatID, &chatMeta{As: opt.As, Pending: true, InviteUntil: until, InviteKey: k.String(),
			AlarmLog: k.AlarmLog[:], AlarmRead: alarmRead[:], AlarmWrite: d.AlarmWrite[:], SentFeatures: blob.Features})
	})
	if err != nil {
		_ = c.Delete(ctx, rid, recvKey)
		dropAlarmLog(ctx, c, k.AlarmLog, d.AlarmWrite[:])
		return "", "", err
	}
	if err := c.Put(ctx, d.BlobID, opt.Expires, k.Relay.Password, body); err != nil {
		_ = e.eraseChat(ctx, chatID)
		dropAlarmLog(ctx, c, k.AlarmLog, d.AlarmWrite[:])
		return "", "", fmt.Errorf("client: storing the invite: %w", relayErr(relayAddr, err))
	}
	e.mailboxesChanged(a.String())
	if second != "" {
		e.mailboxesChanged(second)
	}
	return k.String(), chatID, nil
}

// JoinOptions are the options of Join.
type JoinOptions struct {
	Name  string // what we call the chat locally (optional)
	As    string // the nickname the inviter sees; random when empty
	Relay string // the relay for our mailbox; the invite's relay when empty
	// Relays, when set, replaces Relay: our mailboxes, one per slot. An
	// invite to two relays makes one on each of them when neither is set.
	Relays []string
}

// Join accepts an invite key (spec/client.md §4.2): it takes the blob (so
// the key dies), runs the PQXDH handshake, creates our mailbox, secures the
// inviter's mailbox and queues the first message, which carries our
// mailbox's sender ID and capability. A key whose blob is gone returns
// ErrInviteUsed, after leaving the leak alarm for the inviter (§4.4).
func (e *Engine) Join(ctx context.Context, inviteKeyText string, opt JoinOptions) (string, error) {
	k, err := format.ParseInviteKey(inviteKeyText)
	if err != nil {
		return "", err
	}
	if err := checkNick(opt.As); err != nil {
		return "", err
	}
	if opt.As == "" {
		if opt.As, err = e.randomNick(); err != nil {
			return "", err
		}
	}
	d := format.DeriveInvite(k)
	addr := k.Relay.String()
	c, err := e.deliver(ctx, addr, "")
	if err != nil {
		return "", err
	}
	body, err := c.Take(ctx, d.BlobID)
	if isCode(err, wire.CodeNotFound) {
		e.raiseAlarm(ctx, k, &d)
		return "", ErrInviteUsed
	}
	if err != nil {
		return "", fmt.Errorf("client: taking the invite: %w", relayErr(addr, err))
	}
	pt, err := format.OpenBlob(&d.BlobKey, d.BlobID, body, format.LabelBlobAD)
	if err != nil {
		return "", err
	}
	if len(pt) > 0 && pt[0] == format.GroupBlobMarker {
		return e.joinGroupInvite(ctx, k, c, pt, opt) // spec/groups.md §9
	}
	blob, err := format.ParseInviteBlob(pt)
	if err != nil {
		return "", err
	}
	now := e.now()
	if !blob.Deadline.IsZero() && !now.Before(blob.Deadline) {
		return "", errors.New("client: this invite's chat has already expired")
	}
	bundle, err := ratchet.ParseBundle(blob.Bundle)
	if err != nil {
		return "", fmt.Errorf("client: invite bundle: %w", err)
	}
	sess, ourID, err := ratchet.InitiateKeep(e.rcfg, bundle)
	if err != nil {
		return "", err
	}
	// Our mailboxes, secured at once by us with the capabilities we hand
	// to the inviter inside the encrypted first message.
	v2 := len(blob.Extra) > 0
	// The inviter's second relay, when only this machine or network can
	// reach it and the invite's own relay is not one such, is left out:
	// we answer on the invite's relay alone (spec/client.md §4.1).
	second := v2
	var warn string
	if v2 {
		if reach := peerRelayReach(format.RelayBase(blob.Extra[0].Relay), addr); reach != "" {
			second = false
			warn = "the invite's second relay " + shortRelay(format.RelayBase(blob.Extra[0].Relay)) + " can be reached from " + reach + " only: ignored, the chat uses the invite's relay"
		}
	}
	ourRelays := opt.Relays
	switch {
	case len(ourRelays) > 0:
	case opt.Relay != "":
		ourRelays = []string{opt.Relay}
	case second:
		ourRelays = []string{addr, format.RelayBase(blob.Extra[0].Relay)}
	default:
		ourRelays = []string{addr}
	}
	if !v2 || len(ourRelays) > format.MaxSlots {
		ourRelays = ourRelays[:1] // an older inviter reads one mailbox
	}
	// The passwords the key and the blob carry are kept for their relays;
	// they never replace a stored one that works (relayPasswords.fromKey).
	if err := e.takePassword(ctx, addr, k.Relay.Password); err != nil {
		return "", err
	}
	if second {
		x := blob.Extra[0].Relay
		if err := e.takePassword(ctx, format.RelayBase(x), rosterPassword(x)); err != nil {
			return "", err
		}
	}
	var ras []string
	for _, r := range ourRelays {
		ra, err := e.pickRelay(ctx, r)
		if err != nil {
			return "", err
		}
		if err := envelopeRelay(ra); err != nil {
			return "", err
		}
		ras = append(ras, ra)
	}
	var mine []*ourMailbox
	for _, ra := range ras {
		m, err := e.newSecuredMailbox(ctx, ra)
		if err != nil {
			return "", err
		}
		mine = append(mine, m)
	}
	theirs := []vault.RelayCap{{Address: addr, SendID: blob.SID[:]}}
	if second {
		xa, err := wire.ParseCredentialed(blob.Extra[0].Relay)
		if err != nil {
			return "", fmt.Errorf("client: invite relay: %w", err)
		}
		theirs = append(theirs, vault.RelayCap{Address: xa.String(), SendID: blob.Extra[0].SID[:], Slot: 1})
	}
	for i := range theirs {
		theirs[i].SendCred = make([]byte, wire.CapSize)
		if err := e.random(theirs[i].SendCred); err != nil {
			return "", err
		}
	}
	chatID, err := e.shortID()
	if err != nil {
		return "", err
	}
	helloID, err := e.newID()
	if err != nil {
		return "", err
	}
	w, _ := outgoingWireID(helloID)
	env := &format.Envelope{Type: format.EnvHello, ID: w, SID: mine[0].sid, Cap: mine[0].cap, Relay: mine[0].relay, Nick: opt.As}
	if v2 {
		env = &format.Envelope{Type: format.EnvHello2, ID: w, Nick: opt.As, Features: format.Features}
		for i, m := range mine {
			env.Slots = append(env.Slots, m.slotCap(uint8(i)))
		}
	}
	err = e.v.Update(ctx, func(tx *vault.Tx) error {
		for _, m := range mine {
			if err := unqueueDel(tx, m.rid); err != nil {
				return err
			}
		}
		if err := e.queue(tx, sess, chatID, "", env); err != nil {
			return err
		}
		relays := theirs
		for i, m := range mine {
			relays = append(relays, vault.RelayCap{Address: m.relay, RecvID: m.rid[:], RecvKey: m.key.Seed(), Slot: uint8(i), Created: now, RotateAt: e.rotateAt(now)})
		}
		ct := vault.Contact{ID: chatID, Nickname: blob.Nick, OurIdentity: ourID.Marshal(), TheirIdentity: bundle.Identity.Bytes(), Ratchet: sess.Marshal(), Created: now,
			Relays: relays}
		if err := tx.PutContact(&ct); err != nil {
			return err
		}
		ch := vault.Chat{ID: chatID, Kind: vault.ChatDirect, Name: opt.Name, ContactID: chatID, Deadline: blob.Deadline, Created: now, LastActive: now}
		if err := tx.PutChat(&ch); err != nil {
			return err
		}
		// The key is kept until the inviter's mailbox takes our first
		// message, to raise the alarm if someone else secured it first.
		return putMeta(tx, chatID, &chatMeta{As: opt.As, NeedSKey: true, JoinKey: k.String(), PeerFeatures: blob.Features, SentFeatures: env.Features})
	})
	if err != nil {
		return "", err
	}
	for _, m := range mine {
		e.mailboxesChanged(m.relay)
	}
	if warn != "" {
		e.emit(ctx, Event{Type: EventWarning, Chat: chatID, Err: warn})
	}
	e.kickOutbox()
	return chatID, nil
}

// replyMailbox makes an inviter's reply mailbox on relay: the joiner
// secures it.
func (e *Engine) replyMailbox(ctx context.Context, relay string) (*ourMailbox, error) {
	c, err := e.pool.get(ctx, relay)
	if err != nil {
		return nil, err
	}
	m := &ourMailbox{relay: relay}
	if m.key, err = crypto.GenerateSign(e.cfg.Rand); err != nil {
		return nil, err
	}
	if m.rid, m.sid, err = e.relayNew(ctx, c, relay, m.key); err != nil {
		return nil, fmt.Errorf("client: creating the reply mailbox: %w", relayErr(relay, err))
	}
	return m, nil
}

// pickRelay returns addr, or the profile's default relay.
func (e *Engine) pickRelay(ctx context.Context, addr string) (string, error) {
	if addr != "" {
		a, err := wire.ParseCredentialed(addr)
		if err != nil {
			return "", badAddress(err)
		}
		if len(a.Password) > 0 {
			err := e.v.Update(ctx, func(tx *vault.Tx) error { return setRelayPassword(tx, a.String(), a.Password) })
			if err != nil {
				return "", err
			}
		}
		return a.String(), nil
	}
	def, _, err := e.Relays(ctx)
	if err != nil {
		return "", err
	}
	if def == "" {
		return "", ErrNoRelay
	}
	return def, nil
}

// checkNick refuses a nickname we would send that is too long, holds
// anything Sanitize removes, or draws nothing (spec/client.md §9). Empty
// means a random one.
func checkNick(n string) error {
	if len(n) > format.MaxNick || !utf8.ValidString(n) || SanitizeLine(n) != n {
		return badInput("a nickname is at most %d bytes of printable text", format.MaxNick)
	}
	if n != "" && !HasVisible(n) {
		return errBlankNick
	}
	return nil
}

// errBlankNick refuses a nickname of only spaces, marks or invisible
// characters, which would let its owner pass for nobody or for someone else.
var errBlankNick = badInput("a nickname needs at least one visible character")

// randomNick returns a nickname that says nothing about its owner.
func (e *Engine) randomNick() (string, error) {
	adj := []string{"quiet", "amber", "brisk", "calm", "dusky", "eager", "fair", "gentle", "hazy", "ivory", "jade", "keen", "lunar", "misty", "noble", "olive"}
	noun := []string{"fox", "heron", "lynx", "otter", "raven", "wren", "badger", "finch", "hare", "ibis", "kite", "moth", "newt", "owl", "pike", "seal"}
	var b [2]byte
	if err := e.random(b[:]); err != nil {
		return "", err
	}
	return adj[b[0]%16] + "-" + noun[b[1]%16], nil
}
