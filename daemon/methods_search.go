package daemon

import (
	"context"
	"errors"

	"veil/client"
)

// Methods for open invites, search and the verified mark (spec/api.md
// §4.2).

type (
	searchParams struct {
		Text  string `json:"text"`
		Chat  string `json:"chat"`
		Limit int    `json:"limit"`
	}
	verifyMarkParams struct {
		Chat string `json:"chat"`
		On   *bool  `json:"on"`
	}
)

func (p *searchParams) check() error {
	if p.Limit < 0 || p.Limit > client.MaxSearchLimit {
		return badParams("limit must be between 0 and %d", client.MaxSearchLimit)
	}
	return need("text", p.Text)
}

func (p *verifyMarkParams) check() error {
	return errors.Join(need("chat", p.Chat), present("on", p.On != nil))
}

// moreMethods returns the methods of this file, added to methods by init.
func moreMethods() map[string]method {
	return map[string]method{
		"search": {run: call(func(ctx context.Context, eng *client.Engine, p *searchParams) (any, error) {
			hits, err := eng.Search(ctx, p.Text, p.Chat, p.Limit)
			if hits == nil {
				hits = []client.SearchHit{}
			}
			return hits, err
		})},
		"invites": {run: call(func(ctx context.Context, eng *client.Engine, _ *struct{}) (any, error) {
			invs, err := eng.Invites(ctx)
			if invs == nil {
				invs = []client.InviteInfo{}
			}
			return invs, err
		})},
		"invite.show": {run: call(func(ctx context.Context, eng *client.Engine, p *chatParam) (any, error) {
			key, err := eng.InviteKey(ctx, p.Chat)
			return KeyResult{Key: key}, err
		})},
		"invite.cancel": {network: true, run: call(func(ctx context.Context, eng *client.Engine, p *chatParam) (any, error) {
			return eng.CancelInvite(ctx, p.Chat)
		})},
		"verify.mark": {run: call(func(ctx context.Context, eng *client.Engine, p *verifyMarkParams) (any, error) {
			return ok{}, eng.MarkVerified(ctx, p.Chat, *p.On)
		})},
	}
}
