package ratchet

import (
	"errors"
	"fmt"
	"math"

	"veil/crypto"
)

// Session is one side of a Double Ratchet session with header encryption
// (spec/session.md §4.5), after a PQXDH handshake. It is not safe for
// concurrent use. It holds secrets: persist it only through Marshal into
// an encrypted store.
type Session struct {
	cfg Config

	initiator bool           // this side is the joiner (Alice)
	local     IdentityPublic // this side's identity key
	remote    IdentityPublic // the peer's identity key
	ad        [adSize]byte   // IK_A || IK_B, §4.3

	dhs    crypto.DHPrivate // DHs: our current ratchet key pair
	dhsPub crypto.DHPublic
	dhr    crypto.DHPublic // DHr: the peer's ratchet key (valid if hasDHr)
	hasDHr bool

	rk       crypto.SymKey // RK
	cks      crypto.SymKey // CKs (valid if hasCKs)
	ckr      crypto.SymKey // CKr (valid if hasCKr)
	hasCKs   bool
	hasCKr   bool
	hks      crypto.SymKey // HKs (valid if hasHKs)
	nhks     crypto.SymKey // NHKs
	hkr      crypto.SymKey // HKr (valid if hasHKr)
	nhkr     crypto.SymKey // NHKr
	hasHKs   bool
	hasHKr   bool
	ns, nr   uint32 // Ns, Nr
	pn       uint32 // PN
	prefix   []byte // joiner: initial prefix sent until the first reply (§5.3)
	initHash [crypto.HashSize]byte
	hasInit  bool // inviter: initHash identifies the initial prefix

	retired []retiredChain // previous receiving chains, oldest first (§7.3)
	skipped []skippedKey   // skipped message keys, oldest first (§7.2)

	pq pqState // the KEM ratchet (§14)

	// Scratch space, not state: Decrypt works on a copy of CKr and opens
	// headers into these. They live in the Session, which is on the heap
	// anyway, so the hash and AEAD interfaces that make their arguments
	// escape cost no allocation per message. Wiped after each use.
	tmpCK  crypto.SymKey
	tmpHdr [headerSize]byte
}

// retiredChain remembers a previous receiving chain: its header key and
// how many messages it held (the PN that closed it).
type retiredChain struct {
	hk  crypto.SymKey
	end uint32
}

// skippedKey is the key of a message not yet received, identified by the
// header key of its chain and its number.
type skippedKey struct {
	hk      crypto.SymKey
	n       uint32
	mk      crypto.SymKey
	created int64 // Unix seconds, from Config.Now
}

// String redacts the session.
func (Session) String() string { return "ratchet.Session(redacted)" }

// GoString redacts the session for %#v.
func (s Session) GoString() string { return s.String() }

// SetConfig replaces the randomness and clock of s, for a session parsed
// with one Config and used with another.
func (s *Session) SetConfig(cfg Config) { s.cfg = cfg }

// Local returns this side's identity key.
func (s *Session) Local() IdentityPublic { return s.local }

// Remote returns the peer's identity key.
func (s *Session) Remote() IdentityPublic { return s.remote }

// IsInitial reports whether msg has the type of an initial message, the
// kind that starts a session with Respond (spec/session.md §5.1).
func IsInitial(msg []byte) bool { return len(msg) > 0 && msg[0] == typeInitial }

// AwaitingReply reports whether s is a joiner's session that has not yet
// heard from the inviter: its messages are still initial messages
// (spec/session.md §5.3). After a session reset it tells the answerer
// whether the offerer has used the new session yet (§13.3).
func (s *Session) AwaitingReply() bool { return s.prefix != nil }

// MaxPlaintext returns the largest plaintext the next Encrypt accepts:
// MaxInitialPlaintext while the joiner has not yet heard from the inviter,
// MaxPlaintext after.
func (s *Session) MaxPlaintext() int {
	if s.prefix != nil {
		return MaxInitialPlaintext
	}
	return MaxPlaintext
}

