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
	relayAddr, err := e.pickRelay(ctx, opt.Relay)
	if err != nil {
		return "", "", err
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
	pws, err := e.passwordsFor(ctx, relayAddr)
	if err != nil {
		return "", "", err
	}
	var rid, sid crypto.ID
	err = pws.try(func(pw wire.Password) (err error) {
		rid, sid, err = c.New(ctx, recvKey, pw)
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("client: creating the reply mailbox: %w", relayErr(relayAddr, err))
	}
	bp, err := ratchet.NewBundle(e.rcfg)
	if err != nil {
		return "", "", err
	}
	defer bp.Wipe()
	// The key carries the relay's password: the joiner creates its
	// mailbox there (spec/client.md §2.1).
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
		if err := pws.save(tx); err != nil {
			return err
		}
		ct := vault.Contact{ID: chatID, OurIdentity: bp.Marshal(), Created: now,
			Relays: []vault.RelayCap{{Address: a.String(), RecvID: rid[:], RecvKey: recvKey.Seed()}}}
		if err := tx.PutContact(&ct); err != nil {
			return err
		}
		ch := vault.Chat{ID: chatID, Kind: vault.ChatDirect, Name: opt.Name, ContactID: chatID, Deadline: blob.Deadline, Created: now, LastActive: now}
		if err := tx.PutChat(&ch); err != nil {
			return err
		}
		return putMeta(tx, chatID, &chatMeta{As: opt.As, Pending: true, InviteUntil: until, InviteKey: k.String(),
			AlarmLog: k.AlarmLog[:], AlarmRead: alarmRead[:], AlarmWrite: d.AlarmWrite[:]})
	})
	if err != nil {
		_ = c.Delete(ctx, rid, recvKey)
		dropAlarmLog(ctx, c, k.AlarmLog, d.AlarmWrite[:])
		return "", "", err
	}
	if err := c.Put(ctx, d.BlobID, opt.Expires, body); err != nil {
		_ = e.eraseChat(ctx, chatID)
		dropAlarmLog(ctx, c, k.AlarmLog, d.AlarmWrite[:])
		return "", "", fmt.Errorf("client: storing the invite: %w", relayErr(relayAddr, err))
	}
	e.mailboxesChanged(a.String())
	return k.String(), chatID, nil
}

// JoinOptions are the options of Join.
type JoinOptions struct {
	Name  string // what we call the chat locally (optional)
	As    string // the nickname the inviter sees; random when empty
	Relay string // the relay for our mailbox; the invite's relay when empty
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
	// Our mailbox, secured at once by us with the capability we hand to
	// the inviter inside the encrypted first message.
	ourAddr := addr
	if opt.Relay != "" {
		if ourAddr, err = e.pickRelay(ctx, opt.Relay); err != nil {
			return "", err
		}
	}
	oc, err := e.pool.get(ctx, ourAddr)
	if err != nil {
		return "", err
	}
	recvKey, err := crypto.GenerateSign(e.cfg.Rand)
	if err != nil {
		return "", err
	}
	// The key's password is kept for the invite's relay; it never
	// replaces a stored one that works (relayPasswords.fromKey).
	keyPws, err := e.passwordsFor(ctx, addr)
	if err != nil {
		return "", err
	}
	keyPws.fromKey(k.Relay.Password)
	ourPws := keyPws
	if canonicalRelay(ourAddr) != keyPws.addr {
		if ourPws, err = e.passwordsFor(ctx, ourAddr); err != nil {
			return "", err
		}
	}
	var rid, sid crypto.ID
	err = ourPws.try(func(pw wire.Password) (err error) {
		rid, sid, err = oc.New(ctx, recvKey, pw)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("client: creating our mailbox: %w", relayErr(ourAddr, err))
	}
	var ourCap, theirCap [wire.CapSize]byte
	if err := e.random(ourCap[:]); err != nil {
		return "", err
	}
	if err := e.random(theirCap[:]); err != nil {
		return "", err
	}
	if err := oc.SecureSender(ctx, sid, &ourCap); err != nil {
		return "", fmt.Errorf("client: securing our mailbox: %w", relayErr(ourAddr, err))
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
	env := &format.Envelope{Type: format.EnvHello, ID: w, SID: sid, Cap: ourCap, Relay: ourAddr, Nick: opt.As}
	err = e.v.Update(ctx, func(tx *vault.Tx) error {
		if err := keyPws.save(tx); err != nil {
			return err
		}
		if err := ourPws.save(tx); err != nil {
			return err
		}
		if err := e.queue(tx, sess, chatID, "", env); err != nil {
			return err
		}
		ct := vault.Contact{ID: chatID, Nickname: blob.Nick, OurIdentity: ourID.Marshal(), TheirIdentity: bundle.Identity.Bytes(), Ratchet: sess.Marshal(), Created: now,
			Relays: []vault.RelayCap{
				{Address: ourAddr, RecvID: rid[:], RecvKey: recvKey.Seed()},
				{Address: addr, SendID: blob.SID[:], SendCred: theirCap[:]},
			}}
		if err := tx.PutContact(&ct); err != nil {
			return err
		}
		ch := vault.Chat{ID: chatID, Kind: vault.ChatDirect, Name: opt.Name, ContactID: chatID, Deadline: blob.Deadline, Created: now, LastActive: now}
		if err := tx.PutChat(&ch); err != nil {
			return err
		}
		// The key is kept until the inviter's mailbox takes our first
		// message, to raise the alarm if someone else secured it first.
		return putMeta(tx, chatID, &chatMeta{As: opt.As, NeedSKey: true, JoinKey: k.String()})
	})
	if err != nil {
		return "", err
	}
	e.mailboxesChanged(ourAddr)
	e.kickOutbox()
	return chatID, nil
}

// pickRelay returns addr in its canonical form, or the profile's default
// relay. A credentialed addr (spec/relay.md §3.5) has its password stored,
// as `relay add` would.
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
