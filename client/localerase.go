package client

import (
	"context"

	"veil/vault"
)

// OnLocalErase has f called after a change made here erases the words of
// a chat: Burn, GroupLeave and CancelInvite (msg empty: the whole chat)
// and Delete (msg: that message), whoever called them. The engine sends
// no event for a change made here; the API server uses this to strip the
// chat from the events it holds. f must not block; nil removes it.
func (e *Engine) OnLocalErase(f func(chat, msg string)) {
	if f == nil {
		e.onErase.Store(nil)
		return
	}
	e.onErase.Store(&f)
}

// reportErase resolves ref now, while it still names a chat, and returns
// what a deferred call runs when the change is done: OnLocalErase's
// function, told of the chat, if *err is nil.
func (e *Engine) reportErase(ctx context.Context, ref, msg string, err *error) func() {
	f := e.onErase.Load()
	if f == nil {
		return func() {}
	}
	var chat string
	_ = e.v.View(ctx, func(tx *vault.Tx) error {
		c, err := resolveChat(tx, ref)
		chat = c.ID
		return err
	})
	return func() {
		if *err == nil && chat != "" {
			(*f)(chat, msg)
		}
	}
}
