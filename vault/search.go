package vault

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"veil/crypto"
)

// Search, spec/vault.md §9. Bodies are sealed in Badger, so search runs
// over an in-memory index of lower-cased bodies, built from the decrypted
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

// searchIndex maps chat → message ID → lower-cased body. mu guards it.
type searchIndex struct {
	mu    sync.RWMutex
	built bool
	chats map[string]map[string]string
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
		m := x.chats[op.chat]
		if op.del || op.body == "" {
			delete(m, op.id)
			continue
		}
		if m == nil {
			m = map[string]string{}
			x.chats[op.chat] = m
		}
		m[op.id] = strings.ToLower(op.body)
	}
}

func (x *searchIndex) removeChat(chat string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.chats, chat)
}

func (x *searchIndex) reset() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.built, x.chats = false, nil
}

// errEmptyQuery is returned for an empty search.
var errEmptyQuery = errors.New("vault: empty search query")

// Search returns messages whose body contains query, case-insensitively,
// in (chat, message ID) order, at most limit of them (all when limit <= 0).
// With chat set, only that chat is searched. The first call after unlock
// builds the index (spec/vault.md §9 gives its cost).
func (v *Vault) Search(ctx context.Context, query, chat string, limit int) ([]Hit, error) {
	q := strings.ToLower(query)
	if q == "" {
		return nil, errEmptyQuery
	}
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
	scan := func(c string, msgs map[string]string) {
		for id, body := range msgs {
			if strings.Contains(body, q) {
				hits = append(hits, Hit{ChatID: c, MessageID: id})
			}
		}
	}
	if chat != "" {
		scan(chat, v.idx.chats[chat])
	} else {
		for c, msgs := range v.idx.chats {
			scan(c, msgs)
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
	chats := map[string]map[string]string{}
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
			k, ok := keys[chat]
			if !ok {
				continue
			}
			var body []byte
			err := item.Value(func(b []byte) error {
				sealed, err := sealedBody(b)
				if err != nil {
					return err
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
			m := chats[chat]
			if m == nil {
				m = map[string]string{}
				chats[chat] = m
			}
			m[id] = strings.ToLower(string(body))
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
