package client

import (
	"context"
	"testing"

	"veil/client/internal/format"
	"veil/vault"
)

// TestSentFeaturesMigrated: a chat whose settings say only that our
// features were sent (the older flag) reads as having sent MOVE and two
// slots, so that the bits this version added are announced again
// (spec/client.md §5.13), and the flag is not written back.
func TestSentFeaturesMigrated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := testEngine(t, nil)
	const chat = "c0ffee000002"
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		p, err := profile(tx)
		if err != nil {
			return err
		}
		p.Settings[settingChatPrefix+chat] = `{"peer_features":3,"features_sent":true}`
		if err := tx.PutProfile(&p); err != nil {
			return err
		}
		m, err := getMeta(tx, chat)
		if err != nil {
			return err
		}
		if m.SentFeatures != format.FeatureMove|format.FeatureTwoSlots || m.FeaturesSent {
			t.Errorf("sent features = %b, old flag %v", m.SentFeatures, m.FeaturesSent)
		}
		if format.Features&^m.SentFeatures == 0 {
			t.Errorf("current bits %b not above the migrated %b", format.Features, m.SentFeatures)
		}
		if err := putMeta(tx, chat, &m); err != nil {
			return err
		}
		p, err = profile(tx)
		if err != nil {
			return err
		}
		if got := p.Settings[settingChatPrefix+chat]; got != `{"peer_features":3,"sent_features":3}` {
			t.Errorf("stored %s", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
