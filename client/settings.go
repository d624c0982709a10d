package client

import (
	"context"

	"veil/vault"
)

// settingAppPrefix namespaces the settings of the program using the engine
// (cmd/veil keeps its embedded relay's address there).
const settingAppPrefix = "app/"

// Setting returns an application setting ("" when unset).
func (e *Engine) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := e.v.View(ctx, func(tx *vault.Tx) error {
		p, err := profile(tx)
		v = p.Settings[settingAppPrefix+name]
		return err
	})
	return v, err
}

// SetSetting stores an application setting; an empty value deletes it.
func (e *Engine) SetSetting(ctx context.Context, name, value string) error {
	return e.v.Update(ctx, func(tx *vault.Tx) error {
		p, err := profile(tx)
		if err != nil {
			return err
		}
		if value == "" {
			delete(p.Settings, settingAppPrefix+name)
		} else {
			p.Settings[settingAppPrefix+name] = value
		}
		return tx.PutProfile(&p)
	})
}
