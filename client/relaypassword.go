package client

import (
	"context"
	"fmt"
	"io"

	"veil/relay/wire"
	"veil/vault"
)

// A relay's password (spec/relay.md §3.5, spec/client.md §7.1) is kept in
// the profile's settings under its canonical address, base64url. A
// password an invite key offered for a relay whose stored one differs is
// kept apart as the offer: it is tried only after the stored one got
// PASSWORD, and replaces it only once a NEW or LNEW succeeded with it, so
// an invite key cannot overwrite a working password.
const (
	settingRelayPassword      = "relay/password/"
	settingRelayPasswordOffer = "relay/password-offer/"
)

// canonicalRelay returns addr in its canonical form, or addr itself when
// it does not parse (nothing is then found under it).
func canonicalRelay(addr string) string {
	if a, err := wire.ParseAddress(addr); err == nil {
		return a.String()
	}
	return addr
}

// relaySetting returns the password stored under prefix for addr, or nil.
func relaySetting(tx *vault.Tx, prefix, addr string) wire.Password {
	p, err := profile(tx)
	if err != nil {
		return nil
	}
	s, ok := p.Settings[prefix+canonicalRelay(addr)]
	if !ok {
		return nil
	}
	pw, err := wire.ParsePassword(s)
	if err != nil {
		return nil
	}
	return pw
}

func putRelaySetting(tx *vault.Tx, prefix, addr string, pw wire.Password) error {
	p, err := profile(tx)
	if err != nil {
		return err
	}
	key := prefix + canonicalRelay(addr)
	if len(pw) == 0 {
		if _, ok := p.Settings[key]; !ok {
			return nil
		}
		delete(p.Settings, key)
	} else {
		p.Settings[key] = pw.Encode()
	}
	return tx.PutProfile(&p)
}

// relayOffer returns the password an invite key offered for addr, or nil.
func relayOffer(tx *vault.Tx, addr string) wire.Password {
	return relaySetting(tx, settingRelayPasswordOffer, addr)
}

// relayPasswords are the passwords NEW and LNEW try on one relay, in
// order: the stored one (none when nil), then the offered one. It is
// loaded in one transaction, used on the network, and saved in a later
// one; it holds secrets and never prints them.
type relayPasswords struct {
	addr   string
	stored wire.Password
	offer  wire.Password
	dirty  bool // stored or offer changed: save writes them
}

// loadRelayPasswords reads addr's stored and offered passwords.
func loadRelayPasswords(tx *vault.Tx, addr string) *relayPasswords {
	return &relayPasswords{addr: canonicalRelay(addr), stored: relayPassword(tx, addr), offer: relayOffer(tx, addr)}
}

// passwordsFor is loadRelayPasswords in its own transaction.
func (e *Engine) passwordsFor(ctx context.Context, addr string) (*relayPasswords, error) {
	var p *relayPasswords
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		p = loadRelayPasswords(tx, addr)
		return nil
	})
	return p, err
}

// current is the password to put in an invite key for this relay: the
// stored one, which is the one that worked last.
func (p *relayPasswords) current() wire.Password {
	if p == nil {
		return nil
	}
	return p.stored
}

// forChunks is the password CPUT and CROOM carry for this relay: the
// stored one, else the one an invite key offered; nil when neither.
func (p *relayPasswords) forChunks() wire.Password {
	switch {
	case p == nil:
		return nil
	case len(p.stored) > 0:
		return p.stored
	}
	return p.offer
}

// fromKey takes the password an invite key carries: it becomes the stored
// one when none is stored, and the offer when a different one is.
func (p *relayPasswords) fromKey(pw wire.Password) {
	switch {
	case len(pw) == 0 || pw.Equal(p.stored) || pw.Equal(p.offer):
	case len(p.stored) == 0:
		p.stored, p.dirty = pw, true
	default:
		p.offer, p.dirty = pw, true
	}
}

