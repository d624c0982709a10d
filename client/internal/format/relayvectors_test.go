package format

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"veil/crypto"
	"veil/ratchet"
)

// TestGroupRelayVectors rebuilds the version-3 encodings of
// spec/vectors/groups/relays.json (spec/groups.md §3.5, §10) byte for
// byte with the client's encoder: both epoch-1 rosters, each commit, the
// sealed logs opened in the new epoch, and the add's welcome and parts.
func TestGroupRelayVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "spec", "vectors", "groups", "relays.json"))
	if err != nil {
		t.Fatal(err)
	}
	type keySet struct {
		Nick     string `json:"nick"`
		SignSeed string `json:"sign_seed"`
		DHPriv   string `json:"dh_private"`
		KEMSeed  string `json:"kem_seed"`
	}
	type roster struct {
		Name   string   `json:"name"`
		Timer  uint32   `json:"timer"`
		Relays []string `json:"relays"`
		Record string   `json:"record"`
		Hash   string   `json:"hash"`
		Conf   string   `json:"conf"`
	}
	var v struct {
		GroupID string   `json:"group_id"`
		Members []keySet `json:"members"`
		Roster  roster   `json:"roster"`
		V2      roster   `json:"v2_roster"`
		Commits []struct {
			Name       string   `json:"name"`
			On         string   `json:"on"`
			Change     byte     `json:"change"`
			Operand    string   `json:"operand"`
			NewRoster  string   `json:"new_roster"`
			NewHash    string   `json:"new_hash"`
			Secret     string   `json:"secret"`
			Sealed     string   `json:"sealed"`
			LogIDs     []string `json:"log_ids"`
			SealedLogs string   `json:"sealed_logs"`
			Commit     string   `json:"commit"`
			Hash       string   `json:"commit_hash"`
			Conf       string   `json:"conf"`
		} `json:"commits"`
		Welcome struct {
			ID      string   `json:"welcome_id"`
			Welcome string   `json:"welcome"`
			Parts   []string `json:"parts"`
		} `json:"welcome"`
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
	var members []Member
	var signers []crypto.SignPrivate
	for i, k := range v.Members {
		s, err1 := crypto.ParseSignPrivate(unhex(k.SignSeed))
		d, err2 := crypto.ParseDHPrivate(unhex(k.DHPriv))
		q, err3 := crypto.ParseKEM768Private(unhex(k.KEMSeed))
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatal("bad keys in the vectors")
		}
		role := RoleMember
		if i == 0 {
			role = RoleAdmin
		}
		members = append(members, Member{Sign: s.Public(), Seal: d.Public(), Kem: q.Public(), Role: role, Nick: k.Nick})
		signers = append(signers, s)
	}
	rosters := map[string]*Roster{}
	for name, rv := range map[string]roster{"roster": v.Roster, "v2_roster": v.V2} {
		ro := &Roster{Epoch: 1, Settings: Settings{Name: rv.Name, Timer: rv.Timer, Relays: rv.Relays}, Members: members}
		copy(ro.GroupID[:], unhex(v.GroupID))
		rec, err := ro.Marshal()
		if err != nil || !bytes.Equal(rec, unhex(rv.Record)) {
			t.Fatalf("%s: record differs: %v", name, err)
		}
		if h, _ := ro.Hash(); hex.EncodeToString(h[:]) != rv.Hash {
			t.Fatalf("%s: hash differs", name)
		}
		if c := FirstConfirm([32]byte(unhex(rv.Hash))); hex.EncodeToString(c[:]) != rv.Conf {
			t.Fatalf("%s: confirmation value differs", name)
		}
		if p, err := ParseRoster(rec); err != nil || !settingsEqualTest(p.Settings, ro.Settings) {
			t.Fatalf("%s: does not parse back: %v", name, err)
		}
		rosters[name] = ro
	}
	if len(v.Commits) != 3 {
		t.Fatalf("%d commits", len(v.Commits))
	}
	for _, cv := range v.Commits {
		t.Run(cv.Name, func(t *testing.T) {
			ro := rosters[cv.On]
			c, next, err := MakeCommit(ro, cv.Change, unhex(cv.Operand))
			if err != nil {
				t.Fatal(err)
			}
			nb, _ := next.Marshal()
			if !bytes.Equal(nb, unhex(cv.NewRoster)) || hex.EncodeToString(c.NewHash[:]) != cv.NewHash || c.Version != 3 {
				t.Fatal("new roster differs")
			}
			c.Sealed = unhex(cv.Sealed)
			es := crypto.SymKey(unhex(cv.Secret))
			c.CommitSecret(&es, next)
			c.LogID = unhex(cv.SealedLogs)
			c.Sign(signers[0], ctxOf(ro))
			enc := c.Marshal()
			if !bytes.Equal(enc, unhex(cv.Commit)) {
				t.Fatal("commit encoding differs")
			}
			h := CommitHash(enc)
			if hex.EncodeToString(h[:]) != cv.Hash {
				t.Fatal("commit hash differs")
			}
			p, err := ParseCommit(enc)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Verify(ro, ctxOf(ro)); err != nil {
				t.Fatal(err)
			}
			secret := crypto.SymKey(unhex(cv.Secret))
			pubs := make([]crypto.SignPublic, len(next.Members))
			for i, m := range next.Members {
				pubs[i] = m.Sign
			}
			ep, err := ratchet.NewGroupEpoch(ratchet.Config{}, &secret, next.GroupID, 2, signers[0], pubs)
			if err != nil {
				t.Fatal(err)
			}
			ids, err := p.OpenLogIDs(ep)
			if err != nil || len(ids) != len(cv.LogIDs) {
				t.Fatalf("%d logs: %v", len(ids), err)
			}
			for i := range ids {
				if hex.EncodeToString(ids[i][:]) != cv.LogIDs[i] {
					t.Fatalf("log %d differs", i)
				}
			}
			conf := Confirm([32]byte(unhex(map[string]string{"roster": v.Roster.Conf, "v2_roster": v.V2.Conf}[cv.On])), c.NewHash, h)
			if hex.EncodeToString(conf[:]) != cv.Conf {
				t.Fatal("the new confirmation value differs")
			}
			if cv.Name != "add" {
				return
			}
			w := &GroupWelcome{Roster: nb, Secret: secret, LogID: ids[0], Logs: ids, Conf: conf}
			wb := w.Marshal()
			if !bytes.Equal(wb, unhex(v.Welcome.Welcome)) {
				t.Fatal("welcome encoding differs")
			}
			if back, err := ParseGroupWelcome(wb); err != nil || !bytes.Equal(back.Marshal(), wb) {
				t.Fatalf("welcome does not parse back: %v", err)
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
}
