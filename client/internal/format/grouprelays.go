package format

import (
	"errors"
	"fmt"
	"strings"

	"veil/crypto"
	"veil/ratchet"
	"veil/relay/wire"
)

// A group's relays (spec/groups.md §3.5): the settings of a version-3
// roster name one or two relays, the primary first, and each epoch has
// one log on each. A version-3 commit carries the new epoch's log IDs in
// that order, each sealed as a version-2 commit seals its one log ID.

// Group relay limits, spec/groups.md §3.5 and §11.
const (
	// MaxGroupRelays is how many relays a group lives on.
	MaxGroupRelays = 2
	// MaxRelayAddress bounds one relay address in the settings: a
	// canonical address and an optional "~" and password.
	MaxRelayAddress = 1024
)

// passwordSep separates an address from its password in a credentialed
// address (spec/relay.md).
const passwordSep = "~"

// RelayBase returns the canonical address of a relay address as the
// settings hold it, without its password.
func RelayBase(a string) string {
	if i := strings.LastIndex(a, passwordSep); i >= 0 {
		return a[:i]
	}
	return a
}

// CheckGroupRelays refuses a relay list out of range: 1 to MaxGroupRelays
// addresses, each canonical (with at most an unpadded base64url password
// of 1 to wire.MaxPassword bytes after "~"), no relay twice.
func CheckGroupRelays(relays []string) error {
	if len(relays) < 1 || len(relays) > MaxGroupRelays {
		return fmt.Errorf("client: a group lives on 1 to %d relays", MaxGroupRelays)
	}
	seen := make(map[string]bool, len(relays))
	for _, a := range relays {
		if len(a) == 0 || len(a) > MaxRelayAddress {
			return errors.New("client: a group relay address is 1 to 1,024 bytes")
		}
		c, err := wire.ParseCredentialed(a)
		if err != nil || c.Secret() != a {
			return errors.New("client: a group relay address is not canonical")
		}
		base := c.String()
		if seen[base] {
			return errors.New("client: a group names one relay twice")
		}
		seen[base] = true
	}
	return nil
}

// SealLogIDs seals the new epoch's log IDs for a version-3 commit
// (spec/groups.md §6.3): the count, then each ID sealed by SealLogID.
func SealLogIDs(ep *ratchet.GroupEpoch, ids []crypto.ID) ([]byte, error) {
	if len(ids) < 1 || len(ids) > MaxGroupRelays {
		return nil, fmt.Errorf("client: a group lives on 1 to %d relays", MaxGroupRelays)
	}
	b := make([]byte, 1, 1+len(ids)*ratchet.SealedLogIDSize)
	b[0] = byte(len(ids))
	for _, id := range ids {
		s, err := ep.SealLogID(id)
		if err != nil {
			return nil, err
		}
		b = append(b, s...)
	}
	return b, nil
}

// OpenLogIDs opens the log IDs a verified commit carries, in relay order:
// one for a version-2 commit, one per relay of the new roster for a
// version-3 one.
func (c *Commit) OpenLogIDs(ep *ratchet.GroupEpoch) ([]crypto.ID, error) {
	if c.version() == groupRecordVersion {
		id, err := ep.OpenLogID(c.LogID)
		if err != nil {
			return nil, err
		}
		return []crypto.ID{id}, nil
	}
	n := sealedLogCount(c.LogID)
	if n == 0 {
		return nil, errors.New("client: group commit's sealed logs are malformed")
	}
	ids := make([]crypto.ID, 0, n)
	for i := range n {
		id, err := ep.OpenLogID(c.LogID[1+i*ratchet.SealedLogIDSize : 1+(i+1)*ratchet.SealedLogIDSize])
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// sealedLogCount returns the count of a version-3 sealed log list, or 0
// when b is not exactly that many sealed IDs.
func sealedLogCount(b []byte) int {
	if len(b) < 1 {
		return 0
	}
	n := int(b[0])
	if n < 1 || n > MaxGroupRelays || len(b) != 1+n*ratchet.SealedLogIDSize {
		return 0
	}
	return n
}
