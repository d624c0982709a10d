package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"veil/crypto"
)

// Tx is one vault transaction. Writes made through it commit together or
// not at all: ratchet state, the message it produced and the outbox change
// go in one Update (architecture §3). A Tx must not be used after its
// function returns.
type Tx struct {
	v        *Vault
	txn      *badger.Txn
	writable bool
	ops      []indexOp                // search-index changes, applied after commit
	sealed   map[string]sealedHeader  // sealed records written, by Badger key (§6.6)
	deleted  [][]byte                 // sealed records deleted: their keys go after commit
	staged   map[string]crypto.SymKey // state keys to add before commit, by table ID
	drops    []string                 // state keys to delete before commit
	// superseded lists the committed keys this transaction's rotations
	// replace; after the commit they join v.superseded.
	superseded []string
	// unlink lists blob files whose records this transaction deleted:
	// they are removed after the commit (spec/vault.md §6.7).
	unlink []string
	// recorded lists blob files this transaction's file records name:
	// after the commit they are no longer fresh (SweepOrphanBlobs).
	recorded []string
}

// View runs fn in a read-only transaction over a consistent snapshot.
func (v *Vault) View(ctx context.Context, fn func(*Tx) error) error {
	release, err := v.use()
	if err != nil {
		return err
	}
	defer release()
	if err := ctx.Err(); err != nil {
		return err
	}
	return v.db.View(func(txn *badger.Txn) error { return fn(&Tx{v: v, txn: txn}) })
}

// Update runs fn in a read-write transaction and commits it durably
// (fsync) if fn returns nil. Updates are serialised. Creating a chat
// creates its key at once, before the commit; a key left by a failed
// transaction is removed at the next unlock.
func (v *Vault) Update(ctx context.Context, fn func(*Tx) error) error {
	release, err := v.use()
	if err != nil {
		return err
	}
	defer release()
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	return v.updateLocked(ctx, fn)
}

// updateLocked is Update with v.writeMu and the use lock already held.
func (v *Vault) updateLocked(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	txn := v.db.NewTransaction(true)
	defer txn.Discard()
	tx := &Tx{v: v, txn: txn, writable: true}
	defer tx.wipeStaged()
	if err := fn(tx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := tx.commitKeys(); err != nil {
		return err
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("vault: commit: %w", err)
	}
	v.idx.apply(tx.ops)
	v.superseded = append(v.superseded, tx.superseded...)
	v.recordedBlobs(tx.recorded)
	if len(tx.unlink) > 0 && v.opts.beforeUnlink != nil {
		v.opts.beforeUnlink()
	}
	if err := v.unlinkBlobs(tx.unlink); err != nil {
		return fmt.Errorf("vault: committed, but a blob file remains until the next unlock: %w", err)
	}
	if len(tx.deleted) > 0 {
		if err := v.dropDeletedLocked(tx.deleted); err != nil {
			return fmt.Errorf("vault: committed, but the keys of deleted records remain until the next unlock: %w", err)
		}
	}
	return nil
}

var errReadOnly = errors.New("vault: write in a read-only transaction")

func (tx *Tx) get(key []byte, out any) error {
	item, err := tx.txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("vault: read: %w", err)
	}
	if isSealedKey(key) {
		err := item.Value(func(b []byte) error { return decodeSealed(key, b, txKeys{tx}, out) })
		if errors.Is(err, errStaleRead) && !tx.writable {
			return tx.latestSealed(key, out)
		}
		return err
	}
	return item.Value(func(b []byte) error { return decodeRecord(b, out) })
}

// latestSealed reads the latest committed version of the sealed record
// under key, for a View whose snapshot holds a version whose state key a
// later commit and sweep deleted (spec/vault.md §6.6): the record lives,
// so the View reads it as it is now, in a read transaction of its own.
// Writes rotate keys on every commit, so a busy record may need a few
// tries.
func (tx *Tx) latestSealed(key []byte, out any) error {
	err := errStaleRead
	for range 4 {
		err = tx.v.db.View(func(txn *badger.Txn) error {
			item, err := txn.Get(key)
			if errors.Is(err, badger.ErrKeyNotFound) {
				return ErrNotFound
			}
			if err != nil {
				return fmt.Errorf("vault: read: %w", err)
			}
			return item.Value(func(b []byte) error { return decodeSealed(key, b, txKeys{tx}, out) })
		})
		if !errors.Is(err, errStaleRead) {
			return err
		}
	}
	return err
}

func (tx *Tx) set(key []byte, rec any) error {
	if !tx.writable {
		return errReadOnly
	}
	if isSealedKey(key) {
		return tx.setSealed(key, rec)
	}
	b, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	if err := tx.txn.Set(key, b); err != nil {
		return fmt.Errorf("vault: write: %w", err)
	}
	return nil
}

