package journal

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"veil/relay/store"
)

// Pending returns up to limit visible, unexpired messages of rid with a
// seq above after. It reads the bodies without holding mu, so that a slow
// disk does not hold up the writer, and then checks that each message is
// still where it was read from: one moved forward meanwhile is read
// again from its new place, one acknowledged or expired meanwhile is
// left out. A segment number is never used twice, so an unchanged place
// means the bytes read are the message's.
func (j *Journal) Pending(rid store.ID, after uint64, limit int, now time.Time) ([]store.Message, error) {
	type ref struct {
		m jmsg
		f *os.File
	}
	for range 8 {
		var refs []ref
		j.mu.RLock()
		if b := j.boxes[rid]; b != nil {
			i := sort.Search(len(b.msgs), func(i int) bool { return b.msgs[i].seq > after })
			for ; i < len(b.msgs) && len(refs) < limit; i++ {
				m := b.msgs[i]
				if m.seq > b.visible {
					break
				}
				if expired(m.exp, now) {
					continue
				}
				s := j.segByNum(m.seg)
				if s == nil {
					j.mu.RUnlock()
					return nil, errors.New("journal: message in a missing segment")
				}
				refs = append(refs, ref{m, s.f})
			}
		}
		j.mu.RUnlock()
		out := make([]store.Message, 0, len(refs))
		errs := make([]error, len(refs))
		for i, r := range refs {
			body := make([]byte, r.m.n)
			_, errs[i] = r.f.ReadAt(body, r.m.off)
			out = append(out, store.Message{Seq: r.m.seq, Body: body, Expires: time.Unix(int64(r.m.exp), 0)})
		}
		moved := false
		kept := out[:0]
		j.mu.RLock()
		b := j.boxes[rid]
		for i, r := range refs {
			var now jmsg
			found := false
			if b != nil {
				var k int
				if k, found = b.find(r.m.seq); found {
					now = b.msgs[k]
				}
			}
			switch {
			case !found:
				// Gone meanwhile: left out.
			case now.seg != r.m.seg || now.off != r.m.off:
				moved = true
			case errs[i] != nil:
				j.mu.RUnlock()
				return nil, fmt.Errorf("journal: reading: %w", errs[i])
			default:
				kept = append(kept, out[i])
			}
		}
		j.mu.RUnlock()
		if !moved {
			return kept, nil
		}
	}
	return nil, errors.New("journal: messages kept moving while being read")
}
