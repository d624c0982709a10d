package vault

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/dgraph-io/badger/v4"

	"veil/crypto"
)

// Sealed records, spec/vault.md §6.6. Profile, Contact and Group records
// hold per-contact secrets (ratchet states, identity and invite private
// keys, relay capabilities, group chains). Badger keeps superseded
// versions of a key until compaction, so these records are sealed under
// a per-record **state key** kept in the chat-key table, which is
// overwritten in place: deleting the key makes every version of the
// record on disk unreadable at once, and rotating it makes older
// versions unreadable.
const (
	sealedVersion = 2    // the record-version byte of a sealed record, §8.2
	stateKeyMark  = 0xfe // first byte of a state key's table ID; never in UTF-8
	sealedHdrSize = 13   // version 1, epoch 8, writes 4
	sealedLabel   = "veil/vault/record/v2"
)

// rotateEvery is how many writes of one record share a state key before
// the next write rotates it (spec/vault.md §6.6). A tuning constant: each
// rotation costs one chat-key table write (two fsyncs).
const rotateEvery = 1

// errKeyGone reports a sealed record whose state keys were all deleted:
// the record was burned and is being (or will be) removed.
var errKeyGone = fmt.Errorf("%w: the record's key is gone (burned)", ErrNotFound)

// errStaleRead reports a read, in a snapshot older than the record's
// latest commits, of a version whose state key has since been deleted.
// The record lives: it is not ErrNotFound, and a new View reads it.
var errStaleRead = errors.New("vault: the record changed during this read; retry")

// isSealedKey reports whether the Badger key holds a sealed record.
func isSealedKey(k []byte) bool {
	return len(k) > 0 && (k[0] == pfxProfile || k[0] == pfxContact || k[0] == pfxGroup)
}

// stateKeyBase is the table-ID prefix of every state key of a record:
// 0xfe || its Badger key.
func stateKeyBase(bkey []byte) string { return string(append([]byte{stateKeyMark}, bkey...)) }

// stateKeyID is the table ID of a record's state key of one epoch:
// 0xfe || Badger key || epoch (8).
func stateKeyID(bkey []byte, epoch uint64) string {
	return string(binary.BigEndian.AppendUint64(append([]byte{stateKeyMark}, bkey...), epoch))
}

// parseStateKeyID splits a state key's table ID; ok is false for a chat
// or bucket ID.
func parseStateKeyID(id string) (base string, epoch uint64, ok bool) {
	if len(id) < 1+1+8 || id[0] != stateKeyMark {
		return "", 0, false
	}
	return id[:len(id)-8], binary.BigEndian.Uint64([]byte(id[len(id)-8:])), true
}

// sealedHeader is the plaintext head of a sealed record value.
type sealedHeader struct {
	epoch  uint64 // the state key that sealed it
	writes uint32 // writes of this record under that key, 1..rotateEvery
}

// parseSealedHeader reads the header of a stored value; ok is false for
// a record stored before sealing (version 1) or a damaged one.
func parseSealedHeader(b []byte) (sealedHeader, bool) {
	if len(b) < sealedHdrSize || b[0] != sealedVersion {
		return sealedHeader{}, false
	}
	return sealedHeader{epoch: binary.BigEndian.Uint64(b[1:]), writes: binary.BigEndian.Uint32(b[9:])}, true
}

// sealedAD binds a sealed record to its header and its Badger key.
func sealedAD(hdr, bkey []byte) []byte {
	ad := append([]byte(sealedLabel), hdr...)
	return append(ad, bkey...)
}

// encodeSealed returns 2 || epoch (8) || writes (4) || SealX(key, JSON, ad).
func encodeSealed(bkey []byte, h sealedHeader, key *crypto.SymKey, rec any, r io.Reader) ([]byte, error) {
	js, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("vault: encoding record: %w", err)
	}
	defer crypto.Wipe(js)
	hdr := make([]byte, sealedHdrSize, sealedHdrSize+crypto.SealedXSize+len(js))
	hdr[0] = sealedVersion
	binary.BigEndian.PutUint64(hdr[1:], h.epoch)
	binary.BigEndian.PutUint32(hdr[9:], h.writes)
	return crypto.SealX(hdr, key, js, sealedAD(hdr, bkey), r)
}

// keySource looks a key up by table ID: the chat-key table, or a
// transaction that also sees the keys it has staged. hasBase reports
// whether any state key of a record is present.
type keySource interface {
	get(id string) (crypto.SymKey, bool)
	hasBase(base string) bool
}

