package format

import (
	"encoding/binary"
	"strconv"
	"strings"

	"veil/crypto"
	"veil/ratchet"
)

// The group verification code, spec/groups.md §15.
const (
	labelGroupVerify     = "veil/group/v2/verify"
	labelGroupVerifyCode = "veil/group/v2/verify-code"
	verifyCodeGroups     = 12 // groups of verifyCodeDigits decimal digits
	verifyCodeDigits     = 5
)

// GroupVerifyCode returns the group verification code of an epoch: 60
// decimal digits in 12 groups of 5, separated by spaces, computed from the
// group ID, the epoch's confirmation value conf and every member's keys
// S, P and Q in roster order. Every member of the epoch gets the same
// code; members who compare it out of band know they hold the same
// roster and history (spec/groups.md §15).
func GroupVerifyCode(groupID [ratchet.GroupIDSize]byte, conf [crypto.HashSize]byte, r *Roster) string {
	per := 2*crypto.KeySize + crypto.KEM768PublicSize
	in := make([]byte, 0, len(labelGroupVerify)+len(groupID)+len(conf)+2+per*len(r.Members))
	in = append(in, labelGroupVerify...)
	in = append(in, groupID[:]...)
	in = append(in, conf[:]...)
	in = binary.BigEndian.AppendUint16(in, uint16(len(r.Members)))
	for i := range r.Members {
		m := &r.Members[i]
		q := m.Kem.Raw()
		in = append(in, m.Sign[:]...)
		in = append(in, m.Seal[:]...)
		in = append(in, q[:]...)
	}
	var out [verifyCodeGroups * 5]byte
	crypto.HKDF(out[:], in, nil, labelGroupVerifyCode)
	var sb strings.Builder
	for i := range verifyCodeGroups {
		var w [8]byte
		copy(w[3:], out[5*i:5*i+5])
		d := strconv.FormatUint(binary.BigEndian.Uint64(w[:])%100000, 10)
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(strings.Repeat("0", verifyCodeDigits-len(d)))
		sb.WriteString(d)
	}
	return sb.String()
}
