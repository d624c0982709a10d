package client

import (
	"bytes"
	"testing"

	"veil/crypto"
	"veil/ratchet"
)

// FuzzLoadGroup: no stored record makes loading panic; a record that loads
// saves and loads again to the same state.
func FuzzLoadGroup(f *testing.F) {
	ro, keys := testRoster(f, 2)
	g := &groupState{sign: keys[0].sign, seal: keys[0].seal, kem: keys[0].kem}
	secret := crypto.SymKey{1}
	pubs := []crypto.SignPublic{ro.Members[0].Sign, ro.Members[1].Sign}
	ep, err := ratchet.NewGroupEpoch(ratchet.Config{}, &secret, ro.GroupID, ro.Epoch, keys[0].sign, pubs)
	if err != nil {
		f.Fatal(err)
	}
	g.cur = groupLog{epoch: ep, roster: ro}
	rec := &groupRecord{Relay: "veil+ws://127.0.0.1:1#x", Nick: "nick0"}
	b, err := g.save(rec)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		g, rec, err := loadGroup(ratchet.Config{}, in)
		if err != nil {
			if g != nil || rec != nil {
				t.Fatal("state returned with an error")
			}
			return
		}
		out, err := g.save(rec)
		if err != nil {
			t.Fatal(err)
		}
		g2, rec2, err := loadGroup(ratchet.Config{}, out)
		if err != nil {
			t.Fatalf("a saved record does not load: %v", err)
		}
		out2, _ := g2.save(rec2)
		if !bytes.Equal(out, out2) {
			t.Fatal("save is not stable")
		}
	})
}
