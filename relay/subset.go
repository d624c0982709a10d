package relay

import "veil/crypto"

// fewSubs is how many subscriptions a subSet keeps in its slice before it
// moves them to a map.
const fewSubs = 8

// subSet is a session's subscriptions by recipient ID. Most connections
// hold one or a few: a short slice searched in order costs 8 bytes a
// subscription where a map costs several hundred, and a map takes over
// when there are more. The zero value is empty; the session's subMu
// guards it.
type subSet struct {
	few  []*subscription
	many map[crypto.ID]*subscription
}

func (s *subSet) get(rid crypto.ID) *subscription {
	if s.many != nil {
		return s.many[rid]
	}
	for _, sub := range s.few {
		if sub.rid == rid {
			return sub
		}
	}
	return nil
}

// put adds sub, whose recipient ID is not in s.
func (s *subSet) put(sub *subscription) {
	if s.many != nil {
		s.many[sub.rid] = sub
		return
	}
	if len(s.few) < fewSubs {
		s.few = append(s.few, sub)
		return
	}
	s.many = make(map[crypto.ID]*subscription, 2*fewSubs)
	for _, o := range s.few {
		s.many[o.rid] = o
	}
	s.many[sub.rid] = sub
	s.few = nil
}

// del removes the subscription of rid if it is sub (any when sub is nil)
// and returns what it removed.
func (s *subSet) del(rid crypto.ID, sub *subscription) *subscription {
	if s.many != nil {
		o := s.many[rid]
		if o == nil || sub != nil && o != sub {
			return nil
		}
		delete(s.many, rid)
		return o
	}
	for i, o := range s.few {
		if o.rid == rid {
			if sub != nil && o != sub {
				return nil
			}
			last := len(s.few) - 1
			s.few[i] = s.few[last]
			s.few[last] = nil
			s.few = s.few[:last]
			if len(s.few) == 0 {
				s.few = nil // an idle session keeps no slice
			}
			return o
		}
	}
	return nil
}

func (s *subSet) len() int { return len(s.few) + len(s.many) }

// all returns every subscription of s.
func (s *subSet) all() []*subscription {
	if s.many == nil {
		return s.few
	}
	list := make([]*subscription, 0, len(s.many))
	for _, sub := range s.many {
		list = append(list, sub)
	}
	return list
}
