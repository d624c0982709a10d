package ratchet

import (
	"veil/crypto"
)

// skipKeys derives the message keys for numbers from..until-1 of the chain
// ck (advancing ck in place), dated now, under header key hk. The caller
// has checked until-from <= MaxSkip.
func skipKeys(ck *crypto.SymKey, from, until uint32, hk *crypto.SymKey, now int64) []skippedKey {
	if until <= from {
		return nil
	}
	out := make([]skippedKey, 0, until-from)
	for n := from; n < until; n++ {
		out = append(out, skippedKey{hk: *hk, n: n, mk: chainStep(ck), created: now})
	}
	return out
}

func wipeSkipped(ks []skippedKey) {
	for i := range ks {
		ks[i].mk.Wipe()
	}
}

// findSkipped returns the index of the key for (hk, n), or -1.
func (s *Session) findSkipped(hk *crypto.SymKey, n uint32) int {
	for i := range s.skipped {
		if s.skipped[i].n == n && crypto.Equal(s.skipped[i].hk[:], hk[:]) {
			return i
		}
	}
	return -1
}

// addSkipped appends ks and evicts the oldest keys past MaxSkippedKeys
// (spec/session.md §7.2).
func (s *Session) addSkipped(ks []skippedKey) {
	if len(ks) == 0 {
		return
	}
	s.skipped = append(s.skipped, ks...)
	if over := len(s.skipped) - MaxSkippedKeys; over > 0 {
		s.dropFront(over)
	}
}

func (s *Session) dropFront(k int) {
	wipeSkipped(s.skipped[:k])
	n := copy(s.skipped, s.skipped[k:])
	clear(s.skipped[n:])
	s.skipped = s.skipped[:n]
}

// removeSkipped deletes key j, keeping the order of the rest.
func (s *Session) removeSkipped(j int) {
	s.skipped[j].mk.Wipe()
	copy(s.skipped[j:], s.skipped[j+1:])
	last := len(s.skipped) - 1
	s.skipped[last] = skippedKey{}
	s.skipped = s.skipped[:last]
	if len(s.skipped) == 0 {
		s.skipped = nil
	}
}

// expireSkipped drops keys older than SkippedKeyTTL from the front. Keys
// are kept oldest first, so with a clock that does not run backwards this
// drops every expired key.
func (s *Session) expireSkipped(now int64) {
	// created < now - TTL rather than now - created > TTL: created comes
	// from a parsed state and must not overflow the subtraction.
	limit := now - int64(SkippedKeyTTL.Seconds())
	k := 0
	for k < len(s.skipped) && s.skipped[k].created < limit {
		k++
	}
	if k > 0 {
		s.dropFront(k)
		if len(s.skipped) == 0 {
			s.skipped = nil
		}
	}
}

// retire remembers a closed receiving chain, keeping the newest
// MaxRetiredChains (§7.3).
func (s *Session) retire(hk crypto.SymKey, end uint32) {
	s.retired = append(s.retired, retiredChain{hk: hk, end: end})
	if over := len(s.retired) - MaxRetiredChains; over > 0 {
		n := copy(s.retired, s.retired[over:])
		clear(s.retired[n:])
		s.retired = s.retired[:n]
	}
}
