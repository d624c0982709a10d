package ratchet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"veil/crypto"
)

// ErrOwnMessage is returned by GroupEpoch.Decrypt for a message signed
// with this member's own key: one it sent itself (read back from the group
// log), or one written by whoever holds a copy of its keys. The caller
// tells the two apart by what it appended.
var ErrOwnMessage = errors.New("ratchet: own group message")

// GroupEpoch is one member's view of one epoch of a group
// (spec/groups.md §3–§4): the epoch's header key and log capabilities,
// this member's sending chain and signing key, and one receiving chain per
// other member of the roster. It is a pure state machine: no I/O, and a
// failed operation leaves it unchanged. It is not safe for concurrent use.
// It holds secrets: persist it only through Marshal into an encrypted store.
type GroupEpoch struct {
	cfg Config

	ctx      [EpochContextSize]byte // group ID || epoch, §3.1
	hk       crypto.SymKey          // the epoch's header key, §3.2
	writeCap [GroupCapSize]byte
	readCap  [GroupCapSize]byte

	self    crypto.SignPrivate
	selfPub crypto.SignPublic
	ck      crypto.SymKey // this member's sending chain key
	n       uint32        // the number of the next message it sends

	peers []peerChain // every other member, sorted by signing key
}

// peerChain is the receiving chain of one other member (§4.3).
type peerChain struct {
	pub     crypto.SignPublic
	ck      crypto.SymKey
	n       uint32         // the number of the next message expected
	skipped []groupSkipped // oldest first
}

type groupSkipped struct {
	n       uint32
	mk      crypto.SymKey
	created int64
}

// String redacts the state.
func (GroupEpoch) String() string { return "ratchet.GroupEpoch(redacted)" }

// GoString redacts the state for %#v.
func (g GroupEpoch) GoString() string { return g.String() }

// SetConfig replaces the sources of randomness and time (after Unmarshal).
func (g *GroupEpoch) SetConfig(cfg Config) { g.cfg = cfg }

// EpochContext returns group ID || epoch, the context every key and
// signature of the epoch is bound to (spec/groups.md §3.1).
func EpochContext(groupID [GroupIDSize]byte, epoch uint64) [EpochContextSize]byte {
	var c [EpochContextSize]byte
	copy(c[:], groupID[:])
	binary.BigEndian.PutUint64(c[GroupIDSize:], epoch)
	return c
}

// NewGroupEpoch derives the state of the epoch whose secret is secret
// (spec/groups.md §3.2) for the member holding self. members is the
// roster's signing keys in any order; it must hold self, no key twice, and
// at most MaxGroupMembers keys. Every member starts every chain at number 0.
// The caller should wipe secret afterwards: the state does not keep it.
func NewGroupEpoch(cfg Config, secret *crypto.SymKey, groupID [GroupIDSize]byte, epoch uint64, self crypto.SignPrivate, members []crypto.SignPublic) (*GroupEpoch, error) {
	if !self.Valid() {
		return nil, errors.New("ratchet: group epoch without a signing key")
	}
	if len(members) == 0 || len(members) > MaxGroupMembers {
		return nil, fmt.Errorf("ratchet: a group has 1 to %d members, not %d", MaxGroupMembers, len(members))
	}
	g := &GroupEpoch{cfg: cfg, ctx: EpochContext(groupID, epoch), self: self, selfPub: self.Public()}
	var out [3 * crypto.KeySize]byte
	crypto.HKDF(out[:], secret[:], g.ctx[:], labelGroupEpoch)
	copy(g.hk[:], out[0:32])
	copy(g.writeCap[:], out[32:64])
	copy(g.readCap[:], out[64:96])
	crypto.Wipe(out[:])

	sorted := slices.Clone(members)
	slices.SortFunc(sorted, func(a, b crypto.SignPublic) int { return bytes.Compare(a[:], b[:]) })
	found := false
	g.peers = make([]peerChain, 0, len(sorted)-1)
	for i, m := range sorted {
		if i > 0 && m == sorted[i-1] {
			return nil, errors.New("ratchet: a signing key is twice in the roster")
		}
		ck := chainKeyOf(secret, &g.ctx, m)
		if m == g.selfPub {
			found = true
			g.ck = ck
			continue
		}
		g.peers = append(g.peers, peerChain{pub: m, ck: ck})
	}
	if !found {
		return nil, errors.New("ratchet: the roster does not hold this member's signing key")
	}
	return g, nil
}

// chainKeyOf is the first chain key of member m (§3.2).
func chainKeyOf(secret *crypto.SymKey, ctx *[EpochContextSize]byte, m crypto.SignPublic) crypto.SymKey {
	salt := make([]byte, 0, EpochContextSize+crypto.KeySize)
	salt = append(append(salt, ctx[:]...), m[:]...)
	return crypto.HKDFKey(secret[:], salt, labelGroupChain)
}

// Context returns the epoch context (group ID || epoch).
func (g *GroupEpoch) Context() [EpochContextSize]byte { return g.ctx }

