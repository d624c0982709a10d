package client

import (
	"context"

	"veil/client/internal/format"
	"veil/crypto"
)

// epochConf is the current epoch's confirmation value (spec/groups.md
// §6.6), the one input of the verification code that carries the group's
// history.
func (g *groupState) epochConf() [crypto.HashSize]byte { return g.cur.conf }

// GroupVerifyCode returns the group verification code of the group's
// current epoch and that epoch's number: every member of the epoch shows
// the same digits (spec/groups.md §15). It works offline.
func (e *Engine) GroupVerifyCode(ctx context.Context, ref string) (string, uint64, error) {
	var code string
	var epoch uint64
	err := e.withGroupOffline(ctx, ref, func(g *groupState) error {
		if g.cur.roster == nil {
			return ErrGroupWaiting
		}
		r := g.cur.roster
		code, epoch = format.GroupVerifyCode(r.GroupID, g.epochConf(), r), r.Epoch
		return nil
	})
	return code, epoch, err
}
