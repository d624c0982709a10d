package client

import (
	"context"
	"time"

	"veil/client/internal/format"
	"veil/relay/conn"
	"veil/vault"
)

// GroupSettings are the changes GroupSet makes; a nil field is kept.
type GroupSettings struct {
	// Timer is the new disappearing timer of every member's copy; zero
	// turns it off.
	Timer *time.Duration
	// Expires is the group's new lifetime from now; zero removes the
	// deadline.
	Expires *time.Duration
	// Relays, when set, are the group's new relays, the primary first:
	// an in-band move (spec/groups.md §3.5).
	Relays []string
}

// GroupSet changes the group's disappearing timer or deadline for every
// member (admin only): a settings commit, a new epoch (spec/groups.md
// §7.5). Each member's client applies the new settings when it reads the
// commit.
func (e *Engine) GroupSet(ctx context.Context, ref string, opt GroupSettings) error {
	if opt.Timer == nil && opt.Expires == nil && opt.Relays == nil {
		return badInput("nothing to change: give a timer, a lifetime or relays")
	}
	var relays []string
	if opt.Relays != nil {
		var err error
		if relays, err = e.groupRelays(ctx, opt.Relays); err != nil {
			return err
		}
	}
	if opt.Timer != nil && (*opt.Timer < 0 || *opt.Timer > maxTTL) {
		return badInput("a disappearing timer is between 0 (off) and %v", maxTTL)
	}
	if opt.Expires != nil && *opt.Expires < 0 {
		return badInput("a lifetime is 0 (none) or positive")
	}
	err := e.withGroup(ctx, ref, func(g *groupState, rec *groupRecord, c *conn.Conn, chat *vault.Chat) ([]Event, error) {
		evs, err := e.adminPoll(ctx, g, c, chat)
		if err != nil {
			return evs, err
		}
		s := g.queuedSettings()
		if opt.Timer != nil {
			s.Timer = uint32((*opt.Timer + time.Second - 1) / time.Second)
		}
		if opt.Expires != nil {
			s.Deadline = 0
			if *opt.Expires > 0 {
				s.Deadline = uint64(e.now().Add(*opt.Expires).Unix())
			}
		}
		if relays != nil {
			s.Relays = relays
		}
		if settingsEqual(s, g.queuedSettings()) {
			return evs, nil // already so, or queued: no epoch for nothing
		}
		op, err := format.SettingsOperand(s)
		if err != nil {
			return evs, err
		}
		g.propose(groupIntent{Change: format.ChangeSettings, Operand: op})
		ce, err := g.commitNext(ctx, c)
		return append(evs, ce...), err
	})
	if err != nil {
		return err
	}
	return e.groupSettle(ctx, ref)
}
