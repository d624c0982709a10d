package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"veil/crypto"
	"veil/ratchet"
)

// Welcome parts, spec/groups.md §9.2: the welcome of a large group does
// not fit one log entry, so the admin cuts it into parts, each sealed on
// its own under the welcome's parts key, and the joiner reassembles and
// checks the whole welcome before it acts on any of it. The parts key
// comes from the exchange key and a fresh welcome secret sealed to the
// joiner's own keys (the welcome key entry), so the invite key alone
// never opens a welcome.

// Welcome labels, spec/groups.md §9.2.
const (
	labelWelcomeContext  = "veil-client/v2/group welcome context"
	labelWelcomePartsKey = "veil-client/v2/group welcome parts key"
	LabelWelcomeKeyAD    = "veil-client/v2/group welcome key"
	LabelGroupWelcomeAD  = "veil-client/v2/group welcome"
)

// Welcome part limits, spec/groups.md §9.2 and §11.
const (
	welcomePartVersion = 2
	WelcomeIDSize      = 8
	welcomePartHdr     = 1 + WelcomeIDSize + 2 // version, welcome ID, part, parts
	// WelcomePartBytes is what one part carries: the largest bucket less
	// the SealX overhead, the padding marker and the part header.
	WelcomePartBytes = crypto.MaxBody - crypto.SealedXSize - 1 - welcomePartHdr

	// maxRosterSize is the largest roster record (spec/groups.md §3.3):
	// version, group ID, epoch, settings, count, and MaxGroupMembers
	// entries with the longest nickname.
	maxRosterSize = 1 + ratchet.GroupIDSize + 8 + (1 + MaxGroupName + 4 + 8) + 2 +
		ratchet.MaxGroupMembers*MaxMemberSize
	// maxWelcomeSize is the largest welcome: version, length, roster,
	// secret, log ID, confirmation value.
	maxWelcomeSize = 1 + 4 + maxRosterSize + crypto.KeySize + crypto.IDSize + crypto.HashSize
	// maxRosterSizeV3 is the largest version-3 roster record: the relay
	// list on top (spec/groups.md §3.5).
	maxRosterSizeV3 = maxRosterSize + 1 + MaxGroupRelays*(2+MaxRelayAddress)
	// maxWelcomeSizeV3 is the largest version-3 welcome: the log count
	// and a second log ID on top.
	maxWelcomeSizeV3 = maxWelcomeSize + (maxRosterSizeV3 - maxRosterSize) + 1 + (MaxGroupRelays-1)*crypto.IDSize
	// MaxWelcomeParts is derived from the 1,000-member limit: 81.
	MaxWelcomeParts = (maxWelcomeSizeV3 + WelcomePartBytes - 1) / WelcomePartBytes
)

// WelcomePart is one decoded part of a welcome.
type WelcomePart struct {
	ID    [WelcomeIDSize]byte
	Part  byte
	Parts byte
	Bytes []byte
}

// Marshal encodes p; it returns an error for a field out of range.
func (p *WelcomePart) Marshal() ([]byte, error) {
	if p.Parts == 0 || p.Parts > MaxWelcomeParts || p.Part >= p.Parts || len(p.Bytes) == 0 || len(p.Bytes) > WelcomePartBytes {
		return nil, fmt.Errorf("client: welcome part %d of %d is malformed", p.Part, p.Parts)
	}
	b := make([]byte, 0, welcomePartHdr+len(p.Bytes))
	b = append(b, welcomePartVersion)
	b = append(b, p.ID[:]...)
	b = append(b, p.Part, p.Parts)
	return append(b, p.Bytes...), nil
}

// ParseWelcomePart decodes one part strictly.
func ParseWelcomePart(b []byte) (*WelcomePart, error) {
	r := newRecordReader(b)
	if r.u8() != welcomePartVersion || !r.ok {
		return nil, fmt.Errorf("client: welcome part: unknown version")
	}
	p := &WelcomePart{}
	copy(p.ID[:], r.take(WelcomeIDSize))
	p.Part, p.Parts = r.u8(), r.u8()
	if !r.ok || p.Parts == 0 || p.Parts > MaxWelcomeParts || p.Part >= p.Parts || len(r.b) == 0 || len(r.b) > WelcomePartBytes {
		return nil, fmt.Errorf("client: welcome part is malformed")
	}
	p.Bytes = bytes.Clone(r.b)
	return p, nil
}