// Epoch returns the epoch number.
func (g *GroupEpoch) Epoch() uint64 { return binary.BigEndian.Uint64(g.ctx[GroupIDSize:]) }

// Caps returns the epoch log's write and read capabilities (§6.1). They
// grant access to the log: keep them as secret as keys.
func (g *GroupEpoch) Caps() (write, read [GroupCapSize]byte) { return g.writeCap, g.readCap }

// Self returns this member's group signing key.
func (g *GroupEpoch) Self() crypto.SignPublic { return g.selfPub }

// Members returns how many members the epoch has, this one included.
func (g *GroupEpoch) Members() int { return len(g.peers) + 1 }

func (g *GroupEpoch) peer(pub crypto.SignPublic) int {
	i, ok := slices.BinarySearchFunc(g.peers, pub, func(p peerChain, k crypto.SignPublic) int {
		return bytes.Compare(p.pub[:], k[:])
	})
	if !ok {
		return -1
	}
	return i
}

// groupBuf returns one buffer laid out as label || ctx || message of size
// bytes, so the body's AD and the signed bytes are contiguous slices.
func (g *GroupEpoch) groupBuf(size int) (buf, m []byte) {
	pre := len(labelGroupSig) + EpochContextSize
	buf = make([]byte, pre+size)
	copy(buf, labelGroupSig)
	copy(buf[len(labelGroupSig):], g.ctx[:])
	return buf, buf[pre:]
}

// Encrypt seals pt as the next message of this member's sending chain and
// signs it (spec/groups.md §4.1). The result's length is one of
// crypto.Buckets: it is the one log entry every member reads. On error g
// is unchanged.
func (g *GroupEpoch) Encrypt(pt []byte) ([]byte, error) {
	if g.n == math.MaxUint32 {
		// The last number is never sent (as in spec/session.md §4.5):
		// receivers refuse it, so their chain position cannot wrap.
		return nil, errors.New("ratchet: group sending chain exhausted")
	}
	m, err := g.encrypt(pt)
	if err != nil {
		return nil, err
	}
	g.expireSkipped(g.cfg.now())
	return m, nil
}

// encrypt is Encrypt after its chain check; tests call it to forge a
// message number Encrypt never sends.
func (g *GroupEpoch) encrypt(pt []byte) ([]byte, error) {
	size := crypto.BucketFor(len(pt) + 1 + groupOverhead)
	if size == 0 {
		return nil, fmt.Errorf("%w (%d bytes, at most %d)", ErrTooLong, len(pt), MaxGroupPlaintext)
	}
	buf, m := g.groupBuf(size)
	m[0] = typeGroup
	hdr := m[1+crypto.XNonceSize : 1+crypto.XNonceSize+groupHeaderSize]
	copy(hdr, g.selfPub[:])
	binary.BigEndian.PutUint32(hdr[crypto.KeySize:], g.n)
	if _, err := crypto.SealX(m[1:1], &g.hk, hdr, g.ctx[:], g.cfg.rand()); err != nil {
		return nil, err
	}
	sigOff := size - crypto.SignatureSize
	padded := m[groupBodyOff : sigOff-crypto.Overhead]
	copy(padded, pt)
	padded[len(pt)] = 0x80 // ISO/IEC 7816-4; the rest is already zero

	ck := g.ck
	mk := chainStep(&ck)
	adOff := len(labelGroupSig)
	pre := adOff + EpochContextSize
	// The body nonce is the first 12 bytes of the header's random nonce
	// (§4.1), as in spec/session.md §5.4.
	crypto.Seal(padded[:0], &mk, (*[crypto.NonceSize]byte)(m[1:1+crypto.NonceSize]), padded, buf[adOff:pre+groupBodyOff])
	mk.Wipe()
	copy(m[sigOff:], g.self.Sign(buf[:pre+sigOff]))
	g.ck = ck
	ck.Wipe()
	g.n++
	return m, nil
}

