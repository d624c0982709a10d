package vault

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"veil/crypto"
)

// Chat-key table, spec/vault.md §6. It lives beside Badger, not in it,
// because a Badger delete only writes a tombstone: the table is rewritten
// in place, so a deleted chat key leaves the file at once.
const (
	chatKeysMagic    = "VEILVCKT"
	chatKeysVersion  = 1
	chatKeysHdrSize  = 20   // magic 8, version 1, reserved 3, generation 8
	chatKeysPadTo    = 4096 // plaintext padded to a multiple of this
	chatKeysLabel    = "veil/vault/chatkeys/v1"
	chatKeysMaxBytes = 64 << 20
)

var chatKeyFiles = [2]string{"chatkeys.0", "chatkeys.1"}

// chatKeys is the in-memory copy of the table. mu guards every field.
type chatKeys struct {
	mu   sync.Mutex
	dir  string        // the data directory
	key  crypto.SymKey // table key, HKDF of the data key
	gen  uint64
	keys map[string]crypto.SymKey
	size [2]int64 // current size of each copy; a copy never shrinks
	rand io.Reader
}

func tableKey(dataKey *crypto.SymKey) crypto.SymKey {
	return crypto.HKDFKey(dataKey[:], nil, chatKeysLabel)
}

// encodeChatKeys returns the padded plaintext of the table.
func encodeChatKeys(keys map[string]crypto.SymKey) []byte {
	ids := make([]string, 0, len(keys))
	for id := range keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	b := binary.BigEndian.AppendUint32(nil, uint32(len(ids)))
	for _, id := range ids {
		k := keys[id]
		b = binary.BigEndian.AppendUint16(b, uint16(len(id)))
		b = append(b, id...)
		b = append(b, k[:]...)
	}
	pad := (len(b)/chatKeysPadTo + 1) * chatKeysPadTo
	return append(b, make([]byte, pad-len(b))...)
}