func (tx *Tx) del(key []byte) error {
	if !tx.writable {
		return errReadOnly
	}
	if err := tx.txn.Delete(key); err != nil {
		return fmt.Errorf("vault: delete: %w", err)
	}
	if isSealedKey(key) {
		tx.deleted = append(tx.deleted, bytes.Clone(key))
	}
	return nil
}

// each calls fn with the value of every key under prefix, in key order.
func (tx *Tx) each(prefix []byte, fn func(val []byte) error) error {
	it := tx.txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if err := it.Item().Value(fn); err != nil {
			return err
		}
	}
	return nil
}

// Profile returns the profile, or ErrNotFound in a fresh vault.
func (tx *Tx) Profile() (Profile, error) {
	var p Profile
	err := tx.get([]byte{pfxProfile}, &p)
	return p, err
}

// PutProfile stores the profile.
func (tx *Tx) PutProfile(p *Profile) error { return tx.set([]byte{pfxProfile}, p) }

// Contact returns one contact.
func (tx *Tx) Contact(id string) (Contact, error) {
	var c Contact
	err := tx.get(simpleKey(pfxContact, id), &c)
	return c, err
}

// PutContact stores a contact.
func (tx *Tx) PutContact(c *Contact) error {
	if err := checkID("contact", c.ID); err != nil {
		return err
	}
	return tx.set(simpleKey(pfxContact, c.ID), c)
}

// DeleteContact deletes a contact (its chats are deleted with DeleteChat).
// Its state keys are deleted right after the commit, which makes every
// version of it still on disk unreadable (spec/vault.md §6.6).
func (tx *Tx) DeleteContact(id string) error { return tx.del(simpleKey(pfxContact, id)) }

// Contacts returns every contact in ID order.
func (tx *Tx) Contacts() ([]Contact, error) { return eachSealed[Contact](tx, pfxContact) }

// Chat returns one chat.
func (tx *Tx) Chat(id string) (Chat, error) {
	var c Chat
	err := tx.get(simpleKey(pfxChat, id), &c)
	return c, err
}

// PutChat stores a chat, creating its per-chat key if it has none.
func (tx *Tx) PutChat(c *Chat) error {
	if err := checkID("chat", c.ID); err != nil {
		return err
	}
	if !tx.writable {
		return errReadOnly
	}
	if _, err := tx.v.keys.ensure(c.ID); err != nil {
		return err
	}
	return tx.set(simpleKey(pfxChat, c.ID), c)
}