// Decrypt checks and decrypts one group message (spec/groups.md §4.3) and
// returns its plaintext and its sender's signing key. It returns
// ErrOwnMessage (a message signed with this member's own key),
// ErrDuplicate, ErrTooFarAhead or an error wrapping ErrAuth (a message of
// another epoch or group, of an unknown sender, with a bad signature,
// tampered or malformed: a header naming this member's key over a
// signature that does not verify under it is one), and on any error g is
// unchanged.
func (g *GroupEpoch) Decrypt(msg []byte) ([]byte, crypto.SignPublic, error) {
	var sender crypto.SignPublic
	if !crypto.IsBucket(len(msg)) {
		return nil, sender, authErr("length is not a bucket")
	}
	if msg[0] != typeGroup {
		return nil, sender, authErr("not a group message")
	}
	var hb [groupHeaderSize]byte
	h, err := crypto.OpenX(hb[:0], &g.hk, msg[1:groupBodyOff], g.ctx[:])
	if err != nil || len(h) != groupHeaderSize {
		return nil, sender, authErr("header does not open under this epoch")
	}
	copy(sender[:], h[:crypto.KeySize])
	n := binary.BigEndian.Uint32(h[crypto.KeySize:])
	i := g.peer(sender)
	if i < 0 && sender != g.selfPub {
		return nil, sender, authErr("sender is not in the roster")
	}
	buf, m := g.groupBuf(len(msg))
	copy(m, msg)
	sigOff := len(msg) - crypto.SignatureSize
	adOff := len(labelGroupSig)
	pre := adOff + EpochContextSize
	// The signature is checked before a message counts as our own: every
	// member holds hk and can write a header naming our key, and only a
	// signature under it means the entry was written with our keys.
	if !crypto.Verify(sender, buf[:pre+sigOff], m[sigOff:]) {
		return nil, sender, authErr("bad signature")
	}
	if sender == g.selfPub {
		return nil, sender, ErrOwnMessage
	}
	if n == math.MaxUint32 {
		// Encrypt never sends it; accepting it would wrap the chain's
		// position to 0.
		return nil, sender, authErr("message number out of range")
	}
	p := &g.peers[i]
	now := g.cfg.now()
	var mk crypto.SymKey
	var ck crypto.SymKey
	var newSkipped []groupSkipped
	skippedAt := -1
	switch {
	case n < p.n:
		for j := range p.skipped {
			if p.skipped[j].n == n {
				skippedAt = j
				mk = p.skipped[j].mk
				break
			}
		}
		if skippedAt < 0 {
			return nil, sender, ErrDuplicate
		}
	case n-p.n > MaxGroupSkip:
		return nil, sender, ErrTooFarAhead
	default:
		ck = p.ck
		for k := p.n; k < n; k++ {
			newSkipped = append(newSkipped, groupSkipped{n: k, mk: chainStep(&ck), created: now})
		}
		mk = chainStep(&ck)
	}
	body := m[groupBodyOff:sigOff]
	pt, err := crypto.Open(body[:0], &mk, (*[crypto.NonceSize]byte)(m[1:1+crypto.NonceSize]), body, buf[adOff:pre+groupBodyOff])
	mk.Wipe()
	if err != nil {
		ck.Wipe()
		wipeGroupSkipped(newSkipped)
		return nil, sender, ErrAuth
	}
	pt, err = crypto.Unpad(pt)
	if err != nil {
		ck.Wipe()
		wipeGroupSkipped(newSkipped)
		return nil, sender, authErr("bad padding")
	}
	// Commit (§4.3): nothing above changed g.
	if skippedAt >= 0 {
		p.skipped[skippedAt].mk.Wipe()
		p.skipped = slices.Delete(p.skipped, skippedAt, skippedAt+1)
	} else {
		p.ck = ck
		p.n = n + 1
		p.skipped = append(p.skipped, newSkipped...)
		if over := len(p.skipped) - MaxGroupSkippedKeys; over > 0 {
			wipeGroupSkipped(p.skipped[:over])
			p.skipped = slices.Delete(p.skipped, 0, over)
		}
	}
	ck.Wipe()
	g.expireSkipped(now)
	return slices.Clone(pt), sender, nil
}

// ExpireSkipped drops every sender chain's skipped keys older than
// SkippedKeyTTL at now (spec/groups.md §4.3, §11). Encrypt and Decrypt do
// it too, so the keys of a sender who has gone silent expire while the
// group is in use; a caller holding a state it neither sends nor receives
// on calls it when it loads the state.
func (g *GroupEpoch) ExpireSkipped(now time.Time) { g.expireSkipped(now.Unix()) }

// expireSkipped looks at the front of every sender chain: its keys are
// oldest first, so the cost is one comparison per chain plus one per
// dropped key.
func (g *GroupEpoch) expireSkipped(now int64) {
	for i := range g.peers {
		g.peers[i].expire(now)
	}
}

// expire drops p's skipped keys older than SkippedKeyTTL (§8).
func (p *peerChain) expire(now int64) {
	// created < now - TTL rather than now - created > TTL: created comes
	// from a parsed state and must not overflow the subtraction.
	limit := now - int64(SkippedKeyTTL.Seconds())
	k := 0
	for k < len(p.skipped) && p.skipped[k].created < limit {
		k++
	}
	if k > 0 {
		wipeGroupSkipped(p.skipped[:k])
		p.skipped = slices.Delete(p.skipped, 0, k)
	}
	if len(p.skipped) == 0 {
		p.skipped = nil
	}
}

func wipeGroupSkipped(ks []groupSkipped) {
	for i := range ks {
		ks[i].mk.Wipe()
	}
}

// Wipe zeroes the state's keys (best effort: Go cannot guarantee that no
// copy remains in memory). The state is unusable afterwards.
func (g *GroupEpoch) Wipe() {
	g.hk.Wipe()
	g.ck.Wipe()
	clear(g.writeCap[:])
	clear(g.readCap[:])
	g.self.Wipe()
	for i := range g.peers {
		g.peers[i].ck.Wipe()
		wipeGroupSkipped(g.peers[i].skipped)
	}
	g.peers = nil
}