// ErrTooLong is returned by Encrypt for a plaintext longer than
// Session.MaxPlaintext. It wraps crypto.ErrTooLong.
var ErrTooLong = fmt.Errorf("ratchet: %w", crypto.ErrTooLong)

// Encrypt seals pt as the next message of the sending chain and returns
// the whole message, whose length is one of crypto.Buckets
// (spec/session.md §5, §6). On error s is unchanged.
func (s *Session) Encrypt(pt []byte) ([]byte, error) {
	if !s.hasCKs || !s.hasHKs {
		return nil, errors.New("ratchet: session cannot send before it has received")
	}
	if s.ns == math.MaxUint32 {
		return nil, errors.New("ratchet: sending chain exhausted")
	}
	return s.encrypt(pt)
}

// encrypt is Encrypt after its state checks; tests call it to forge a
// message number Encrypt never sends.
func (s *Session) encrypt(pt []byte) ([]byte, error) {
	overhead, typ := messageOverhead, byte(typeMessage)
	if s.prefix != nil {
		overhead, typ = initialOverhead, typeInitial
	}
	size := crypto.BucketFor(len(pt) + 1 + overhead)
	if size == 0 {
		return nil, fmt.Errorf("%w (%d bytes, at most %d)", ErrTooLong, len(pt), crypto.MaxBody-overhead-1)
	}
	// One buffer holds the session AD followed by the message, so the body's
	// associated data (AD || everything before the body, §5.4) is one
	// contiguous slice and nothing else is allocated.
	buf := make([]byte, adSize+size)
	copy(buf, s.ad[:])
	m := buf[adSize:]
	m[0] = typ
	off := 1 + copy(m[1:], s.prefix)
	// The header is written where its ciphertext goes and sealed in place.
	h := header{dh: s.dhsPub, pn: s.pn, n: s.ns}
	hdr := (*[headerSize]byte)(m[off+crypto.XNonceSize:])
	h.marshal(hdr)
	if _, err := crypto.SealX(m[off:off], &s.hks, hdr[:], nil, s.cfg.rand()); err != nil {
		return nil, err
	}
	bodyOff := off + encHeaderSize
	padded := m[bodyOff : size-crypto.Overhead]
	copy(padded, pt)
	padded[len(pt)] = 0x80 // ISO/IEC 7816-4, §6; the rest is already zero
	if s.pq.phase != pqOff {
		// The KEM ratchet's block takes padding the bucket has anyway
		// (§14.4): it never changes the message's size.
		s.pq.putOutgoing(padded, len(pt), s.prefix != nil)
	}

	// Nothing fails from here on, so CKs steps in place.
	mk := chainStep(&s.cks)
	// The body nonce is the first 12 bytes of the header's fresh random
	// nonce (§5.4): MK is used once anyway, and a state wrongly used twice
	// still does not repeat a (key, nonce) pair.
	crypto.Seal(padded[:0], &mk, bodyNonce(m, off), padded, buf[:adSize+bodyOff])
	mk.Wipe()
	s.ns++
	if len(s.skipped) > 0 { // the clock is read only when there is work
		s.expireSkipped(s.cfg.now()) // §7.2: a silent peer's keys still expire
	}
	return m, nil
}

func authErr(why string) error { return fmt.Errorf("%w: %s", ErrAuth, why) }

// frame checks the outer format of msg and returns the offset of its
// encrypted header (§5.1, §5.3).
func (s *Session) frame(msg []byte) (int, error) {
	if !crypto.IsBucket(len(msg)) {
		return 0, authErr("length is not a bucket")
	}
	switch msg[0] {
	case typeMessage:
		return 1, nil
	case typeInitial:
		if !s.hasInit {
			return 0, authErr("unexpected initial message")
		}
		if len(msg) < initialOverhead+1 {
			return 0, authErr("initial message too short")
		}
		h := crypto.Hash(msg[1 : 1+initialPrefixSize])
		if !crypto.Equal(h[:], s.initHash[:]) {
			return 0, ErrConflictingInitial // §8
		}
		return 1 + initialPrefixSize, nil
	default:
		return 0, authErr("unknown message type")
	}
}

