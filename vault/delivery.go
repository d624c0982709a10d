package vault

import (
	"context"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// DeliveryIDSize is the size of a delivery ID (spec/client.md §7.5).
const DeliveryIDSize = 16

// deliveryRecord is the value of a delivery-ID record: when it may go.
type deliveryRecord struct {
	Expires time.Time
}

// deliverySweepEvery is how often SweepExpired looks at delivery IDs: they
// are kept for weeks, so an hour late changes nothing.
const deliverySweepEvery = time.Hour

// deliveryPrefix is 'D' || len(chat) || chat: every delivery ID of a chat.
func deliveryPrefix(chat string) []byte {
	return append([]byte{pfxDelivery, byte(len(chat))}, chat...)
}

// SeenDelivery reports whether delivery ID id of chat is recorded (and not
// yet swept): a copy of a message already received.
func (tx *Tx) SeenDelivery(chat string, id [DeliveryIDSize]byte) (bool, error) {
	if err := checkID("chat", chat); err != nil {
		return false, err
	}
	var r deliveryRecord
	switch err := tx.get(append(deliveryPrefix(chat), id[:]...), &r); {
	case err == ErrNotFound:
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// PutDelivery records delivery ID id of chat until expires, when
// SweepExpired deletes it.
func (tx *Tx) PutDelivery(chat string, id [DeliveryIDSize]byte, expires time.Time) error {
	if err := checkID("chat", chat); err != nil {
		return err
	}
	return tx.set(append(deliveryPrefix(chat), id[:]...), &deliveryRecord{Expires: expires})
}

// sweepDeliveriesLocked deletes the delivery IDs that expired by now, or
// every delivery ID of chat when chat is not empty. The caller holds
// writeMu.
func (v *Vault) sweepDeliveriesLocked(ctx context.Context, now time.Time, chat string) error {
	prefix := []byte{pfxDelivery}
	if chat != "" {
		prefix = deliveryPrefix(chat)
	}
	var after []byte
	for range maxBatches {
		var keys [][]byte
		done := true
		err := v.updateLocked(ctx, func(tx *Tx) error {
			keys = keys[:0]
			it := tx.txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
			defer it.Close()
			scanned := 0
			it.Rewind()
			if after != nil {
				it.Seek(after)
			}
			for ; it.Valid(); it.Next() {
				k := it.Item().KeyCopy(nil)
				if after != nil && string(k) <= string(after) {
					continue
				}
				if scanned == deleteBatch {
					done = false
					break
				}
				scanned++
				after = k
				if chat == "" {
					var r deliveryRecord
					err := it.Item().Value(func(b []byte) error { return decodeRecord(b, &r) })
					if err == nil && r.Expires.After(now) {
						continue
					}
				}
				keys = append(keys, k)
			}
			it.Close()
			for _, k := range keys {
				if err := tx.del(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("vault: sweeping delivery IDs: %w", err)
		}
		if done {
			return nil
		}
	}
	return nil
}
