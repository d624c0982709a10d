package vault

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"veil/crypto"
)

// Search, spec/vault.md §9. Bodies are sealed in Badger, so search runs
// over an in-memory index of lower-cased bodies (one byte arena per
// chat), built from the decrypted
// bodies at the first search after unlock and kept current by every
// commit. It holds the plaintext of every message in memory while the
// vault is unlocked (roughly the bodies' size plus map overhead) and is
// dropped by Lock.

// Hit is one search result.
type Hit struct {
	ChatID    string
	MessageID string
}

// indexOp is one change to the index, recorded by a Tx.
type indexOp struct {
	chat, id string
	body     string
	del      bool
}

// searchIndex maps chat → its index. mu guards it and every chatIndex.
type searchIndex struct {
	mu    sync.RWMutex
	built bool
	chats map[string]*chatIndex
}

// chatIndex keeps one chat's lower-cased bodies in one byte arena, each
// followed by a zero byte, so a query is a few calls of bytes.Index over
// one long buffer instead of one call per message. A replaced or deleted
// message leaves a dead entry until the arena is compacted.
type chatIndex struct {
	text []byte
	ents []indexEntry   // in arena order
	pos  map[string]int // message ID → its live entry
	dead int            // arena bytes held by dead entries
}

type indexEntry struct {
	off, end int // body is text[off:end]; text[end] is the separator
	id       string
	live     bool
}

// compactMin is the dead-byte count below which an arena is not compacted.
const compactMin = 64 << 10

func newChatIndex() *chatIndex { return &chatIndex{pos: map[string]int{}} }

// foldForSearch lower-cases b and turns zero bytes (the separator) into spaces.
func foldForSearch(b []byte) []byte {
	out := bytes.ToLower(b)
	for i, c := range out {
		if c == 0 {
			out[i] = ' '
		}
	}
	return out
}

func (c *chatIndex) put(id string, body []byte) {
	c.remove(id)
	if len(body) == 0 {
		return
	}
	low := foldForSearch(body)
	c.ents = append(c.ents, indexEntry{off: len(c.text), end: len(c.text) + len(low), id: id, live: true})
	c.text = append(append(c.text, low...), 0)
	c.pos[id] = len(c.ents) - 1
	clear(low)
}

func (c *chatIndex) remove(id string) {
	i, ok := c.pos[id]
	if !ok {
		return
	}
	e := &c.ents[i]
	e.live = false
	clear(c.text[e.off:e.end])
	c.dead += e.end - e.off + 1
	delete(c.pos, id)
	if c.dead > compactMin && c.dead > len(c.text)/2 {
		c.compact()
	}
}

// compact rebuilds the arena from the live entries.
func (c *chatIndex) compact() {
	text := make([]byte, 0, len(c.text)-c.dead)
	ents := make([]indexEntry, 0, len(c.pos))
	for _, e := range c.ents {
		if !e.live {
			continue
		}
		ents = append(ents, indexEntry{off: len(text), end: len(text) + e.end - e.off, id: e.id, live: true})
		text = append(append(text, c.text[e.off:e.end]...), 0)
	}
	clear(c.text)
	c.text, c.ents, c.dead = text, ents, 0
	for i, e := range ents {
		c.pos[e.id] = i
	}
}

// search calls fn with the ID of every live message containing q (which
// holds no zero byte), once per message.
func (c *chatIndex) search(q []byte, fn func(id string)) {
	off := 0
	for off < len(c.text) {
		i := bytes.Index(c.text[off:], q)
		if i < 0 {
			return
		}
		abs := off + i
		j := sort.Search(len(c.ents), func(j int) bool { return c.ents[j].end > abs })
		if j == len(c.ents) {
			return
		}
		if c.ents[j].live {
			fn(c.ents[j].id)
		}
		off = c.ents[j].end + 1
	}
}

func (c *chatIndex) wipe() {
	clear(c.text)
	c.text, c.ents, c.pos = nil, nil, nil
}

