package daemon

import (
	"context"
	"errors"

	"veil/client"
)

// reactParams are the parameters of react (spec/api.md §4.2).
type reactParams struct {
	Chat     string `json:"chat"`
	ID       string `json:"id"`
	Reaction string `json:"reaction"` // "" takes ours back
}

func (p *reactParams) check() error { return errors.Join(need("chat", p.Chat), need("id", p.ID)) }

// reactMethod sets or takes back our reaction to one message.
func reactMethod(ctx context.Context, eng *client.Engine, p *reactParams) (any, error) {
	return ok{}, eng.React(ctx, p.Chat, p.ID, p.Reaction)
}