// bodyNonce returns the body's nonce: the first crypto.NonceSize bytes of
// the encrypted header at off, which start with its random nonce (§5.4).
func bodyNonce(msg []byte, off int) *[crypto.NonceSize]byte {
	return (*[crypto.NonceSize]byte)(msg[off : off+crypto.NonceSize])
}

// openBody authenticates and decrypts the body of msg with mk and returns
// the unpadded plaintext (§5.4, §6) and the KEM ratchet's block, if the
// padding carries one (§14.4).
func (s *Session) openBody(mk *crypto.SymKey, msg []byte, bodyOff int) ([]byte, pqBlock, bool, error) {
	body := msg[bodyOff:]
	buf := make([]byte, adSize+bodyOff, adSize+bodyOff+len(body)-crypto.Overhead)
	copy(buf, s.ad[:])
	copy(buf[adSize:], msg[:bodyOff])
	padded, err := crypto.Open(buf[adSize+bodyOff:], mk, bodyNonce(msg, bodyOff-encHeaderSize), body, buf[:adSize+bodyOff])
	if err != nil {
		return nil, pqBlock{}, false, ErrAuth
	}
	rest, b, has, err := splitPQBlock(padded)
	if err != nil {
		return nil, pqBlock{}, false, err
	}
	pt, err := crypto.Unpad(rest)
	if err != nil {
		return nil, pqBlock{}, false, authErr("bad padding")
	}
	return pt, b, has, nil
}

// pqUpdate says how a decrypt changes the KEM ratchet's state.
type pqUpdate byte

const (
	pqKeep    pqUpdate = iota // nothing changes
	pqInPlace                 // the block is applied in place at commit: it can neither fail nor draw
	pqReplace                 // a changed copy replaces the state at commit
)

// pqReceived works out how a received message changes the KEM ratchet's
// state (§14.2). A block that can fail or draw (it turns the ratchet on or
// completes a payload) is applied here to a copy, which the caller commits
// with commitPQ once the whole decrypt succeeded; any other block is
// applied in place at commit (applyPQ), which spares the common message
// the copy of the state.
//
// The copy is made on the heap and only when needed: a copy on the stack
// would escape (its seeds are read into through an io.Reader) and cost
// every message, the Double Ratchet's alone included, an allocation of
// the whole state.
func (s *Session) pqReceived(b *pqBlock, has, step bool) (next *pqState, u pqUpdate, err error) {
	if !has && (!step || !s.pq.sending()) {
		return nil, pqKeep, nil
	}
	if has && !step && s.pq.quiet(b) {
		return nil, pqInPlace, nil
	}
	next = new(pqState)
	*next = s.pq.clone()
	if err := next.incoming(b, has, step, s.initiator, s.cfg.rand()); err != nil {
		next.wipe()
		return nil, pqKeep, err
	}
	return next, pqReplace, nil
}

// applyPQ commits what pqReceived decided.
func (s *Session) applyPQ(u pqUpdate, next *pqState, b *pqBlock) {
	switch u {
	case pqInPlace:
		// quiet promised that this neither fails nor draws.
		if err := s.pq.incoming(b, true, false, s.initiator, noDraws{}); err != nil {
			panic("ratchet: a quiet KEM ratchet block failed")
		}
	case pqReplace:
		s.commitPQ(next)
	}
}

// noDraws is the reader of an update that must not draw: any read is a
// programmer error.
type noDraws struct{}

func (noDraws) Read([]byte) (int, error) { panic("ratchet: a quiet KEM ratchet block drew") }

