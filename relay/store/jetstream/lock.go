package jetstream

import (
	"context"
	"sync"

	"veil/relay/store"
)

// keyLocks serialises this node's writers of one mailbox or log, so that
// concurrent SENDs (or appends) through the same node take turns instead
// of failing each other's optimistic publish (spec §3.2, §5.2) and
// retrying. Writers on other nodes still meet the compare-and-set, which
// remains the only thing correctness rests on; the lock is throughput.
type keyLocks struct {
	mu    sync.Mutex // guards locks
	locks map[lockKey]*keyLock
}

type lockKey struct {
	kind byte // 'm' mailbox, 'l' log
	id   store.ID
}

type keyLock struct {
	ch   chan struct{} // buffer of one: holding the lock is having sent
	refs int           // holders and waiters; guarded by keyLocks.mu
}

// lock waits for the key's lock or for ctx to end; the returned function
// releases it.
func (k *keyLocks) lock(ctx context.Context, kind byte, id store.ID) (func(), error) {
	key := lockKey{kind, id}
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[lockKey]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	drop := func() {
		k.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
	return func() {
		<-l.ch
		drop()
	}, nil
}
