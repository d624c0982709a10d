package vault

import (
	"encoding/json"
	"testing"
	"time"
)

// TestDeliveryIDs: recorded, seen, swept once expired, and gone with
// their chat.
func TestDeliveryIDs(t *testing.T) {
	clk := newClock()
	v := createVault(t, t.TempDir(), testOpts(clk))
	defer v.Lock()
	putChat(t, v, "c", time.Time{})
	putChat(t, v, "d", time.Time{})
	a, b := [DeliveryIDSize]byte{1}, [DeliveryIDSize]byte{2}
	now := clk.Now()
	err := v.Update(ctx, func(tx *Tx) error {
		if err := tx.PutDelivery("c", a, now.Add(time.Hour)); err != nil {
			return err
		}
		if err := tx.PutDelivery("c", b, now.Add(48*time.Hour)); err != nil {
			return err
		}
		return tx.PutDelivery("d", a, now.Add(48*time.Hour))
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := func(chat string, id [DeliveryIDSize]byte) bool {
		t.Helper()
		var ok bool
		if err := v.View(ctx, func(tx *Tx) (err error) { ok, err = tx.SeenDelivery(chat, id); return }); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !seen("c", a) || !seen("c", b) || !seen("d", a) || seen("d", b) {
		t.Fatal("delivery IDs not recorded per chat")
	}
	clk.Add(2 * time.Hour)
	if _, err := v.SweepExpired(ctx); err != nil {
		t.Fatal(err)
	}
	if seen("c", a) || !seen("c", b) || !seen("d", a) {
		t.Fatal("sweep did not delete exactly the expired delivery ID")
	}
	if err := v.DeleteChat(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if seen("d", a) || !seen("c", b) {
		t.Fatal("deleting a chat did not delete exactly its delivery IDs")
	}
}

// TestOldRecordsDecode: a relay capability and an outbox item stored
// before two-relay chats decode with zero values.
func TestOldRecordsDecode(t *testing.T) {
	var rc RelayCap
	if err := json.Unmarshal([]byte(`{"Address":"x","RecvID":null,"RecvKey":null,"SendID":null,"SendCred":null}`), &rc); err != nil {
		t.Fatal(err)
	}
	if rc.Slot != 0 || !rc.Created.IsZero() || !rc.RotateAt.IsZero() || rc.Offer != nil || !rc.Retire.IsZero() || rc.Pending != nil {
		t.Fatalf("old relay capability = %+v", rc)
	}
	var o OutboxItem
	if err := json.Unmarshal([]byte(`{"ID":"1","ChatID":"c","Attempts":2}`), &o); err != nil || o.Done != 0 || o.Route != "" {
		t.Fatalf("old outbox item = %+v, %v", o, err)
	}
}
