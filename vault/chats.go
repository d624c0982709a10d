package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// deleteBatch bounds the records deleted per Badger transaction.
const deleteBatch = 1000

// DeleteChat burns a chat: its key is deleted from the chat-key table
// first (spec/vault.md §6.2), which makes every body of the chat
// unreadable at once (and with the file keys in its messages' Meta every
// blob file); then its file records, blob files and transfers, its
// messages and the chat record are deleted.
// The chat's contact (Chat.ContactID) and group (Chat.GroupID) are
// deleted with it, state keys first (§6.6), unless another chat still
// refers to them: every ratchet state ever stored for them becomes
// unreadable at once. A crash in between is finished at the next unlock.
func (v *Vault) DeleteChat(ctx context.Context, chat string) error {
	if err := checkID("chat", chat); err != nil {
		return err
	}
	release, err := v.use()
	if err != nil {
		return err
	}
	defer release()
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	return v.deleteChatLocked(ctx, chat)
}

// SettleChat returns once a deletion of chat in progress has ended. A
// deletion erases the chat's key first and its records last, in several
// writes made in turn: a read that met a record whose key was already
// gone may settle and look again, and then sees the chat deleted whole.
// While the chat's key is there no deletion of it has begun, and
// SettleChat returns at once.
func (v *Vault) SettleChat(chat string) error {
	release, err := v.use()
	if err != nil {
		return err
	}
	defer release()
	if _, ok := v.keys.get(chat); ok {
		return nil
	}
	v.writeMu.Lock()
	//lint:ignore SA2001 waiting for the deletion in progress is the point
	v.writeMu.Unlock()
	return nil
}

