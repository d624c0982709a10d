package format

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"veil/crypto"
)

// TestGroupEncodingVectors checks the roster, roster entries and every
// commit change of spec/vectors/groups/encodings.json (spec/groups.md §10)
// byte for byte against this package's encoder, and that the decoder and
// verifier accept them.
func TestGroupEncodingVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "spec", "vectors", "groups", "encodings.json"))
	if err != nil {
		t.Fatal(err)
	}
	type keySet struct {
		Nick     string `json:"nick"`
		SignSeed string `json:"sign_seed"`
		DHPriv   string `json:"dh_private"`
		KEMSeed  string `json:"kem_seed"`
		Entry    string `json:"entry"`
	}
	var v struct {
		GroupID string   `json:"group_id"`
		Members []keySet `json:"members"`
		Joiner  keySet   `json:"joiner"`
		Update  keySet   `json:"update"`
		Roster  struct {
			Epoch    uint64 `json:"epoch"`
			Name     string `json:"name"`
			Timer    uint32 `json:"timer"`
			Deadline uint64 `json:"deadline"`
			Record   string `json:"record"`
			Hash     string `json:"hash"`
		} `json:"roster"`
		Commits []struct {
			Name      string   `json:"name"`
			Change    byte     `json:"change"`
			Signer    int      `json:"signer"`
			Operand   string   `json:"operand"`
			NewRoster string   `json:"new_roster"`
			NewHash   string   `json:"new_hash"`
			Sealed    string   `json:"sealed"`
			SealedID  string   `json:"sealed_log_id"`
			Commit    string   `json:"commit"`
			Hash      string   `json:"commit_hash"`
			Conf      string   `json:"conf"`
			Parts     []string `json:"parts"`
			LogID     string   `json:"log_id"`
			Secret    string   `json:"secret"`
			Next      string   `json:"next"`
		} `json:"commits"`
		Conf     string `json:"conf"`
		ZeroNext string `json:"zero_next"`
		Welcome  struct {
			ID      string   `json:"welcome_id"`
			Welcome string   `json:"welcome"`
			Parts   []string `json:"parts"`
		} `json:"welcome"`
		Invite struct {
			Secret   string `json:"secret"`
			Salt     string `json:"salt"`
			LogID    string `json:"log_id"`
			Token    string `json:"token"`
			Exchange string `json:"exchange_secret"`
			Deadline uint64 `json:"deadline"`
			Name     string `json:"name"`
			Blob     string `json:"blob"`
			Write    string `json:"write"`
			Read     string `json:"read"`
			K0       string `json:"k0"`
			Key      string `json:"key"`
		} `json:"invite"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	unhex := func(s string) []byte {
		t.Helper()
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	keys := func(k keySet, role byte) (Member, crypto.SignPrivate) {
		t.Helper()
		s, err1 := crypto.ParseSignPrivate(unhex(k.SignSeed))
		d, err2 := crypto.ParseDHPrivate(unhex(k.DHPriv))
		q, err3 := crypto.ParseKEM768Private(unhex(k.KEMSeed))
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatal("bad keys in the vectors")
		}
		m := Member{Sign: s.Public(), Seal: d.Public(), Kem: q.Public(), Role: role, Nick: k.Nick}
		e, err := m.AppendTo(nil)
		if err != nil || !bytes.Equal(e, unhex(k.Entry)) {
			t.Fatalf("%s's roster entry differs: %v", k.Nick, err)
		}
		if p, err := ParseMember(e); err != nil || p.Kem.Raw() != m.Kem.Raw() {
			t.Fatalf("%s's roster entry does not parse: %v", k.Nick, err)
		}
		return m, s
	}
	ro := &Roster{Epoch: v.Roster.Epoch, Settings: Settings{Name: v.Roster.Name, Timer: v.Roster.Timer, Deadline: v.Roster.Deadline}}
	copy(ro.GroupID[:], unhex(v.GroupID))
	var signers []crypto.SignPrivate
	for i, k := range v.Members {
		role := RoleMember
		if i == 0 {
			role = RoleAdmin
		}
		m, s := keys(k, role)
		ro.Members = append(ro.Members, m)
		signers = append(signers, s)
	}
	keys(v.Joiner, RoleMember)
	keys(v.Update, RoleMember)
	rec, err := ro.Marshal()
	if err != nil || !bytes.Equal(rec, unhex(v.Roster.Record)) {
		t.Fatalf("roster record differs: %v", err)
	}
	if h, _ := ro.hash(); hex.EncodeToString(h[:]) != v.Roster.Hash {
		t.Fatal("roster hash differs")
	}
	if p, err := ParseRoster(rec); err != nil || p.Members[2].Kem.Raw() != ro.Members[2].Kem.Raw() {
		t.Fatalf("roster record does not parse: %v", err)
	}
	seen := map[byte]bool{}
	for _, cv := range v.Commits {
		t.Run(cv.Name, func(t *testing.T) {
			seen[cv.Change] = true
			c, next, err := MakeCommit(ro, cv.Change, unhex(cv.Operand))
			if err != nil {
				t.Fatal(err)
			}
			nb, _ := next.Marshal()
			if !bytes.Equal(nb, unhex(cv.NewRoster)) || hex.EncodeToString(c.NewHash[:]) != cv.NewHash {
				t.Fatal("new roster differs")
			}
			c.Sealed = unhex(cv.Sealed)
			secret := crypto.SymKey(unhex(cv.Secret))
			c.CommitSecret(&secret, next)
			c.LogID = unhex(cv.SealedID)
			c.Sign(signers[cv.Signer], ctxOf(ro))
			enc := c.Marshal()
			if !bytes.Equal(enc, unhex(cv.Commit)) {
				t.Fatal("commit encoding differs")
			}
			if h := CommitHash(enc); hex.EncodeToString(h[:]) != cv.Hash {
				t.Fatal("commit hash differs")
			}
			p, err := ParseCommit(enc)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Verify(ro, ctxOf(ro))
			if err != nil {
				t.Fatal(err)
			}
			if gb, _ := got.Marshal(); !bytes.Equal(gb, nb) {
				t.Fatal("verified roster differs")
			}
			// The confirmation value it makes, and its parts (§6.3, §6.6).
			rh, _ := ro.Hash()
			conf1 := FirstConfirm(rh)
			if hex.EncodeToString(conf1[:]) != v.Conf {
				t.Fatal("epoch 1's confirmation value differs")
			}
			conf2 := Confirm(conf1, c.NewHash, CommitHash(enc))
			if hex.EncodeToString(conf2[:]) != cv.Conf {
				t.Fatal("the new confirmation value differs")
			}
			parts, err := SplitCommit(enc)
			if err != nil || len(parts) != len(cv.Parts) {
				t.Fatalf("%d parts, want %d: %v", len(parts), len(cv.Parts), err)
			}
			for i, part := range parts {
				part.Conf = ConfTag(conf1)
				pb, err := part.Marshal()
				if err != nil || !bytes.Equal(pb, unhex(cv.Parts[i])) {
					t.Fatalf("part %d differs: %v", i, err)
				}
			}
			// The NEXT a member moving to this epoch appends to epoch 1's
			// log (§6.6).
			nb1, err := (&GroupEnvelope{Conf: ConfTag(conf1), Type: GenvNext, Next: ConfTag(conf2)}).Marshal()
			if err != nil || !bytes.Equal(nb1, unhex(cv.Next)) {
				t.Fatalf("the NEXT envelope differs: %v", err)
			}
			if g, err := ParseGroupEnvelope(nb1); err != nil || g.Type != GenvNext || g.Next != ConfTag(conf2) {
				t.Fatalf("the NEXT envelope does not parse back: %v", err)
			}
			if cv.Name != "add" {
				return
			}
			w := &GroupWelcome{Roster: nb, Secret: crypto.SymKey(unhex(cv.Secret)), LogID: crypto.ID(unhex(cv.LogID)), Conf: conf2}
			wb := w.Marshal()
			if !bytes.Equal(wb, unhex(v.Welcome.Welcome)) {
				t.Fatal("welcome encoding differs")
			}
			wps, err := SplitWelcome([WelcomeIDSize]byte(unhex(v.Welcome.ID)), wb)
			if err != nil || len(wps) != len(v.Welcome.Parts) {
				t.Fatalf("%d welcome parts: %v", len(wps), err)
			}
			for i, wp := range wps {
				if !bytes.Equal(wp, unhex(v.Welcome.Parts[i])) {
					t.Fatalf("welcome part %d differs", i)
				}
			}
		})
	}
	for ch := ChangeAdd; ch <= ChangeUpdate; ch++ {
		if !seen[ch] {
			t.Errorf("no vector for change %d", ch)
		}
	}

	// A cut-off member's zero NEXT in epoch 1's log (§6.6).
	rh1, _ := ro.Hash()
	zb, err := (&GroupEnvelope{Conf: ConfTag(FirstConfirm(rh1)), Type: GenvNext}).Marshal()
	if err != nil || !bytes.Equal(zb, unhex(v.ZeroNext)) {
		t.Errorf("the zero NEXT envelope differs: %v", err)
	}

	// The group invite blob and the exchange log's keys (§9.1, §9.2).
	iv := v.Invite
	b := &GroupBlob{LogID: crypto.ID(unhex(iv.LogID)), Token: JoinToken(unhex(iv.Token)),
		Exchange: crypto.SymKey(unhex(iv.Exchange)), Deadline: iv.Deadline, Name: iv.Name}
	if !bytes.Equal(b.Marshal(), unhex(iv.Blob)) {
		t.Error("the invite blob differs")
	}
	if got, err := ParseGroupBlob(unhex(iv.Blob)); err != nil || *got != *b {
		t.Errorf("the invite blob parses as %v, %v", got, err)
	}
	gk := DeriveGroupInvite(unhex(iv.Secret), unhex(iv.Salt), b.LogID, b.Exchange[:])
	k0 := DeriveGroupInvite(unhex(iv.Secret), unhex(iv.Salt), b.LogID, nil)
	if !bytes.Equal(gk.Write[:], unhex(iv.Write)) || !bytes.Equal(gk.Read[:], unhex(iv.Read)) ||
		!bytes.Equal(k0.Key[:], unhex(iv.K0)) || !bytes.Equal(gk.Key[:], unhex(iv.Key)) {
		t.Error("the invite's keys differ")
	}
}