// commitPQ replaces the KEM ratchet's state with next.
func (s *Session) commitPQ(next *pqState) {
	s.pq.wipe()
	s.pq = *next
}

// Decrypt authenticates and decrypts msg (spec/session.md §4.5). It
// returns ErrDuplicate, ErrTooFarAhead or an error wrapping ErrAuth, and on
// any error s is exactly as it was.
func (s *Session) Decrypt(msg []byte) ([]byte, error) {
	return s.decrypt(msg, false)
}

// decrypt is Decrypt; needEK makes a DH step whose padding has room for
// a chunk but carries no KEM ratchet ek block of epoch 1 fail, as Respond requires of
// an initial message to a bundle of version 0x02 (§14.7).
func (s *Session) decrypt(msg []byte, needEK bool) ([]byte, error) {
	off, err := s.frame(msg)
	if err != nil {
		return nil, err
	}
	enc := msg[off : off+encHeaderSize]
	bodyOff := off + encHeaderSize

	// The current receiving chain first: the common case costs one header
	// trial.
	if s.hasHKr {
		if h, ok := s.openHeader(&s.hkr, enc); ok {
			return s.decryptCurrent(msg, bodyOff, &h)
		}
	}
	if h, ok := s.openHeader(&s.nhkr, enc); ok {
		return s.decryptStep(msg, bodyOff, &h, needEK)
	}
	// Older chains that still have skipped keys. Entries of one chain are
	// contiguous (§7.2), so each header key is tried once.
	for i := range s.skipped {
		hk := &s.skipped[i].hk
		if i > 0 && crypto.Equal(hk[:], s.skipped[i-1].hk[:]) {
			continue
		}
		if s.hasHKr && crypto.Equal(hk[:], s.hkr[:]) {
			continue
		}
		if h, ok := s.openHeader(hk, enc); ok {
			j := s.findSkipped(hk, h.n)
			if j < 0 {
				return nil, s.pastKeys(hk, h.n)
			}
			return s.decryptSkipped(j, msg, bodyOff)
		}
	}
	// Retired chains, only to recognise a replay.
	for i := range s.retired {
		if h, ok := s.openHeader(&s.retired[i].hk, enc); ok {
			if h.n < s.retired[i].end {
				return nil, ErrDuplicate
			}
			return nil, authErr("message past the end of its chain")
		}
	}
	return nil, ErrAuth
}

// pastKeys classifies a header that opened under the key hk of a closed
// chain with skipped keys but matched none of them (§8): a duplicate if N
// is below the chain's end, an authentication failure past it. When the
// chain is no longer among the retired ones its end is unknown, and the
// message is reported as a duplicate.
func (s *Session) pastKeys(hk *crypto.SymKey, n uint32) error {
	for i := range s.retired {
		if crypto.Equal(s.retired[i].hk[:], hk[:]) {
			if n < s.retired[i].end {
				return ErrDuplicate
			}
			return authErr("message past the end of its chain")
		}
	}
	return ErrDuplicate
}

// decryptCurrent handles a header that opened under HKr.
func (s *Session) decryptCurrent(msg []byte, bodyOff int, h *header) ([]byte, error) {
	if h.dh != s.dhr {
		return nil, authErr("ratchet key does not match its chain")
	}
	if h.n == math.MaxUint32 {
		// Encrypt never sends it (§4.5); accepting it would wrap Nr to 0.
		return nil, authErr("message number out of range")
	}
	if h.n < s.nr {
		j := s.findSkipped(&s.hkr, h.n)
		if j < 0 {
			return nil, ErrDuplicate
		}
		return s.decryptSkipped(j, msg, bodyOff)
	}
	if h.n-s.nr > MaxSkip {
		return nil, ErrTooFarAhead
	}
	// The clock dates new skipped keys and expires old ones; the common
	// in-order message with none stored does not read it.
	var now int64
	if h.n > s.nr || len(s.skipped) > 0 {
		now = s.cfg.now()
	}
	ck := &s.tmpCK // a copy of CKr, committed only on success
	*ck = s.ckr
	defer ck.Wipe()
	newSkipped := skipKeys(ck, s.nr, h.n, &s.hkr, now)
	mk := chainStep(ck)
	defer mk.Wipe()
	pt, b, has, err := s.openBody(&mk, msg, bodyOff)
	if err != nil {
		wipeSkipped(newSkipped)
		return nil, err
	}
	pq, pqU, err := s.pqReceived(&b, has, false)
	if err != nil {
		wipeSkipped(newSkipped)
		return nil, err
	}
	// Commit.
	s.applyPQ(pqU, pq, &b)
	s.ckr = *ck
	s.nr = h.n + 1
	s.addSkipped(newSkipped)
	s.received(now)
	return pt, nil
}