func (x *searchIndex) apply(ops []indexOp) {
	if len(ops) == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.built {
		return
	}
	for _, op := range ops {
		c := x.chats[op.chat]
		if op.del || op.body == "" {
			if c != nil {
				c.remove(op.id)
			}
			continue
		}
		if c == nil {
			c = newChatIndex()
			x.chats[op.chat] = c
		}
		c.put(op.id, []byte(op.body))
	}
}

func (x *searchIndex) removeChat(chat string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if c := x.chats[chat]; c != nil {
		c.wipe()
	}
	delete(x.chats, chat)
}

// reset drops the index, zeroing the arenas (best effort).
func (x *searchIndex) reset() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, c := range x.chats {
		c.wipe()
	}
	x.built, x.chats = false, nil
}

// errEmptyQuery is returned for an empty search.
var errEmptyQuery = errors.New("vault: empty search query")

// Search returns messages whose body contains query, case-insensitively,
// in (chat, message ID) order, at most limit of them (all when limit <= 0).
// With chat set, only that chat is searched. The first call after unlock
// builds the index (spec/vault.md §9 gives its cost).
func (v *Vault) Search(ctx context.Context, query, chat string, limit int) ([]Hit, error) {
	if query == "" {
		return nil, errEmptyQuery
	}
	q := foldForSearch([]byte(query))
	release, err := v.use()
	if err != nil {
		return nil, err
	}
	defer release()
	if err := v.buildIndex(ctx); err != nil {
		return nil, err
	}
	v.idx.mu.RLock()
	defer v.idx.mu.RUnlock()
	var hits []Hit
	scan := func(chat string, c *chatIndex) {
		if c != nil {
			c.search(q, func(id string) { hits = append(hits, Hit{ChatID: chat, MessageID: id}) })
		}
	}
	if chat != "" {
		scan(chat, v.idx.chats[chat])
	} else {
		for id, c := range v.idx.chats {
			scan(id, c)
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].ChatID != hits[j].ChatID {
			return hits[i].ChatID < hits[j].ChatID
		}
		return hits[i].MessageID < hits[j].MessageID
	})
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	return hits, nil
}

// buildIndex fills the index from every stored message if it is not built
// yet. It holds writeMu so no commit slips between the snapshot and the
// moment the index starts following commits.
func (v *Vault) buildIndex(ctx context.Context) error {
	v.idx.mu.RLock()
	built := v.idx.built
	v.idx.mu.RUnlock()
	if built {
		return nil
	}
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	v.idx.mu.RLock()
	built = v.idx.built // another search may have built it meanwhile
	v.idx.mu.RUnlock()
	if built {
		return nil
	}
	chats := map[string]*chatIndex{}
	keys := v.keys.snapshot()
	defer func() {
		for c := range keys {
			keys[c] = crypto.SymKey{}
		}
	}()
	err := v.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxMessage}, PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			chat, id, ok := parseMessageKey(item.Key())
			if !ok {
				return corrupt("malformed message key")
			}
			var body []byte
			err := item.Value(func(b []byte) error {
				bucket, sealed, err := sealedBody(b)
				if err != nil {
					return err
				}
				k, ok := keys[keyID(chat, bucket)]
				if !ok {
					return nil // burned or expired
				}
				body, err = crypto.OpenX(nil, &k, sealed, messageAD(chat, id))
				if err != nil {
					return corrupt("message body does not authenticate")
				}
				return nil
			})
			if err != nil {
				return err
			}
			if len(body) == 0 {
				continue
			}
			c := chats[chat]
			if c == nil {
				c = newChatIndex()
				chats[chat] = c
			}
			c.put(id, body)
			crypto.Wipe(body)
		}
		return nil
	})
	if err != nil {
		return err
	}
	v.idx.mu.Lock()
	v.idx.chats, v.idx.built = chats, true
	v.idx.mu.Unlock()
	return nil
}
