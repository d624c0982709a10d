package ratchet

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"

	"veil/crypto"
)

// Safety-code shape: spec/session.md §9.
const (
	safetyGroups      = 12
	safetyGroupDigits = 5
)

// SafetyCode returns the session's safety code: 60 decimal digits in 12
// groups of 5, separated by spaces, the same on both sides. Two people who
// read the same code out of band know that nobody sits between them
// (spec/session.md §9).
func (s *Session) SafetyCode() string { return SafetyCode(s.local, s.remote) }

// SafetyCode computes the safety code of two identity keys; the order of
// the arguments does not matter.
func SafetyCode(a, b IdentityPublic) string {
	x, y := a.Bytes(), b.Bytes()
	if bytes.Compare(x, y) > 0 {
		x, y = y, x
	}
	var out [safetyGroups * 5]byte
	crypto.HKDF(out[:], append(x, y...), nil, labelSafetyCode)
	var sb strings.Builder
	for i := range safetyGroups {
		var w [8]byte
		copy(w[3:], out[5*i:5*i+5])
		v := binary.BigEndian.Uint64(w[:]) % 100000
		if i > 0 {
			sb.WriteByte(' ')
		}
		d := strconv.FormatUint(v, 10)
		sb.WriteString(strings.Repeat("0", safetyGroupDigits-len(d)))
		sb.WriteString(d)
	}
	return sb.String()
}