// decodeChatKeys parses the plaintext of the table. It never panics.
func decodeChatKeys(b []byte) (map[string]crypto.SymKey, error) {
	if len(b) < 4 {
		return nil, corrupt("chat-key table: truncated")
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(n) > uint64(len(b))/(2+1+crypto.KeySize) {
		return nil, corrupt("chat-key table: count %d too large", n)
	}
	keys := make(map[string]crypto.SymKey, n)
	for range n {
		if len(b) < 2 {
			return nil, corrupt("chat-key table: truncated entry")
		}
		l := int(binary.BigEndian.Uint16(b))
		if l == 0 || len(b) < 2+l+crypto.KeySize {
			return nil, corrupt("chat-key table: truncated entry")
		}
		id := string(b[2 : 2+l])
		if _, dup := keys[id]; dup {
			return nil, corrupt("chat-key table: duplicate entry")
		}
		var k crypto.SymKey
		copy(k[:], b[2+l:])
		keys[id] = k
		b = b[2+l+crypto.KeySize:]
	}
	for _, c := range b {
		if c != 0 {
			return nil, corrupt("chat-key table: non-zero padding")
		}
	}
	return keys, nil
}

func (t *chatKeys) header(gen uint64) []byte {
	h := make([]byte, chatKeysHdrSize)
	copy(h, chatKeysMagic)
	h[8] = chatKeysVersion
	binary.BigEndian.PutUint64(h[12:], gen)
	return h
}

// parseCopy authenticates and decodes one copy of the table.
func (t *chatKeys) parseCopy(b []byte) (uint64, map[string]crypto.SymKey, error) {
	if len(b) < chatKeysHdrSize+crypto.SealedXSize || string(b[:8]) != chatKeysMagic {
		return 0, nil, corrupt("chat-key table: bad header")
	}
	if b[8] != chatKeysVersion {
		return 0, nil, corrupt("chat-key table: unknown version %d", b[8])
	}
	gen := binary.BigEndian.Uint64(b[12:])
	hdr := b[:chatKeysHdrSize]
	// The sealed part is followed by zero bytes when the table shrank.
	body := b[chatKeysHdrSize:]
	if len(body) < 4 {
		return 0, nil, corrupt("chat-key table: truncated")
	}
	sl := binary.BigEndian.Uint32(body)
	if uint64(sl) > uint64(len(body)-4) {
		return 0, nil, corrupt("chat-key table: truncated")
	}
	pt, err := crypto.OpenX(nil, &t.key, body[4:4+sl], hdr)
	if err != nil {
		return 0, nil, corrupt("chat-key table: authentication failed")
	}
	defer crypto.Wipe(pt)
	keys, err := decodeChatKeys(pt)
	if err != nil {
		return 0, nil, err
	}
	return gen, keys, nil
}

// loadChatKeys reads both copies and keeps the newest valid one, repairing
// the other. Both missing or both invalid is ErrCorrupt.
func loadChatKeys(dir string, dataKey *crypto.SymKey, r io.Reader) (*chatKeys, error) {
	t := &chatKeys{dir: dir, key: tableKey(dataKey), rand: r}
	best := -1
	var gens [2]uint64
	var firstErr error
	for i, name := range chatKeyFiles {
		b, err := readSmallFile(filepath.Join(dir, name), chatKeysMaxBytes)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && firstErr == nil {
				firstErr = err
			}
			continue
		}
		t.size[i] = int64(len(b))
		gen, keys, err := t.parseCopy(b)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		gens[i] = gen
		if best < 0 || gen > gens[best] {
			best = i
			t.keys, t.gen = keys, gen
		}
	}
	if best < 0 {
		if firstErr == nil {
			firstErr = corrupt("chat-key table missing")
		}
		return nil, firstErr
	}
	if other := 1 - best; gens[other] != t.gen {
		if err := t.writeCopy(other, t.gen); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// newChatKeys writes an empty table (both copies) into dir.
func newChatKeys(dir string, dataKey *crypto.SymKey, r io.Reader) (*chatKeys, error) {
	t := &chatKeys{dir: dir, key: tableKey(dataKey), rand: r, keys: map[string]crypto.SymKey{}, gen: 1}
	for i := range chatKeyFiles {
		if err := t.writeCopy(i, t.gen); err != nil {
			return nil, err
		}
	}
	return t, syncDir(dir)
}

// writeCopy overwrites copy i in place with generation gen of t.keys and
// fsyncs it. The file never shrinks, so no block holding an old entry is
// released to free space (spec/vault.md §6.2). t.mu must be held (or t not
// yet shared).
func (t *chatKeys) writeCopy(i int, gen uint64) error {
	pt := encodeChatKeys(t.keys)
	defer crypto.Wipe(pt)
	hdr := t.header(gen)
	sealed, err := crypto.SealX(nil, &t.key, pt, hdr, t.rand)
	if err != nil {
		return err
	}
	b := append(hdr, binary.BigEndian.AppendUint32(nil, uint32(len(sealed)))...)
	b = append(b, sealed...)
	if int64(len(b)) < t.size[i] {
		b = append(b, make([]byte, t.size[i]-int64(len(b)))...)
	}
	name := filepath.Join(t.dir, chatKeyFiles[i])
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("vault: writing chat-key table: %w", err)
	}
	_, werr := f.WriteAt(b, 0)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("vault: writing chat-key table: %w", err)
	}
	t.size[i] = int64(len(b))
	return nil
}

// commitLocked writes the next generation to both copies, one after the
// other, so a crash leaves at least one whole copy. t.mu must be held.
func (t *chatKeys) commitLocked() error {
	gen := t.gen + 1
	for i := range chatKeyFiles {
		if err := t.writeCopy(i, gen); err != nil {
			return err
		}
	}
	t.gen = gen
	return nil
}

// get returns the key of chat, if any.
func (t *chatKeys) get(chat string) (crypto.SymKey, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k, ok := t.keys[chat]
	return k, ok
}

