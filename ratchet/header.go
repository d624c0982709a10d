package ratchet

import (
	"encoding/binary"

	"veil/crypto"
)

// header is the plaintext message header (spec/session.md §5.2):
// ratchet public key || PN || N, numbers big-endian uint32.
type header struct {
	dh crypto.DHPublic
	pn uint32
	n  uint32
}

func (h *header) marshal(b *[headerSize]byte) {
	copy(b[:crypto.KeySize], h.dh[:])
	binary.BigEndian.PutUint32(b[32:36], h.pn)
	binary.BigEndian.PutUint32(b[36:40], h.n)
}

func parseHeader(b []byte) (header, bool) {
	var h header
	if len(b) != headerSize {
		return h, false
	}
	copy(h.dh[:], b[:crypto.KeySize])
	h.pn = binary.BigEndian.Uint32(b[32:36])
	h.n = binary.BigEndian.Uint32(b[36:40])
	return h, true
}

// openHeader decrypts an encrypted header under hk, into the session's
// scratch buffer.
func (s *Session) openHeader(hk *crypto.SymKey, enc []byte) (header, bool) {
	pt, err := crypto.OpenX(s.tmpHdr[:0], hk, enc, nil)
	var h header
	ok := false
	if err == nil {
		h, ok = parseHeader(pt)
	}
	clear(s.tmpHdr[:])
	return h, ok
}
