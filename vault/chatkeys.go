package vault

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

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
		b = append(b, byte(len(id)))
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
	if uint64(n) > uint64(len(b))/(1+1+crypto.KeySize) {
		return nil, corrupt("chat-key table: count %d too large", n)
	}
	keys := make(map[string]crypto.SymKey, n)
	for range n {
		if len(b) < 1 || b[0] == 0 || len(b) < 1+int(b[0])+crypto.KeySize {
			return nil, corrupt("chat-key table: truncated entry")
		}
		l := int(b[0])
		id := string(b[1 : 1+l])
		if _, dup := keys[id]; dup {
			return nil, corrupt("chat-key table: duplicate chat")
		}
		var k crypto.SymKey
		copy(k[:], b[1+l:])
		keys[id] = k
		b = b[1+l+crypto.KeySize:]
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

// ensure returns the key of chat, creating and persisting one if needed.
func (t *chatKeys) ensure(chat string) (crypto.SymKey, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if k, ok := t.keys[chat]; ok {
		return k, nil
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