// ensure returns the key under id (a chat ID or a bucketID), creating and
// persisting one if needed. A bucket key is created only while its chat
// has a key.
func (t *chatKeys) ensure(chat string) (crypto.SymKey, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if k, ok := t.keys[chat]; ok {
		return k, nil
	}
	if c, _, isBucket := parseBucketID(chat); isBucket {
		if _, ok := t.keys[c]; !ok {
			return crypto.SymKey{}, fmt.Errorf("%w: the chat does not exist", ErrNotFound)
		}
	}
	k, err := crypto.NewSymKey(t.rand)
	if err != nil {
		return k, err
	}
	t.keys[chat] = k
	if err := t.commitLocked(); err != nil {
		delete(t.keys, chat)
		return crypto.SymKey{}, err
	}
	return k, nil
}

// remove deletes the keys of chats and persists the table.
func (t *chatKeys) remove(chats ...string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	removed := map[string]crypto.SymKey{}
	for _, c := range chats {
		if k, ok := t.keys[c]; ok {
			removed[c] = k
			t.keys[c] = crypto.SymKey{}
			delete(t.keys, c)
		}
	}
	if len(removed) == 0 {
		return nil
	}
	if err := t.commitLocked(); err != nil {
		for c, k := range removed {
			t.keys[c] = k
		}
		return err
	}
	for c := range removed {
		removed[c] = crypto.SymKey{}
	}
	return nil
}

// removeChat deletes, in one table write, the key of chat, all its bucket
// keys, and every state key of the records whose state-key bases are
// given (the chat's contact or group, spec/vault.md §6.6).
func (t *chatKeys) removeChat(chat string, bases ...string) error {
	ids := []string{chat}
	t.mu.Lock()
	for id := range t.keys {
		if c, _, ok := parseBucketID(id); ok && c == chat {
			ids = append(ids, id)
		}
		if b, _, ok := parseStateKeyID(id); ok && slices.Contains(bases, b) {
			ids = append(ids, id)
		}
	}
	t.mu.Unlock()
	return t.remove(ids...)
}

// expireBuckets deletes every bucket key whose bucket has ended by now
// (spec/vault.md §6.5) and reports how many it deleted.
func (t *chatKeys) expireBuckets(now int64) (int, error) {
	var ids []string
	t.mu.Lock()
	for id := range t.keys {
		if _, b, ok := parseBucketID(id); ok && bucketEnd(b) <= now {
			ids = append(ids, id)
		}
	}
	t.mu.Unlock()
	return len(ids), t.remove(ids...)
}

// snapshot returns a copy of the table for a backup.
func (t *chatKeys) snapshot() map[string]crypto.SymKey {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]crypto.SymKey, len(t.keys))
	for c, k := range t.keys {
		out[c] = k
	}
	return out
}

// wipe zeroes the keys held in memory (best effort: Go may have copied them).
func (t *chatKeys) wipe() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.keys {
		t.keys[c] = crypto.SymKey{}
		delete(t.keys, c)
	}
	t.key.Wipe()
}

// Expiry buckets, spec/vault.md §6.5. A message with an expiry is sealed
// under the key of its chat's bucket, which is deleted once the bucket has
// ended, so an expired body becomes unreadable within bucketSeconds of its
// expiry even while Badger still holds it.
const (
	bucketSeconds = 3600
	bucketMark    = 0xff // cannot occur in UTF-8, so never in a chat ID
)

// bucketOf returns the bucket of an expiry: the first bucket end at or
// after it. Bucket 0 means "no expiry" (the chat's own key).
func bucketOf(exp time.Time) uint64 {
	s := exp.Unix()
	if s <= 0 {
		return 1
	}
	return uint64((s + bucketSeconds - 1) / bucketSeconds)
}