// deleteChatLocked needs v.writeMu and the use lock held.
func (v *Vault) deleteChatLocked(ctx context.Context, chat string) error {
	owned, err := v.ownedRecords(chat)
	if err != nil {
		return err
	}
	bases := make([]string, len(owned))
	for i, k := range owned {
		bases[i] = stateKeyBase(k)
	}
	if err := v.keys.removeChat(chat, bases...); err != nil {
		return err
	}
	v.idx.removeChat(chat)
	if err := v.sweepDeliveriesLocked(ctx, time.Time{}, chat); err != nil {
		return err
	}
	if err := v.deleteChatFilesLocked(ctx, chat); err != nil {
		return err
	}
	prefix := chatPrefix(chat)
	for range maxBatches {
		n := 0
		err := v.updateLocked(ctx, func(tx *Tx) error {
			it := tx.txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
			defer it.Close()
			var keys [][]byte
			for it.Rewind(); it.Valid() && len(keys) < deleteBatch; it.Next() {
				item := it.Item()
				keys = append(keys, item.KeyCopy(nil))
				var s storedMessage
				if err := item.Value(func(b []byte) error { return decodeRecord(b, &s) }); err == nil && !s.Expires.IsZero() {
					keys = append(keys, expiryKey(s.Expires, chat, s.ID))
				}
			}
			it.Close()
			n = len(keys)
			for _, k := range keys {
				if err := tx.del(k); err != nil {
					return err
				}
			}
			if n == 0 {
				for _, k := range owned { // their keys are already gone
					if err := tx.txn.Delete(k); err != nil {
						return fmt.Errorf("vault: delete: %w", err)
					}
				}
				return tx.del(simpleKey(pfxChat, chat))
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
	return fmt.Errorf("vault: deleting chat: too many messages")
}

// ownedRecords returns the Badger keys of the contact and group that chat
// refers to and no other chat does, with every group record whose ID is
// the group's followed by "~" (spec/vault.md §6.6): they are deleted with
// it.
func (v *Vault) ownedRecords(chat string) ([][]byte, error) {
	var owned [][]byte
	err := v.db.View(func(txn *badger.Txn) error {
		tx := &Tx{v: v, txn: txn}
		var c Chat
		switch err := tx.get(simpleKey(pfxChat, chat), &c); {
		case errors.Is(err, ErrNotFound):
			return nil
		case err != nil:
			return nil // a damaged chat record owns nothing we can name
		}
		refs := map[string]bool{}
		if checkID("contact", c.ContactID) == nil {
			refs[string(simpleKey(pfxContact, c.ContactID))] = true
		}
		if checkID("group", c.GroupID) == nil {
			refs[string(simpleKey(pfxGroup, c.GroupID))] = true
		}
		if len(refs) == 0 {
			return nil
		}
		err := tx.each([]byte{pfxChat}, func(b []byte) error {
			var o Chat
			if decodeRecord(b, &o) != nil || o.ID == chat {
				return nil
			}
			delete(refs, string(simpleKey(pfxContact, o.ContactID)))
			delete(refs, string(simpleKey(pfxGroup, o.GroupID)))
			return nil
		})
		for k := range refs {
			owned = append(owned, []byte(k))
			if k[0] == pfxGroup {
				// Records a group keeps apart from its state (its
				// rosters) carry IDs that extend the group's with "~".
				it := txn.NewIterator(badger.IteratorOptions{Prefix: append([]byte(k), '~')})
				for it.Rewind(); it.Valid(); it.Next() {
					owned = append(owned, it.Item().KeyCopy(nil))
				}
				it.Close()
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("vault: reading chats: %w", err)
	}
	return owned, nil
}

// maxBatches bounds every batched loop (a billion records at deleteBatch).
const maxBatches = 1 << 20

// finishChatDeletes completes deletions interrupted by a crash: chats
// whose key is gone lose their records, and keys without a chat (left by
// a failed transaction) are removed; then sealed records are put in order
// (finishSealed). Runs once at unlock.
func (v *Vault) finishChatDeletes(ctx context.Context) error {
	release, err := v.use()
	if err != nil {
		return err
	}
	defer release()
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	chats := map[string]bool{}
	err = v.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxChat}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			chats[string(it.Item().Key()[1:])] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("vault: reading chats: %w", err)
	}
	var orphans []string
	for _, id := range v.keys.ids() {
		if _, _, ok := parseStateKeyID(id); ok {
			continue // §6.6: finishSealed
		}
		c := id
		if bc, _, ok := parseBucketID(id); ok {
			c = bc
		}
		if !chats[c] {
			orphans = append(orphans, id)
		}
	}
	if err := v.keys.remove(orphans...); err != nil {
		return err
	}
	for c := range chats {
		if _, ok := v.keys.get(c); !ok {
			if err := v.deleteChatLocked(ctx, c); err != nil {
				return err
			}
		}
	}
	return v.finishSealed(ctx)
}

// SweepExpired deletes every message whose Expires has passed and every
// chat whose Deadline has passed (by the vault's clock), and returns how
// many messages and chats it deleted. It also deletes the state keys of
// superseded records (previous ratchet states, spec/vault.md §6.6) and,
// once an hour, records for the dead-man timer that the vault is in use
// (§5.1). The client calls it on a timer.
func (v *Vault) SweepExpired(ctx context.Context) (int, error) {
	release, err := v.use()
	if err != nil {
		return 0, err
	}
	defer release()
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	now := v.opts.now()
	// Keys first (spec/vault.md §6.5): ended buckets become unreadable now.
	if _, err := v.keys.expireBuckets(now.Unix()); err != nil {
		return 0, err
	}
	// Previous ratchet states and other superseded records (§6.6).
	if err := v.dropSupersededLocked(); err != nil {
		return 0, err
	}
	if now.Sub(v.deliverySwept) >= deliverySweepEvery || now.Before(v.deliverySwept) {
		if err := v.sweepDeliveriesLocked(ctx, now, ""); err != nil {
			return 0, err
		}
		v.deliverySwept = now
	}
	if now.Sub(v.inUseMarked) >= inUseEvery || now.Before(v.inUseMarked) {
		if err := v.markInUse(now); err != nil {
			return 0, err
		}
		v.inUseMarked = now
	}
	total := 0
	for range maxBatches {
		n := 0
		err := v.updateLocked(ctx, func(tx *Tx) error {
			it := tx.txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxExpiry}})
			defer it.Close()
			end := expiryKey(now, "", "")[:9]
			var keys [][]byte
			for it.Rewind(); it.Valid() && len(keys) < deleteBatch; it.Next() {
				k := it.Item().KeyCopy(nil)
				if string(k[:9]) > string(end) {
					break
				}
				keys = append(keys, k)
			}
			it.Close()
			n = len(keys)
			for _, k := range keys {
				if err := tx.del(k); err != nil {
					return err
				}
				chat, id, ok := parseExpiryKey(k)
				if !ok {
					continue
				}
				if err := tx.del(messageKey(chat, id)); err != nil {
					return err
				}
				tx.ops = append(tx.ops, indexOp{chat: chat, id: id, del: true})
				if err := tx.dropFile(chat, id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < deleteBatch {
			break
		}
	}
	// Self-destructing chats.
	var due []string
	err = v.db.View(func(txn *badger.Txn) error {
		tx := &Tx{v: v, txn: txn}
		return tx.each([]byte{pfxChat}, func(b []byte) error {
			var c Chat
			if err := decodeRecord(b, &c); err != nil {
				return nil // a damaged chat record is not swept
			}
			if !c.Deadline.IsZero() && !c.Deadline.After(now) {
				due = append(due, c.ID)
			}
			return nil
		})
	})
	if err != nil {
		return total, fmt.Errorf("vault: reading chats: %w", err)
	}
	var errs []error
	for _, c := range due {
		if err := v.deleteChatLocked(ctx, c); err != nil {
			errs = append(errs, err)
			continue
		}
		total++
	}
	return total, errors.Join(errs...)
}
