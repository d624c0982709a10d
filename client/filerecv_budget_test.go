package client

import (
	"context"
	"testing"
	"time"

	"veil/vault"
)

// TestAutoBudgetPerChat: each chat has its own hourly auto-download
// budget, so one peer's files cannot use up another chat's.
func TestAutoBudgetPerChat(t *testing.T) {
	t.Parallel()
	_, ben, _ := pair(t, nil, nil)
	now := time.Now()
	const lim = 1000
	err := ben.v.Update(context.Background(), func(tx *vault.Tx) error {
		for i := range autoBudgetFactor {
			if _, ok, err := takeAutoBudget(tx, "junk", lim, lim, now); err != nil || !ok {
				t.Fatalf("file %d within the budget refused (%v)", i, err)
			}
		}
		if _, ok, _ := takeAutoBudget(tx, "junk", lim, lim, now); ok {
			t.Fatal("a file past the chat's budget taken")
		}
		if _, ok, _ := takeAutoBudget(tx, "friend", lim, lim, now); !ok {
			t.Fatal("one chat's files used up another chat's budget")
		}
		if _, ok, _ := takeAutoBudget(tx, "junk", lim, lim, now.Add(autoBudgetWindow)); !ok {
			t.Fatal("the budget does not come back the next hour")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
