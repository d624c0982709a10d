package wire

import (
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"veil/crypto"
)

// Forwarding (spec/relay.md §7.6): a client seals one command for a
// destination relay D under D's forward key and hands it to a forwarder
// F, which passes it to D without being able to read it. Everything here
// is pure: keys, signatures, sealing and the plaintext layout.

// ForwardPeriodOf returns the forward-key period (day number since the
// Unix epoch) that t falls in (§7.6.1).
func ForwardPeriodOf(t time.Time) uint32 {
	s := t.Unix()
	if s < 0 {
		return 0
	}
	return uint32(s / ForwardPeriod)
}

// ForwardNotAfter returns the expiry of the forward key of period p: the
// start of period p+2, Unix seconds (§7.6.1).
func ForwardNotAfter(p uint32) uint64 { return (uint64(p) + 2) * ForwardPeriod }

// ForwardPeriodFor returns the period of the forward key that expires at
// notAfter, and false when notAfter is not the expiry of any period.
func ForwardPeriodFor(notAfter uint64) (uint32, bool) {
	if notAfter%ForwardPeriod != 0 || notAfter/ForwardPeriod < 2 || notAfter/ForwardPeriod-2 > 1<<32-1 {
		return 0, false
	}
	return uint32(notAfter/ForwardPeriod - 2), true
}

// DeriveForwardKey returns the forward key of period p of the relay with
// identity key id (§7.6.1): HKDF-SHA256 of the identity seed, salt the
// period as 4 big-endian bytes. Every node sharing the identity derives
// the same key. The result must be kept secret.
func DeriveForwardKey(id crypto.SignPrivate, p uint32) (crypto.DHPrivate, error) {
	seed := id.Seed()
	defer crypto.Wipe(seed)
	var salt [4]byte
	binary.BigEndian.PutUint32(salt[:], p)
	k := crypto.HKDFKey(seed, salt[:], forwardKeyLabel)
	defer k.Wipe()
	return crypto.ParseDHPrivate(k[:])
}

// forwardKeyMessage is what a relay signs for a forward key (§7.6.1).
func forwardKeyMessage(fwd crypto.DHPublic, notAfter uint64) []byte {
	m := make([]byte, 0, len(forwardKeyLabel)+32+8)
	m = append(m, forwardKeyLabel...)
	m = append(m, fwd[:]...)
	return binary.BigEndian.AppendUint64(m, notAfter)
}

// SignForwardKey returns id's signature of the forward key fwd expiring
// at notAfter (§7.6.1).
func SignForwardKey(id crypto.SignPrivate, fwd crypto.DHPublic, notAfter uint64) [SigSize]byte {
	return [SigSize]byte(id.Sign(forwardKeyMessage(fwd, notAfter)))
}

// FKeysFrame returns the FKEYS reply for route, carrying id's forward key
// of period p and its signature (§7.6.2).
func FKeysFrame(id crypto.SignPrivate, p uint32, route [RouteIDSize]byte) (Frame, error) {
	k, err := DeriveForwardKey(id, p)
	if err != nil {
		return Frame{}, err
	}
	na := ForwardNotAfter(p)
	fwd := k.Public()
	return Frame{Type: TypeFKEYS, Route: route, Key: id.Public(), ForwardKey: fwd, NotAfter: na, Sig: SignForwardKey(id, fwd, na)}, nil
}

// ErrForwardKey is returned by CheckFKeys for an FKEYS reply that is not
// signed by the expected relay.
var ErrForwardKey = errors.New("wire: forward key not signed by the destination relay")

// CheckFKeys checks an FKEYS reply (§7.6.2): its identity key must have
// fingerprint dest and its signature of the forward key must verify.
func CheckFKeys(f *Frame, dest Fingerprint) error {
	if f.Type != TypeFKEYS {
		return fmt.Errorf("wire: %v is not FKEYS", f.Type)
	}
	if fp := FingerprintOf(f.Key); !crypto.Equal(dest[:], fp[:]) {
		return ErrForwardKey
	}
	if !crypto.Verify(f.Key, forwardKeyMessage(f.ForwardKey, f.NotAfter), f.Sig[:]) {
		return ErrForwardKey
	}
	return nil
}

// ForwardKeys are the keys of one forwarded item and its reply (§7.6.3).
// They must be kept secret; Wipe them when done.
type ForwardKeys struct {
	item, reply crypto.SymKey
	ad          []byte
}