// SplitWelcome cuts an encoded welcome into its parts' plaintexts.
func SplitWelcome(id [WelcomeIDSize]byte, w []byte) ([][]byte, error) {
	n := (len(w) + WelcomePartBytes - 1) / WelcomePartBytes
	if n == 0 || n > MaxWelcomeParts {
		return nil, fmt.Errorf("client: a welcome of %d bytes does not fit %d parts", len(w), MaxWelcomeParts)
	}
	out := make([][]byte, 0, n)
	for i := range n {
		end := min((i+1)*WelcomePartBytes, len(w))
		b, err := (&WelcomePart{ID: id, Part: byte(i), Parts: byte(n), Bytes: w[i*WelcomePartBytes : end]}).Marshal()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// WelcomeAssembler collects the parts of one welcome. A part of another
// welcome ID or count starts over with that welcome; a part seen twice
// must repeat its bytes exactly, or the welcome in progress is dropped.
// Nothing is returned until every part is there.
type WelcomeAssembler struct {
	id    [WelcomeIDSize]byte
	parts [][]byte
	have  int
}

// Empty reports whether no welcome is in progress.
func (a *WelcomeAssembler) Empty() bool { return a.parts == nil }

// Add records p. It returns the whole welcome once complete, and
// restarted = true when p began a new welcome (dropping any in progress).
func (a *WelcomeAssembler) Add(p *WelcomePart) (whole []byte, restarted bool) {
	if a.parts == nil || a.id != p.ID || len(a.parts) != int(p.Parts) {
		a.id, a.parts, a.have = p.ID, make([][]byte, p.Parts), 0
		restarted = true
	}
	switch old := a.parts[p.Part]; {
	case old == nil:
		a.parts[p.Part] = p.Bytes
		a.have++
	case !crypto.Equal(old, p.Bytes):
		// Two different parts under one index: trust neither.
		a.id, a.parts, a.have = p.ID, make([][]byte, p.Parts), 1
		a.parts[p.Part] = p.Bytes
		restarted = true
	}
	if a.have < len(a.parts) {
		return nil, restarted
	}
	whole = bytes.Join(a.parts, nil)
	a.parts, a.have = nil, 0
	return whole, restarted
}

// welcomeKeySize is the plaintext of a welcome key entry: the welcome ID
// and the welcome secret sealed to one recipient.
var welcomeKeySize = WelcomeIDSize + ratchet.SealedEpochSize(1)

// welcomeContext is the context the welcome secret is sealed under: it
// binds the seal to the one invite whose exchange key and log it names.
func welcomeContext(k *crypto.SymKey, logID crypto.ID) [ratchet.EpochContextSize]byte {
	var c [ratchet.EpochContextSize]byte
	crypto.HKDF(c[:], k[:], logID[:], labelWelcomeContext)
	return c
}

// welcomePartsKey is HKDF(K || welcome secret, log ID): the key of the
// welcome's parts.
func welcomePartsKey(k, ws *crypto.SymKey, logID crypto.ID) crypto.SymKey {
	ikm := make([]byte, 0, 2*crypto.KeySize)
	ikm = append(append(ikm, k[:]...), ws[:]...)
	defer crypto.Wipe(ikm) // best effort: Go cannot guarantee no copy remains
	return crypto.HKDFKey(ikm, logID[:], labelWelcomePartsKey)
}

// SealWelcomeKey draws a fresh welcome secret, seals it to the joiner's
// sealing keys (P and Q, the hybrid seal of spec/groups.md §5.3) and
// returns the welcome key entry's plaintext (welcome ID
// || sealed secret, spec/groups.md §9.2) and the key that seals the
// welcome's parts. k is the invite's exchange key. The parts key must be
// kept secret.
func SealWelcomeKey(k *crypto.SymKey, logID crypto.ID, wid [WelcomeIDSize]byte, to *Member, r io.Reader) (entry []byte, parts crypto.SymKey, err error) {
	ws, err := crypto.NewSymKey(r)
	if err != nil {
		return nil, parts, err
	}
	defer ws.Wipe()
	sealed, err := ratchet.SealEpochSecret(&ws, welcomeContext(k, logID), []ratchet.SealRecipient{{DH: to.Seal, KEM: to.Kem}}, r)
	if err != nil {
		return nil, parts, fmt.Errorf("client: sealing the welcome: %w", err)
	}
	entry = append(append(make([]byte, 0, welcomeKeySize), wid[:]...), sealed...)
	return entry, welcomePartsKey(k, &ws, logID), nil
}

// OpenWelcomeKey opens a welcome key entry's plaintext with the joiner's
// private sealing keys and returns the welcome ID and the parts key.
func OpenWelcomeKey(k *crypto.SymKey, logID crypto.ID, entry []byte, dh crypto.DHPrivate, kem *crypto.KEM768Private) (wid [WelcomeIDSize]byte, parts crypto.SymKey, err error) {
	if len(entry) != welcomeKeySize {
		return wid, parts, errors.New("client: the welcome key is malformed")
	}
	ws, err := ratchet.OpenEpochSecret(entry[WelcomeIDSize:], welcomeContext(k, logID), 0, dh, kem)
	if err != nil {
		return wid, parts, errors.New("client: the welcome key is not for us")
	}
	defer ws.Wipe()
	copy(wid[:], entry)
	return wid, welcomePartsKey(k, &ws, logID), nil
}