// decryptSkipped opens msg with the stored key j and deletes it.
func (s *Session) decryptSkipped(j int, msg []byte, bodyOff int) ([]byte, error) {
	pt, b, has, err := s.openBody(&s.skipped[j].mk, msg, bodyOff)
	if err != nil {
		return nil, err
	}
	pq, pqU, err := s.pqReceived(&b, has, false)
	if err != nil {
		return nil, err
	}
	s.applyPQ(pqU, pq, &b)
	s.removeSkipped(j)
	s.received(s.cfg.now())
	return pt, nil
}

// decryptStep handles a header that opened under NHKr: the peer has a new
// ratchet key, so this is a DH ratchet step (Signal's DHRatchetHE). With
// the KEM ratchet on it also mixes and confirms epoch secrets (§14.5).
func (s *Session) decryptStep(msg []byte, bodyOff int, h *header, needEK bool) ([]byte, error) {
	now := s.cfg.now()
	var tail []skippedKey
	if s.hasCKr {
		if h.pn < s.nr {
			return nil, authErr("previous chain length went backwards")
		}
		if h.pn-s.nr > MaxSkip {
			return nil, ErrTooFarAhead
		}
		ck := &s.tmpCK
		*ck = s.ckr
		tail = skipKeys(ck, s.nr, h.pn, &s.hkr, now)
		ck.Wipe()
	}
	if h.n > MaxSkip { // also keeps Nr = N + 1 below 2^32 (§4.5)
		wipeSkipped(tail)
		return nil, ErrTooFarAhead
	}
	dh, err := crypto.DH(s.dhs, h.dh)
	if err != nil {
		wipeSkipped(tail)
		return nil, authErr("bad ratchet key")
	}
	var (
		rk1, ckr, nhkr crypto.SymKey
		head           []skippedKey
		pt             []byte
		b              pqBlock
		has, confirmed bool
	)
	// open tries one candidate receiving chain: the first KDF_RK output.
	open := func() error {
		head = skipKeys(&ckr, 0, h.n, &s.nhkr, now)
		mk := chainStep(&ckr)
		var err error
		pt, b, has, err = s.openBody(&mk, msg, bodyOff)
		mk.Wipe()
		if err != nil {
			wipeSkipped(head)
			head = nil
			rk1.Wipe()
			ckr.Wipe()
			nhkr.Wipe()
		}
		return err
	}
	if s.pq.phase == pqSendCT {
		// The trial (§14.5): a chain the peer mixed E into confirms the
		// epoch; otherwise the peer has not decapsulated yet.
		rk1, ckr, nhkr = kdfRootPQ(&s.rk, &dh, &s.pq.e)
		confirmed = open() == nil
	}
	if !confirmed {
		rk1, ckr, nhkr = kdfRoot(&s.rk, &dh)
		err = open()
	}
	dh.Wipe()
	fail := func(err error) ([]byte, error) {
		wipeSkipped(tail)
		wipeSkipped(head)
		rk1.Wipe()
		ckr.Wipe()
		nhkr.Wipe()
		return nil, err
	}
	if err != nil {
		return fail(err)
	}
	// A joiner's initial message carries ek chunks of epoch 1 whenever its
	// padding has room for one (§14.7): chunks of any other epoch would be
	// ignored, and no epoch could ever complete.
	if needEK && (!has || b.kind != pqKindEK || b.epoch != 1) && pqRoom(len(msg)-bodyOff-crypto.Overhead-len(pt)-1) >= 1 {
		return fail(authErr("initial message without a KEM ratchet key"))
	}
	// The sending half of the step, before anything is committed.
	dhs, err := crypto.GenerateDH(s.cfg.ratchetRand())
	if err != nil {
		return fail(err)
	}
	dh2, err := crypto.DH(dhs, h.dh)
	if err != nil { // cannot happen: h.dh passed the first DH
		return fail(authErr("bad ratchet key"))
	}
	defer dh2.Wipe()
	pq := &pqState{} // on the heap: see pqReceived
	pqChanged := confirmed || has || s.pq.phase != pqOff
	if pqChanged {
		*pq = s.pq.clone()
		if confirmed {
			err = pq.confirm(s.cfg.rand()) // a fresh payload: no growth
		}
		if err == nil {
			err = pq.incoming(&b, has, !confirmed, s.initiator, s.cfg.rand())
		}
		if err != nil {
			pq.wipe()
			return fail(err)
		}
	}
	var rk2, cks, nhks crypto.SymKey
	if pq.phase == pqMixPending {
		// The sending chain this step creates is the first to carry E.
		// Entering the next RecvEK draws after the DH draw above.
		e, err := pq.mix(s.cfg.rand())
		if err != nil {
			pq.wipe()
			return fail(err)
		}
		rk2, cks, nhks = kdfRootPQ(&rk1, &dh2, &e)
		e.Wipe()
	} else {
		rk2, cks, nhks = kdfRoot(&rk1, &dh2)
	}
	rk1.Wipe()

	// Commit.
	if pqChanged {
		s.commitPQ(pq)
	}
	if s.hasHKr {
		s.retire(s.hkr, h.pn)
	}
	s.addSkipped(tail)
	s.pn, s.ns = s.ns, 0
	s.hks, s.hasHKs = s.nhks, true
	s.hkr, s.hasHKr = s.nhkr, true
	s.nhkr = nhkr
	s.dhr, s.hasDHr = h.dh, true
	s.ckr, s.hasCKr = ckr, true
	s.nr = h.n + 1
	s.addSkipped(head)
	s.dhs, s.dhsPub = dhs, dhs.Public()
	s.rk = rk2
	s.cks, s.hasCKs = cks, true
	s.nhks = nhks
	s.received(now)
	return pt, nil
}

// Wipe zeroes the session's secrets, best effort (see crypto's package
// doc). The session is unusable afterwards.
func (s *Session) Wipe() {
	for _, k := range []*crypto.SymKey{&s.rk, &s.cks, &s.ckr, &s.hks, &s.nhks, &s.hkr, &s.nhkr} {
		k.Wipe()
	}
	s.tmpCK.Wipe()
	s.pq.wipe()
	s.pq = pqState{}
	wipeSkipped(s.skipped)
	for i := range s.skipped {
		s.skipped[i].hk.Wipe()
	}
	for i := range s.retired {
		s.retired[i].hk.Wipe()
	}
	s.skipped, s.retired, s.prefix = nil, nil, nil
	s.dhs = crypto.DHPrivate{}
	s.hasCKs, s.hasCKr, s.hasHKs, s.hasHKr = false, false, false, false
}

// received finishes a successful decrypt: the joiner stops sending its
// initial prefix once it has heard from the inviter (§5.3), and expired
// skipped keys go (§7.2).
func (s *Session) received(now int64) {
	s.prefix = nil
	if len(s.skipped) > 0 {
		s.expireSkipped(now)
	}
}