// bucketEnd returns the unix second at which bucket b ends.
func bucketEnd(b uint64) int64 {
	if b > math.MaxInt64/bucketSeconds {
		return math.MaxInt64
	}
	return int64(b) * bucketSeconds
}

// bucketID is the table ID of a chat's bucket key: chat || 0xff || b (8).
func bucketID(chat string, b uint64) string {
	id := append([]byte(chat), bucketMark)
	return string(binary.BigEndian.AppendUint64(id, b))
}

// parseBucketID splits a bucket ID; ok is false for a chat ID.
func parseBucketID(id string) (chat string, b uint64, ok bool) {
	if len(id) < 10 || id[len(id)-9] != bucketMark {
		return "", 0, false
	}
	return id[:len(id)-9], binary.BigEndian.Uint64([]byte(id[len(id)-8:])), true
}

// keyID returns the table ID that seals a body in bucket b of chat.
func keyID(chat string, b uint64) string {
	if b == 0 {
		return chat
	}
	return bucketID(chat, b)
}

// ids returns the table's IDs, without their keys.
func (t *chatKeys) ids() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.keys))
	for id := range t.keys {
		out = append(out, id)
	}
	return out
}

// has reports whether the table holds a key under id.
func (t *chatKeys) has(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.keys[id]
	return ok
}

// hasBase reports whether the table holds any state key of the record
// whose state-key IDs start with base.
func (t *chatKeys) hasBase(base string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id := range t.keys {
		if b, _, ok := parseStateKeyID(id); ok && b == base {
			return true
		}
	}
	return false
}

// prepareRotation picks the epoch of a fresh state key for the record
// whose state-key IDs start with base, above every epoch it has, and lists
// the record's keys to delete: all but epoch keep (when hasKeep). Nothing
// changes until apply (spec/vault.md §6.6).
func (t *chatKeys) prepareRotation(base string, keep uint64, hasKeep bool) (uint64, []string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var top uint64
	if hasKeep {
		top = keep
	}
	var drop []string
	for id := range t.keys {
		b, e, ok := parseStateKeyID(id)
		if !ok || b != base {
			continue
		}
		top = max(top, e)
		if !hasKeep || e != keep {
			drop = append(drop, id)
		}
	}
	if top == math.MaxUint64 {
		return 0, nil, fmt.Errorf("vault: state key epochs exhausted")
	}
	return top + 1, drop, nil
}

// apply adds keys and deletes the IDs in drop in one table write; on
// failure the table is unchanged.
func (t *chatKeys) apply(add map[string]crypto.SymKey, drop []string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	removed := make(map[string]crypto.SymKey, len(drop))
	for _, id := range drop {
		if k, ok := t.keys[id]; ok {
			removed[id] = k
			delete(t.keys, id)
		}
	}
	var added []string
	for id, k := range add {
		if _, ok := t.keys[id]; !ok {
			added = append(added, id)
		}
		t.keys[id] = k
	}
	if len(removed) == 0 && len(added) == 0 {
		return nil
	}
	if err := t.commitLocked(); err != nil {
		for _, id := range added {
			t.keys[id] = crypto.SymKey{}
			delete(t.keys, id)
		}
		for id, k := range removed {
			t.keys[id] = k
		}
		return err
	}
	for id := range removed {
		removed[id] = crypto.SymKey{}
	}
	return nil
}

// dropRecord deletes every state key of the record whose state-key IDs
// start with base, except epoch keep (when hasKeep).
func (t *chatKeys) dropRecord(base string, keep uint64, hasKeep bool) error {
	return t.remove(t.recordIDs(base, keep, hasKeep)...)
}

// recordIDs lists the state-key IDs of a record, except epoch keep (when
// hasKeep).
func (t *chatKeys) recordIDs(base string, keep uint64, hasKeep bool) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ids []string
	for id := range t.keys {
		if b, e, ok := parseStateKeyID(id); ok && b == base && (!hasKeep || e != keep) {
			ids = append(ids, id)
		}
	}
	return ids
}