// Chats returns every chat in ID order.
func (tx *Tx) Chats() ([]Chat, error) {
	var out []Chat
	err := tx.each([]byte{pfxChat}, func(b []byte) error {
		var c Chat
		if err := decodeRecord(b, &c); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// PutMessage stores (or replaces) a message, sealing its body under the
// chat's key; the chat must exist. A message marked Deleted keeps no body.
func (tx *Tx) PutMessage(m *Message) error {
	if err := checkID("chat", m.ChatID); err != nil {
		return err
	}
	if err := checkID("message", m.ID); err != nil {
		return err
	}
	if !tx.writable {
		return errReadOnly
	}
	if _, ok := tx.v.keys.get(m.ChatID); !ok {
		return fmt.Errorf("%w: the chat does not exist", ErrNotFound)
	}
	var bucket uint64
	if !m.Expires.IsZero() {
		bucket = bucketOf(m.Expires)
	}
	key, err := tx.v.keys.ensure(keyID(m.ChatID, bucket))
	if err != nil {
		return err
	}
	defer key.Wipe()
	mk := messageKey(m.ChatID, m.ID)
	var old storedMessage
	switch err := tx.get(mk, &old); {
	case err == nil:
		if !old.Expires.IsZero() && !old.Expires.Equal(m.Expires) {
			if err := tx.del(expiryKey(old.Expires, m.ChatID, m.ID)); err != nil {
				return err
			}
		}
	case !errors.Is(err, ErrNotFound):
		return err
	}
	body, meta := m.Body, m.Meta
	if m.Deleted {
		body, meta = nil, nil
	}
	sealed, err := crypto.SealX(nil, &key, body, messageAD(m.ChatID, m.ID), tx.v.opts.Rand)
	if err != nil {
		return err
	}
	var sealedMeta []byte
	if len(meta) > 0 {
		if sealedMeta, err = crypto.SealX(nil, &key, meta, metaAD(m.ChatID, m.ID), tx.v.opts.Rand); err != nil {
			return err
		}
	}
	rec := toStored(m, bucket, sealed, sealedMeta)
	if err := tx.set(mk, &rec); err != nil {
		return err
	}
	if !m.Expires.IsZero() {
		if err := tx.txn.Set(expiryKey(m.Expires, m.ChatID, m.ID), nil); err != nil {
			return fmt.Errorf("vault: write: %w", err)
		}
	}
	tx.ops = append(tx.ops, indexOp{chat: m.ChatID, id: m.ID, body: string(body)})
	return nil
}

// openMessage decrypts a stored message.
func (tx *Tx) openMessage(s *storedMessage) (Message, error) {
	key, ok := tx.v.keys.get(keyID(s.ChatID, s.Bucket))
	if !ok {
		return Message{}, fmt.Errorf("%w: the message's key is gone (burned or expired)", ErrNotFound)
	}
	defer key.Wipe()
	body, err := crypto.OpenX(nil, &key, s.Sealed, messageAD(s.ChatID, s.ID))
	if err != nil {
		return Message{}, corrupt("message body does not authenticate")
	}
	var meta []byte
	if len(s.SealedMeta) > 0 {
		if meta, err = crypto.OpenX(nil, &key, s.SealedMeta, metaAD(s.ChatID, s.ID)); err != nil {
			return Message{}, corrupt("message meta does not authenticate")
		}
	}
	return s.message(body, meta), nil
}

// Message returns one message with its body decrypted.
func (tx *Tx) Message(chat, id string) (Message, error) {
	if checkID("chat", chat) != nil || checkID("message", id) != nil {
		return Message{}, ErrNotFound
	}
	var s storedMessage
	if err := tx.get(messageKey(chat, id), &s); err != nil {
		return Message{}, err
	}
	return tx.openMessage(&s)
}

// Messages returns the last limit messages of a chat (all when limit <= 0)
// in ID order, bodies decrypted.
func (tx *Tx) Messages(chat string, limit int) ([]Message, error) {
	if err := checkID("chat", chat); err != nil {
		return nil, err
	}
	prefix := chatPrefix(chat)
	opts := badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64}
	start := prefix
	if limit > 0 {
		opts.Reverse = true
		// Past every ID of at most maxIDLen bytes, however many 0xff it holds.
		start = append(append([]byte{}, prefix...), bytes.Repeat([]byte{0xff}, maxIDLen+1)...)
	}
	it := tx.txn.NewIterator(opts)
	defer it.Close()
	var out []Message
	for it.Seek(start); it.ValidForPrefix(prefix); it.Next() {
		var s storedMessage
		if err := it.Item().Value(func(b []byte) error { return decodeRecord(b, &s) }); err != nil {
			return nil, err
		}
		m, err := tx.openMessage(&s)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	if limit > 0 {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

// MessageIDs returns the IDs of a chat's messages in ID order without
// opening any of them (the IDs are in the records' keys).
func (tx *Tx) MessageIDs(chat string) ([]string, error) {
	if err := checkID("chat", chat); err != nil {
		return nil, err
	}
	prefix := chatPrefix(chat)
	it := tx.txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	var out []string
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		out = append(out, string(it.Item().Key()[len(prefix):]))
	}
	return out, nil
}

// DeleteMessage deletes one message, with its file record and transfers;
// its blob file goes after the commit.
func (tx *Tx) DeleteMessage(chat, id string) error {
	if err := checkID("chat", chat); err != nil {
		return err
	}
	if err := checkID("message", id); err != nil {
		return err
	}
	mk := messageKey(chat, id)
	var s storedMessage
	if err := tx.get(mk, &s); err != nil {
		return err
	}
	if !s.Expires.IsZero() {
		if err := tx.del(expiryKey(s.Expires, chat, id)); err != nil {
			return err
		}
	}
	if err := tx.del(mk); err != nil {
		return err
	}
	tx.ops = append(tx.ops, indexOp{chat: chat, id: id, del: true})
	return tx.dropFile(chat, id)
}

// PutOutbox stores an outbox item.
func (tx *Tx) PutOutbox(o *OutboxItem) error {
	if err := checkID("outbox", o.ID); err != nil {
		return err
	}
	return tx.set(simpleKey(pfxOutbox, o.ID), o)
}

// DeleteOutbox removes an outbox item (sent, or given up).
func (tx *Tx) DeleteOutbox(id string) error { return tx.del(simpleKey(pfxOutbox, id)) }

// Outbox returns every outbox item in ID order.
func (tx *Tx) Outbox() ([]OutboxItem, error) {
	var out []OutboxItem
	err := tx.each([]byte{pfxOutbox}, func(b []byte) error {
		var o OutboxItem
		if err := decodeRecord(b, &o); err != nil {
			return err
		}
		out = append(out, o)
		return nil
	})
	return out, err
}

// Group returns one group's state.
func (tx *Tx) Group(id string) (Group, error) {
	var g Group
	err := tx.get(simpleKey(pfxGroup, id), &g)
	return g, err
}

// PutGroup stores a group's state.
func (tx *Tx) PutGroup(g *Group) error {
	if err := checkID("group", g.ID); err != nil {
		return err
	}
	return tx.set(simpleKey(pfxGroup, g.ID), g)
}

// DeleteGroup deletes a group's state; its state keys go right after the
// commit (spec/vault.md §6.6).
func (tx *Tx) DeleteGroup(id string) error { return tx.del(simpleKey(pfxGroup, id)) }

// Groups returns every group in ID order.
func (tx *Tx) Groups() ([]Group, error) { return eachSealed[Group](tx, pfxGroup) }
