package format

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"veil/crypto"
)

var updateVerify = flag.Bool("update-verify", false, "rewrite spec/vectors/groups/verify.json")

// verifyVector is spec/vectors/groups/verify.json: public inputs and the
// code every member shows.
type verifyVector struct {
	Comment string `json:"comment"`
	GroupID string `json:"group_id"`
	Conf    string `json:"conf"`
	Members []struct {
		S string `json:"s"`
		P string `json:"p"`
		Q string `json:"q"`
	} `json:"members"`
	Code string `json:"code"`
}

// verifyVectorRoster builds the vector's roster from fixed seeds: member
// i's signing seed is 32 bytes of 0x10+i, its X25519 key 32 bytes of
// 0x20+i and its ML-KEM-768 seed 64 bytes of 0x30+i.
func verifyVectorRoster(t *testing.T) ([32]byte, [32]byte, *Roster) {
	var gid, conf [32]byte
	for i := range gid {
		gid[i], conf[i] = byte(i), byte(0xff-i)
	}
	r := &Roster{GroupID: gid, Epoch: 4}
	for i := range 3 {
		s, err := crypto.ParseSignPrivate(bytes.Repeat([]byte{byte(0x10 + i)}, 32))
		if err != nil {
			t.Fatal(err)
		}
		p, err := crypto.ParseDHPrivate(bytes.Repeat([]byte{byte(0x20 + i)}, 32))
		if err != nil {
			t.Fatal(err)
		}
		q, err := crypto.ParseKEM768Private(bytes.Repeat([]byte{byte(0x30 + i)}, 64))
		if err != nil {
			t.Fatal(err)
		}
		r.Members = append(r.Members, Member{Sign: s.Public(), Seal: p.Public(), Kem: q.Public(), Role: RoleMember, Nick: "m"})
	}
	return gid, conf, r
}

// TestGroupVerifyVector checks spec/vectors/groups/verify.json byte for
// byte against the code computed from its seeds (rewrite it with
// -update-verify after a deliberate change), and computes the code again
// from the file's own public values.
func TestGroupVerifyVector(t *testing.T) {
	gid, conf, r := verifyVectorRoster(t)
	code := GroupVerifyCode(gid, conf, r)
	if !regexp.MustCompile(`^[0-9]{5}( [0-9]{5}){11}$`).MatchString(code) {
		t.Fatalf("code %q is not 12 groups of 5 digits", code)
	}
	v := verifyVector{
		Comment: "spec/groups.md §15: the group verification code of a 3-member roster; member i's keys come from seeds of 32 bytes of 0x10+i (Ed25519), 32 bytes of 0x20+i (X25519) and 64 bytes of 0x30+i (ML-KEM-768)",
		GroupID: hex.EncodeToString(gid[:]),
		Conf:    hex.EncodeToString(conf[:]),
		Code:    code,
	}
	for _, m := range r.Members {
		q := m.Kem.Raw()
		v.Members = append(v.Members, struct {
			S string `json:"s"`
			P string `json:"p"`
			Q string `json:"q"`
		}{hex.EncodeToString(m.Sign[:]), hex.EncodeToString(m.Seal[:]), hex.EncodeToString(q[:])})
	}
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("..", "..", "..", "spec", "vectors", "groups", "verify.json")
	if *updateVerify {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the code computed now", path)
	}

	// From the file's public values alone.
	var fv verifyVector
	if err := json.Unmarshal(want, &fv); err != nil {
		t.Fatal(err)
	}
	var fgid, fconf [32]byte
	hex.Decode(fgid[:], []byte(fv.GroupID))
	hex.Decode(fconf[:], []byte(fv.Conf))
	fr := &Roster{}
	for _, m := range fv.Members {
		s, _ := hex.DecodeString(m.S)
		p, _ := hex.DecodeString(m.P)
		qb, _ := hex.DecodeString(m.Q)
		q, err := crypto.ParseKEM768Public(qb)
		if err != nil {
			t.Fatal(err)
		}
		var mm Member
		copy(mm.Sign[:], s)
		copy(mm.Seal[:], p)
		mm.Kem = q
		fr.Members = append(fr.Members, mm)
	}
	if c := GroupVerifyCode(fgid, fconf, fr); c != fv.Code {
		t.Fatalf("code from the file's values %q, file says %q", c, fv.Code)
	}
}

// TestGroupVerifyCodeCovers: every input changes the code: the group ID,
// the confirmation value, any key of any member, and the members' order.
func TestGroupVerifyCodeCovers(t *testing.T) {
	gid, conf, r := verifyVectorRoster(t)
	base := GroupVerifyCode(gid, conf, r)
	check := func(what string, code string) {
		t.Helper()
		if code == base {
			t.Errorf("changing %s keeps the code", what)
		}
	}
	g2 := gid
	g2[31] ^= 1
	check("the group ID", GroupVerifyCode(g2, conf, r))
	c2 := conf
	c2[0] ^= 1
	check("the confirmation value", GroupVerifyCode(gid, c2, r))
	for i := range r.Members {
		r2 := r.Clone()
		r2.Members[i].Sign[5] ^= 1
		check("a signing key", GroupVerifyCode(gid, conf, r2))
		r2 = r.Clone()
		r2.Members[i].Seal[5] ^= 1
		check("a sealing key", GroupVerifyCode(gid, conf, r2))
		r2 = r.Clone()
		r2.Members[i].Kem = r.Members[(i+1)%len(r.Members)].Kem
		check("an ML-KEM key", GroupVerifyCode(gid, conf, r2))
	}
	r2 := r.Clone()
	r2.Members[0], r2.Members[1] = r2.Members[1], r2.Members[0]
	check("the order", GroupVerifyCode(gid, conf, r2))
	r2 = r.Clone()
	r2.Members[0].Nick, r2.Members[0].Role = "other", RoleAdmin
	if GroupVerifyCode(gid, conf, r2) != base {
		t.Error("the code depends on nicknames or roles, which the confirmation value already covers")
	}
}
