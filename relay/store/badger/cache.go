package badger

import (
	"slices"
	"sync"

	"veil/relay/store"
)

// maxCachedMailboxes bounds the read cache; it is emptied when full.
const maxCachedMailboxes = 1 << 16

// mailboxCache keeps secured mailboxes for Mailbox and MailboxBySender,
// which the relay calls before every SEND and recipient command. Only
// secured mailboxes are cached: what the relay checks (the recipient key,
// the sender credential) can no longer change once set, so a cached copy
// can be stale only about LastActive or about a deletion, and a SEND to a
// deleted mailbox still fails in the writer with ErrNotFound.
type mailboxCache struct {
	mu sync.Mutex // guards the fields below
	// Both maps point at one immutable copy of each mailbox: an entry
	// costs a pointer, not the record.
	byRecipient map[store.ID]*store.Mailbox
	bySender    map[store.ID]*store.Mailbox
	// gen counts deletions: a reader that loaded a record from disk
	// caches it only if no deletion happened since it started, so a
	// record read just before a delete committed is not cached after it.
	gen uint64
}

func newMailboxCache() *mailboxCache {
	return &mailboxCache{byRecipient: map[store.ID]*store.Mailbox{}, bySender: map[store.ID]*store.Mailbox{}}
}

// get returns the cached mailbox, or false and the generation to pass to
// put after loading it from disk.
func (c *mailboxCache) get(m map[store.ID]*store.Mailbox, id store.ID) (store.Mailbox, uint64, bool) {
	c.mu.Lock()
	p, gen := m[id], c.gen
	c.mu.Unlock()
	if p == nil {
		return store.Mailbox{}, gen, false
	}
	mb := *p // never changed once cached
	mb.SenderKey = slices.Clone(mb.SenderKey)
	return mb, gen, true
}

func (c *mailboxCache) recipient(rid store.ID) (store.Mailbox, uint64, bool) {
	return c.get(c.byRecipient, rid)
}

func (c *mailboxCache) sender(sid store.ID) (store.Mailbox, uint64, bool) {
	return c.get(c.bySender, sid)
}

// put caches m, read from disk after get returned gen, if it is secured
// and no mailbox was deleted meanwhile.
func (c *mailboxCache) put(m store.Mailbox, gen uint64) {
	if len(m.SenderKey) == 0 {
		return
	}
	m.SenderKey = slices.Clone(m.SenderKey)
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.byRecipient) >= maxCachedMailboxes {
		clear(c.byRecipient)
		clear(c.bySender)
	}
	c.byRecipient[m.RecipientID] = &m
	c.bySender[m.SenderID] = &m
}

// forget drops a mailbox (on delete).
func (c *mailboxCache) forget(rid, sid store.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byRecipient, rid)
	delete(c.bySender, sid)
	c.gen++
}