// txKeys is a transaction's view of the table: its staged keys first.
type txKeys struct{ tx *Tx }

func (k txKeys) get(id string) (crypto.SymKey, bool) {
	if key, ok := k.tx.staged[id]; ok {
		return key, true
	}
	return k.tx.v.keys.get(id)
}

func (k txKeys) hasBase(base string) bool {
	for id := range k.tx.staged {
		if b, _, ok := parseStateKeyID(id); ok && b == base {
			return true
		}
	}
	return k.tx.v.keys.hasBase(base)
}

// decodeSealed opens a sealed record value stored under bkey into out,
// looking its state key up in keys. A record stored before sealing
// (version 1) is decoded as plain JSON. It never panics.
func decodeSealed(bkey, b []byte, keys keySource, out any) error {
	if len(b) > 0 && b[0] == recordVersion {
		return decodeRecord(b, out)
	}
	h, ok := parseSealedHeader(b)
	if !ok {
		if len(b) == 0 {
			return corrupt("empty record")
		}
		return corrupt("record version %d", b[0])
	}
	key, ok := keys.get(stateKeyID(bkey, h.epoch))
	if !ok {
		if keys.hasBase(stateKeyBase(bkey)) {
			return errStaleRead // superseded under a snapshot; the record lives
		}
		return errKeyGone
	}
	defer key.Wipe()
	js, err := crypto.OpenX(nil, &key, b[sealedHdrSize:], sealedAD(b[:sealedHdrSize], bkey))
	if err != nil {
		return corrupt("sealed record does not authenticate")
	}
	defer crypto.Wipe(js)
	if err := json.Unmarshal(js, out); err != nil {
		return corrupt("record: %v", err)
	}
	return nil
}

// committedHeader returns the header of the record committed under bkey,
// as a new read transaction sees it (updates are serialised, so inside
// an update that is the state before it). ok is false when there is no
// sealed record.
func (v *Vault) committedHeader(bkey []byte) (sealedHeader, bool, error) {
	var h sealedHeader
	var ok bool
	err := v.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(bkey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error {
			h, ok = parseSealedHeader(b)
			return nil
		})
	})
	if err != nil {
		return h, false, fmt.Errorf("vault: read: %w", err)
	}
	return h, ok, nil
}

// setSealed seals rec under its record's state key and writes it. The
// key rotates on the first write of a record and every rotateEvery-th
// write after that: a new key is staged, and every key of the record but
// the committed one is staged for deletion; commitKeys writes them all to
// the table in one write just before the commit (spec/vault.md §6.6).
// Within one transaction a record keeps one key.
func (tx *Tx) setSealed(bkey []byte, rec any) error {
	if !tx.writable {
		return errReadOnly
	}
	t := tx.v.keys
	h, done := tx.sealed[string(bkey)]
	if !done {
		c, has, err := tx.v.committedHeader(bkey)
		if err != nil {
			return err
		}
		keyOK := has && t.has(stateKeyID(bkey, c.epoch))
		if keyOK && c.writes < rotateEvery {
			h = sealedHeader{epoch: c.epoch, writes: c.writes + 1}
		} else {
			e, drop, err := t.prepareRotation(stateKeyBase(bkey), c.epoch, keyOK)
			if err != nil {
				return err
			}
			k, err := crypto.NewSymKey(tx.v.opts.Rand)
			if err != nil {
				return err
			}
			if tx.staged == nil {
				tx.staged = map[string]crypto.SymKey{}
			}
			tx.staged[stateKeyID(bkey, e)] = k
			tx.drops = append(tx.drops, drop...)
			if keyOK {
				tx.superseded = append(tx.superseded, stateKeyID(bkey, c.epoch))
			}
			h = sealedHeader{epoch: e, writes: 1}
		}
		if tx.sealed == nil {
			tx.sealed = map[string]sealedHeader{}
		}
		tx.sealed[string(bkey)] = h
	}
	key, ok := txKeys{tx}.get(stateKeyID(bkey, h.epoch))
	if !ok {
		return fmt.Errorf("vault: write: the record's state key is missing")
	}
	defer key.Wipe()
	b, err := encodeSealed(bkey, h, &key, rec, tx.v.opts.Rand)
	if err != nil {
		return err
	}
	if err := tx.txn.Set(bkey, b); err != nil {
		return fmt.Errorf("vault: write: %w", err)
	}
	return nil
}