// try runs op, a NEW or LNEW, with the stored password; when the relay
// answers PASSWORD and a different password was offered, it runs op again
// with that one, which then becomes the stored one (save writes it). A
// PASSWORD answer in the end is returned as a *PasswordError. A nil p
// tries no password.
func (p *relayPasswords) try(op func(wire.Password) error) error {
	if p == nil {
		return op(nil)
	}
	err := op(p.stored)
	sent := len(p.stored) > 0
	if isCode(err, wire.CodePassword) && len(p.offer) > 0 && !p.offer.Equal(p.stored) {
		sent = true
		if err = op(p.offer); err == nil {
			p.stored, p.offer, p.dirty = p.offer, nil, true
		}
	}
	if isCode(err, wire.CodePassword) {
		return &PasswordError{Relay: shortRelay(p.addr), Stored: sent, err: relayErr(p.addr, err)}
	}
	return err
}

// save writes what fromKey or try changed.
func (p *relayPasswords) save(tx *vault.Tx) error {
	if p == nil || !p.dirty {
		return nil
	}
	if err := setRelayPassword(tx, p.addr, p.stored); err != nil {
		return err
	}
	if err := putRelaySetting(tx, settingRelayPasswordOffer, p.addr, p.offer); err != nil {
		return err
	}
	p.dirty = false
	return nil
}

// saveNow is save in its own transaction.
func (e *Engine) savePasswords(ctx context.Context, ps ...*relayPasswords) error {
	dirty := false
	for _, p := range ps {
		dirty = dirty || (p != nil && p.dirty)
	}
	if !dirty {
		return nil
	}
	return e.v.Update(ctx, func(tx *vault.Tx) error {
		for _, p := range ps {
			if err := p.save(tx); err != nil {
				return err
			}
		}
		return nil
	})
}

// PasswordError is a relay's PASSWORD answer to a NEW or LNEW
// (spec/relay.md §10): Stored says whether a password was sent. Relay is
// host:port; the error never holds the password.
type PasswordError struct {
	Relay  string
	Stored bool
	err    error
}

func (e *PasswordError) Error() string { return "client: " + e.words() }

// Unwrap gives the relay's error, so errors.Is matches wire.CodePassword.
func (e *PasswordError) Unwrap() error { return e.err }

func (e *PasswordError) words() string {
	if e.Stored {
		return "relay " + e.Relay + " refused the password stored for it"
	}
	return "relay " + e.Relay + " needs a password: veil relay add ADDRESS --password-file FILE (ask its operator)"
}

// Format prints only the relay's address, whatever the verb: the
// passwords never reach text through fmt.
func (p relayPasswords) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "relayPasswords("+p.addr+", redacted)")
}

// CheckRelayAddress says what is wrong with addr, a relay address in the
// canonical or the credentialed form (spec/relay.md §3.4, §3.5), or nil.
// The error never holds the password.
func CheckRelayAddress(addr string) error {
	if _, err := wire.ParseCredentialed(addr); err != nil {
		return badAddress(err)
	}
	return nil
}

// takePassword keeps pw, offered for addr by an invite key or blob, as
// relayPasswords.fromKey does, in its own transaction.
func (e *Engine) takePassword(ctx context.Context, addr string, pw wire.Password) error {
	if len(pw) == 0 {
		return nil
	}
	return e.v.Update(ctx, func(tx *vault.Tx) error {
		p := loadRelayPasswords(tx, addr)
		p.fromKey(pw)
		return p.save(tx)
	})
}

// credentialedRelay returns addr (canonical) in the credentialed form
// when a password is stored for it, else addr itself: for a blob that
// hands a relay to a peer who will make a mailbox there.
func (e *Engine) credentialedRelay(ctx context.Context, addr string) string {
	out := addr
	_ = e.v.View(ctx, func(tx *vault.Tx) error {
		out = credentialedRelays(tx, []string{addr})[0]
		return nil
	})
	return out
}
