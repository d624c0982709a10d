package client

import (
	"veil/client/internal/format"
	"veil/relay/wire"
	"veil/vault"
)

// groupPasswords are the passwords LNEW tries on each of a group's relays
// (spec/groups.md §3.5, spec/relay.md §3.5), by canonical address. The
// stored ones come from the profile; a password the roster carries for a
// relay is taken like an invite key's (relayPasswords.fromKey), so a
// member who becomes an admin can make epoch logs on every relay of the
// group, and a roster cannot overwrite a password that works.
type groupPasswords map[string]*relayPasswords

// loadGroupPasswords reads the stored passwords of primary and of every
// relay in relays (roster entries, possibly credentialed), and takes the
// passwords those entries carry.
func loadGroupPasswords(tx *vault.Tx, primary string, relays []string) groupPasswords {
	p := groupPasswords{}
	if primary != "" {
		p[canonicalRelay(primary)] = loadRelayPasswords(tx, primary)
	}
	for _, r := range relays {
		base := canonicalRelay(format.RelayBase(r))
		if p[base] == nil {
			p[base] = loadRelayPasswords(tx, base)
		}
		p[base].fromKey(rosterPassword(r))
	}
	return p
}

// rosterPassword is the password a roster's relay entry carries, if any.
func rosterPassword(r string) wire.Password {
	c, err := wire.ParseCredentialed(r)
	if err != nil {
		return nil
	}
	return c.Password
}

// forRelay returns the passwords of addr, adding an entry without any
// when none is known (so what a later try learns can still be saved).
func (p groupPasswords) forRelay(addr string) *relayPasswords {
	if p == nil || addr == "" {
		return nil
	}
	base := canonicalRelay(addr)
	if p[base] == nil {
		p[base] = &relayPasswords{addr: base}
	}
	return p[base]
}

// take adds the password a roster entry r carries (after a move).
func (p groupPasswords) take(r string) {
	if p == nil {
		return
	}
	if pw := rosterPassword(r); len(pw) > 0 {
		p.forRelay(format.RelayBase(r)).fromKey(pw)
	}
}

// current is the password to put in an invite key for addr.
func (p groupPasswords) current(addr string) wire.Password {
	if p == nil {
		return nil
	}
	return p[canonicalRelay(addr)].current()
}

// save writes what loading, take or a try changed.
func (p groupPasswords) save(tx *vault.Tx) error {
	for _, rp := range p {
		if err := rp.save(tx); err != nil {
			return err
		}
	}
	return nil
}

// relays lists the relay entries of l's roster, as the roster holds them.
func (l *groupLog) relays() []string {
	if l.roster == nil {
		return nil
	}
	return l.roster.Settings.Relays
}

// relayAddr is addr, or the group's primary relay when addr is "" (a
// group whose roster names no relay).
func (g *groupState) relayAddr(addr string) string {
	if addr == "" && g.relays != nil {
		return g.relays.primary
	}
	return addr
}

// credentialedRelays returns relays (canonical) with the password stored
// for each appended in the credentialed form, for a roster: the members
// need them to make logs there once they are admins.
func credentialedRelays(tx *vault.Tx, relays []string) []string {
	out := make([]string, len(relays))
	for i, r := range relays {
		out[i] = r
		if pw := relayPassword(tx, r); len(pw) > 0 {
			a, err := wire.ParseAddress(r)
			if err == nil {
				out[i] = wire.Credentialed{Address: a, Password: pw}.Secret()
			}
		}
	}
	return out
}