// String redacts the keys.
func (ForwardKeys) String() string { return "ForwardKeys(redacted)" }

// GoString redacts the keys for %#v.
func (k ForwardKeys) GoString() string { return k.String() }

// Wipe zeroes the keys (best effort: Go cannot guarantee copies are gone).
func (k *ForwardKeys) Wipe() {
	k.item.Wipe()
	k.reply.Wipe()
}

func forwardKeys(ss *crypto.SymKey, dest Fingerprint, eph, fwd crypto.DHPublic) ForwardKeys {
	var okm [64]byte
	crypto.HKDF(okm[:], ss[:], fwd[:], forwardKeysLabel)
	var k ForwardKeys
	copy(k.item[:], okm[:32])
	copy(k.reply[:], okm[32:])
	clear(okm[:])
	k.ad = make([]byte, 0, len(forwardADLabel)+32+32+32)
	k.ad = append(k.ad, forwardADLabel...)
	k.ad = append(k.ad, dest[:]...)
	k.ad = append(k.ad, eph[:]...)
	k.ad = append(k.ad, fwd[:]...)
	return k
}

// SenderForwardKeys draws an ephemeral key from r (crypto/rand when nil;
// exactly 32 bytes) and returns its public half and the keys for a
// destination with fingerprint dest and forward key fwd (§7.6.3).
func SenderForwardKeys(r io.Reader, dest Fingerprint, fwd crypto.DHPublic) (crypto.DHPublic, ForwardKeys, error) {
	eph, err := crypto.GenerateDH(r)
	if err != nil {
		return crypto.DHPublic{}, ForwardKeys{}, err
	}
	ss, err := crypto.DH(eph, fwd)
	if err != nil {
		return crypto.DHPublic{}, ForwardKeys{}, fmt.Errorf("wire: forward key: %w", err)
	}
	defer ss.Wipe()
	pub := eph.Public()
	return pub, forwardKeys(&ss, dest, pub, fwd), nil
}

// DestForwardKeys returns the destination's keys for an item sealed to
// its forward key fwd by the ephemeral key eph (§7.6.3); dest is its own
// fingerprint. It fails for a low-order eph.
func DestForwardKeys(fwd crypto.DHPrivate, dest Fingerprint, eph crypto.DHPublic) (ForwardKeys, error) {
	ss, err := crypto.DH(fwd, eph)
	if err != nil {
		return ForwardKeys{}, fmt.Errorf("wire: forward ephemeral key: %w", err)
	}
	defer ss.Wipe()
	return forwardKeys(&ss, dest, eph, fwd.Public()), nil
}

// zeroNonce seals items: an item key seals exactly one message, the item
// of the ephemeral key it was derived from (§7.6.3).
var zeroNonce [crypto.NonceSize]byte

// SealItem seals a forwarded item's plaintext (AppendForwardInner),
// appending to dst. Call it once per ForwardKeys.
func (k *ForwardKeys) SealItem(dst, inner []byte) []byte {
	return crypto.Seal(dst, &k.item, &zeroNonce, inner, k.ad)
}

// OpenItem opens what SealItem sealed, appending to dst; any failure is
// crypto.ErrAuth.
func (k *ForwardKeys) OpenItem(dst, sealed []byte) ([]byte, error) {
	return crypto.Open(dst, &k.item, &zeroNonce, sealed, k.ad)
}

// SealReply seals the reply item to a forwarded item under a fresh
// random nonce drawn from r (crypto/rand when nil) and appends
// nonce (12) || ciphertext to dst (§7.6.3). The reply key may seal more
// than one reply (a replayed item reaching another node of a cluster),
// so the nonce is never fixed.
func (k *ForwardKeys) SealReply(r io.Reader, dst, reply []byte) ([]byte, error) {
	var nonce [crypto.NonceSize]byte
	if err := crypto.RandomBytes(r, nonce[:]); err != nil {
		return nil, fmt.Errorf("wire: reply nonce: %w", err)
	}
	dst = append(dst, nonce[:]...)
	return crypto.Seal(dst, &k.reply, &nonce, reply, k.ad), nil
}

// OpenReply opens what SealReply sealed, appending to dst; any failure
// is crypto.ErrAuth.
func (k *ForwardKeys) OpenReply(dst, sealed []byte) ([]byte, error) {
	if len(sealed) < crypto.NonceSize {
		return nil, crypto.ErrAuth
	}
	nonce := [crypto.NonceSize]byte(sealed[:crypto.NonceSize])
	return crypto.Open(dst, &k.reply, &nonce, sealed[crypto.NonceSize:], k.ad)
}