// commitKeys writes the state keys the transaction staged, and deletes
// the ones it superseded, in one table write; updateLocked calls it just
// before the Badger commit. A commit that then fails loses nothing: no
// committed record's key was deleted.
func (tx *Tx) commitKeys() error {
	if len(tx.staged) == 0 && len(tx.drops) == 0 {
		return nil
	}
	return tx.v.keys.apply(tx.staged, tx.drops)
}

// wipeStaged zeroes the staged keys (best effort: Go may have copied them).
func (tx *Tx) wipeStaged() {
	for id := range tx.staged {
		tx.staged[id] = crypto.SymKey{}
	}
	clear(tx.staged)
}

// dropSupersededLocked deletes the state keys that committed
// transactions superseded (each record's previous key), in one table
// write. SweepExpired calls it, so a previous ratchet state stays readable
// for at most one sweep interval while the client runs (§6.6).
// v.writeMu must be held.
func (v *Vault) dropSupersededLocked() error {
	if len(v.superseded) == 0 {
		return nil
	}
	if err := v.keys.remove(v.superseded...); err != nil {
		return err
	}
	v.superseded = nil
	return nil
}

// dropDeletedLocked runs after a commit: the state keys of every sealed
// record the transaction deleted, and that is still absent, are removed
// from the table. A crash before this is finished at the next unlock.
// v.writeMu must be held.
func (v *Vault) dropDeletedLocked(bkeys [][]byte) error {
	var errs []error
	for _, k := range bkeys {
		_, has, err := v.committedHeader(k)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if has {
			continue // put back later in the same transaction
		}
		if err := v.keys.dropRecord(stateKeyBase(k), 0, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// eachSealed decodes every sealed record under prefix, in key order,
// skipping records whose state key is gone (burned, being removed).
func eachSealed[T any](tx *Tx, prefix byte) ([]T, error) {
	var out []T
	it := tx.txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}, PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		var r T
		err := item.Value(func(b []byte) error { return decodeSealed(item.Key(), b, txKeys{tx}, &r) })
		if errors.Is(err, errStaleRead) && !tx.writable {
			err = tx.latestSealed(item.KeyCopy(nil), &r)
			if errors.Is(err, ErrNotFound) {
				continue // deleted since the snapshot
			}
		}
		if errors.Is(err, errKeyGone) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// finishSealed runs once at unlock (spec/vault.md §6.6): it deletes
// sealed records whose state key is gone (a burn interrupted by a crash),
// seals records stored before sealing existed, and removes from the table
// every state key that no committed record uses (the previous key of each
// record, and keys left by failed transactions or crashes).
func (v *Vault) finishSealed(ctx context.Context) error {
	type rec struct {
		key    []byte
		legacy bool
	}
	var work []rec
	used := map[string]bool{}
	err := v.db.View(func(txn *badger.Txn) error {
		for _, p := range []byte{pfxProfile, pfxContact, pfxGroup} {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{p}})
			for it.Rewind(); it.Valid(); it.Next() {
				item := it.Item()
				k := item.KeyCopy(nil)
				err := item.Value(func(b []byte) error {
					if len(b) > 0 && b[0] == recordVersion {
						work = append(work, rec{key: k, legacy: true})
						return nil
					}
					h, ok := parseSealedHeader(b)
					if !ok {
						return nil // damaged: reported when read, never removed
					}
					id := stateKeyID(k, h.epoch)
					if !v.keys.has(id) {
						work = append(work, rec{key: k})
						return nil
					}
					used[id] = true
					return nil
				})
				if err != nil {
					it.Close()
					return err
				}
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("vault: reading records: %w", err)
	}
	for start := 0; start < len(work); start += deleteBatch {
		batch := work[start:min(start+deleteBatch, len(work))]
		err := v.updateLocked(ctx, func(tx *Tx) error {
			for _, r := range batch {
				if !r.legacy {
					if err := tx.txn.Delete(r.key); err != nil {
						return fmt.Errorf("vault: delete: %w", err)
					}
					continue
				}
				item, err := tx.txn.Get(r.key)
				if err != nil {
					return fmt.Errorf("vault: read: %w", err)
				}
				var js json.RawMessage
				if err := item.Value(func(b []byte) error { return decodeRecord(b, &js) }); err != nil {
					continue // damaged: left for the reader to report
				}
				if err := tx.setSealed(r.key, js); err != nil {
					return err
				}
				used[stateKeyID(r.key, tx.sealed[string(r.key)].epoch)] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	var stale []string
	for _, id := range v.keys.ids() {
		if _, _, ok := parseStateKeyID(id); ok && !used[id] {
			stale = append(stale, id)
		}
	}
	return v.keys.remove(stale...)
}
