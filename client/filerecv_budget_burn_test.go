package client

import (
	"context"
	"strings"
	"testing"
	"time"

	"veil/vault"
)

// TestAutoBudgetGoesWithBurn: a burned chat leaves no auto-download
// budget behind that names it.
func TestAutoBudgetGoesWithBurn(t *testing.T) {
	t.Parallel()
	_, ben, chat := pair(t, nil, nil)
	ctx := context.Background()
	err := ben.v.Update(ctx, func(tx *vault.Tx) error {
		_, _, err := takeAutoBudget(tx, chat, 1000, 1000, time.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ben.Burn(ctx, chat); err != nil {
		t.Fatal(err)
	}
	_ = ben.v.View(ctx, func(tx *vault.Tx) error {
		p, err := profile(tx)
		if err != nil {
			t.Fatal(err)
		}
		for k := range p.Settings {
			if strings.HasPrefix(k, settingAutoBudget) && strings.Contains(k, chat) {
				t.Errorf("burned chat still named in the profile: %q", k)
			}
		}
		return nil
	})
}