// ForwardableType reports whether a forwarded item may carry t (§7.6.3):
// SEND, SKEY, TAKE, PUT, LAPPEND and the chunk commands CPUT, CGET,
// CDEL and CROOM (§7.7); the destination answers anything else with a
// sealed ERR UNKNOWN.
func ForwardableType(t Type) bool {
	switch t {
	case TypeSEND, TypeSKEY, TypeTAKE, TypePUT, TypeLAPPEND, TypeCPUT, TypeCGET, TypeCDEL, TypeCROOM:
		return true
	}
	return false
}

// forwardInnerSize is the size of the plaintext of a forwarded item of
// n bytes (§7.6.3): time, length and item, zero-padded to
// ForwardPaddedSize. Its time does not depend on n.
func forwardInnerSize(n int) int {
	m := ForwardTimeSize + ForwardLenSize + n
	return subtle.ConstantTimeSelect(subtle.ConstantTimeLessOrEq(m, ForwardPaddedSize), ForwardPaddedSize, m)
}

// AppendForwardInner appends a forwarded item's plaintext (§7.6.3): the
// time t (Unix seconds, 8 bytes), the item's length (2 bytes), the item
// f, whose CID must be 0, and zero bytes up to ForwardPaddedSize. An item
// that is longer (a SEND of a bucket above the smallest) is not padded.
func AppendForwardInner(dst []byte, t uint64, f *Frame) ([]byte, error) {
	if f.CID != 0 {
		return dst, errors.New("wire: a forwarded item has correlation ID 0")
	}
	item, err := AppendFrame(nil, f)
	if err != nil {
		return dst, err
	}
	if len(item) > MaxItemSize {
		return dst, fmt.Errorf("wire: a forwarded item of %d bytes is over %d", len(item), MaxItemSize)
	}
	size := forwardInnerSize(len(item))
	dst = binary.BigEndian.AppendUint64(dst, t)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(item)))
	dst = append(dst, item...)
	crypto.Wipe(item)
	return append(dst, make([]byte, size-ForwardTimeSize-ForwardLenSize-len(item))...), nil
}

// ParseForwardInner decodes a forwarded item's plaintext (§7.6.3). It is
// malformed when the length overruns the plaintext, the plaintext is not
// the padded size of the item, a padding byte is not zero, the item has a
// CID other than 0, or the item's own errors from ParseFrame
// (IsUnknownType for an unknown type). The length and padding are checked
// with one pass over every byte after the length and no branch on their
// values, before the item is parsed. Slices in f alias b.
func ParseForwardInner(b []byte) (t uint64, f Frame, err error) {
	const head = ForwardTimeSize + ForwardLenSize
	if len(b) < head {
		return 0, Frame{}, malformed("forwarded item of %d bytes has no time and length", len(b))
	}
	if len(b) > head+MaxItemSize {
		return 0, Frame{}, malformed("forwarded item of %d bytes", len(b))
	}
	rest := b[head:]
	n := int(binary.BigEndian.Uint16(b[ForwardTimeSize:]))
	ok := subtle.ConstantTimeLessOrEq(n, len(rest)) & subtle.ConstantTimeEq(int32(len(b)), int32(forwardInnerSize(n)))
	var pad byte
	for i, x := range rest {
		pad |= x & -byte(subtle.ConstantTimeLessOrEq(n, i)) // i is past the item
	}
	if ok&subtle.ConstantTimeByteEq(pad, 0) != 1 {
		return 0, Frame{}, malformed("forwarded item's length or padding is wrong")
	}
	f, err = ParseFrame(rest[:n])
	if err != nil {
		return 0, Frame{}, err
	}
	if f.CID != 0 {
		return 0, Frame{}, malformed("forwarded item has correlation ID %d", f.CID)
	}
	return binary.BigEndian.Uint64(b), f, nil
}

// ForwardTimeOK reports whether a forwarded item's time t is within
// ForwardSkew of now (§7.6.4).
func ForwardTimeOK(t uint64, now time.Time) bool {
	n := now.Unix()
	if n < 0 || t > 1<<63-1 {
		return false
	}
	d := int64(t) - n
	return d >= -ForwardSkew && d <= ForwardSkew
}
