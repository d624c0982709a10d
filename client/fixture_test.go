package client

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
)

type testMember struct {
	sign crypto.SignPrivate
	seal crypto.DHPrivate
	kem  crypto.KEM768Private
}

// testRoster returns a roster of n members (the first an admin) and their
// private keys, drawn from a fixed seed.
func testRoster(t testing.TB, n int) (*format.Roster, []testMember) {
	t.Helper()
	r := rand.NewChaCha8([32]byte{'r', 'o', 's', 't', 'e', 'r'})
	ro := &format.Roster{Epoch: 1, Settings: format.Settings{Name: "river", Timer: 3600}}
	crypto.RandomBytes(r, ro.GroupID[:])
	var keys []testMember
	for i := range n {
		s, _ := crypto.GenerateSign(r)
		d, _ := crypto.GenerateDH(r)
		q, _ := crypto.GenerateKEM768(r)
		keys = append(keys, testMember{s, d, q})
		role := format.RoleMember
		if i == 0 {
			role = format.RoleAdmin
		}
		ro.Members = append(ro.Members, format.Member{Sign: s.Public(), Seal: d.Public(), Kem: q.Public(), Role: role, Nick: fmt.Sprint("nick", i)})
	}
	return ro, keys
}

// bigRoster is a roster of n members with the longest nicknames.
func bigRoster(t testing.TB, n int) *format.Roster {
	t.Helper()
	r := &format.Roster{Epoch: 1, Settings: format.Settings{Name: strings.Repeat("g", format.MaxGroupName)}}
	for i := range n {
		s, d, q, err := newGroupKeys(ratchet.Config{})
		if err != nil {
			t.Fatal(err)
		}
		nick := fmt.Sprintf("%0*d", format.MaxGroupNick, i)
		r.Members = append(r.Members, format.Member{Sign: s.Public(), Seal: d.Public(), Kem: q.Public(), Role: format.RoleMember, Nick: nick})
	}
	r.Members[0].Role = format.RoleAdmin
	return r
}
