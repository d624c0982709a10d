package vault

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"veil/crypto"
	"veil/internal/gen/vaultvectors"
)

func loadVectors(t *testing.T) vaultvectors.Vectors {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(vaultvectors.File)))
	if err != nil {
		t.Fatal(err)
	}
	var v vaultvectors.Vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.KeyFiles) == 0 || len(v.States) == 0 || len(v.ChatKeys) == 0 {
		t.Fatal("empty vector file")
	}
	return v
}

func seeded(seed string) *rand.ChaCha8 {
	var b [32]byte
	copy(b[:], seed)
	return rand.NewChaCha8(b)
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKeyFileVectors: the vault's own code produces every vector key file
// byte for byte from its seed, and opens it with the right PINs.
func TestKeyFileVectors(t *testing.T) {
	for _, kv := range loadVectors(t).KeyFiles {
		t.Run(kv.Name, func(t *testing.T) {
			want := unhex(t, kv.File)
			p := crypto.Argon2Params{Time: kv.Time, MemKiB: kv.MemKiB, Threads: kv.Threads}
			r := seeded(kv.Seed)
			dk, _ := crypto.NewSymKey(r)
			kf, err := newKeyFile(p, r)
			if err != nil {
				t.Fatal(err)
			}
			pk := kf.pinKey([]byte(kv.PIN))
			primary, err := sealPrimary(kf, &pk, &dk, r)
			if err != nil {
				t.Fatal(err)
			}
			duress := -1
			if kv.DuressPIN != "" {
				k := kf.pinKey([]byte(kv.DuressPIN))
				if duress, err = sealDuress(kf, &k, []byte(kv.DuressPIN), primary, DuressMode(kv.DuressMode), r); err != nil {
					t.Fatal(err)
				}
			}
			if got := kf.marshal(); !bytes.Equal(got, want) {
				t.Fatalf("key file differs from the vector:\n got %x\nwant %x", got, want)
			}
			if primary != kv.PrimarySlot || duress != kv.DuressSlot || hex.EncodeToString(dk[:]) != kv.DataKey {
				t.Fatalf("slots %d/%d, want %d/%d; or data key differs", primary, duress, kv.PrimarySlot, kv.DuressSlot)
			}

			parsed, err := parseKeyFile(want)
			if err != nil {
				t.Fatal(err)
			}
			k := parsed.pinKey([]byte(kv.PIN))
			i, c := parsed.openSlots(&k)
			if i != kv.PrimarySlot || c.kind != slotPrimary || hex.EncodeToString(c.dataKey[:]) != kv.DataKey {
				t.Fatalf("PIN opens slot %d kind %d", i, c.kind)
			}
			if kv.DuressPIN != "" {
				k := parsed.pinKey([]byte(kv.DuressPIN))
				i, c := parsed.openSlots(&k)
				if i != kv.DuressSlot || c.kind != slotDuress || int(c.mode) != kv.DuressMode {
					t.Fatalf("duress PIN opens slot %d kind %d mode %d", i, c.kind, c.mode)
				}
				salt := decoySalt(&c.decoySeed)
				if !c.hasDecoy || hex.EncodeToString(salt[:]) != kv.DecoySalt || hex.EncodeToString(c.dataKey[:]) != kv.DecoyKey {
					t.Fatal("duress slot's decoy salt or key differs from the vector")
				}
			}
			k = parsed.pinKey([]byte("not the pin"))
			if i, _ := parsed.openSlots(&k); i != -1 {
				t.Fatal("a wrong PIN opens a slot")
			}
		})
	}
}

func TestStateVectors(t *testing.T) {
	for _, sv := range loadVectors(t).States {
		want := unhex(t, sv.File)
		st, err := parseState(want)
		if err != nil {
			t.Fatalf("%s: %v", sv.Name, err)
		}
		exp := state{failures: sv.Failures, lastFailure: sv.LastFailure, lastUnlock: sv.LastUnlock,
			policy: Policy{WipeAfter: int(sv.WipeAfter), DeadMan: secondsDuration(sv.DeadMan)}}
		if *st != exp || !bytes.Equal(exp.marshal(), want) {
			t.Fatalf("%s: parsed %+v, want %+v (or marshal differs)", sv.Name, st, exp)
		}
	}
}

func TestChatKeyVectors(t *testing.T) {
	for _, cv := range loadVectors(t).ChatKeys {
		t.Run(cv.Name, func(t *testing.T) {
			dk, _ := crypto.ParseSymKey(unhex(t, cv.DataKey))
			keys := map[string]crypto.SymKey{}
			for id, h := range cv.Keys {
				keys[string(unhex(t, id))], _ = crypto.ParseSymKey(unhex(t, h))
			}
			if cv.Name != "empty" {
				n := 0
				for id := range keys {
					if _, b, ok := parseBucketID(id); ok && b == 491000 {
						n++
					}
				}
				if n != 1 {
					t.Fatal("the vector's bucket entry does not parse as bucket 491000")
				}
			}
			dir := t.TempDir()
			name := filepath.Join(dir, chatKeyFiles[0])
			if err := os.WriteFile(name, bytes.Repeat([]byte{0xee}, cv.PrevSize), 0o600); err != nil {
				t.Fatal(err)
			}
			tab := &chatKeys{dir: dir, key: tableKey(&dk), keys: keys, rand: seeded(cv.Seed)}
			tab.size[0] = int64(cv.PrevSize)
			if err := tab.writeCopy(0, cv.Generation); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(name)
			want := unhex(t, cv.File)
			if !bytes.Equal(got, want) {
				t.Fatalf("table copy differs from the vector:\n got %x\nwant %x", got, want)
			}
			gen, parsed, err := tab.parseCopy(want)
			if err != nil || gen != cv.Generation || len(parsed) != len(keys) {
				t.Fatalf("parse: gen %d, %d keys, %v", gen, len(parsed), err)
			}
			for id, k := range keys {
				if parsed[id] != k {
					t.Fatalf("key of %q differs", id)
				}
			}
		})
	}
}

// TestSealedRecordVectors: the vault seals each vector record to the
// vector's value byte for byte, and opens it (spec/vault.md §6.6).
func TestSealedRecordVectors(t *testing.T) {
	vs := loadVectors(t).Sealed
	if len(vs) == 0 {
		t.Fatal("no sealed-record vectors")
	}
	for _, sv := range vs {
		t.Run(sv.Name, func(t *testing.T) {
			bkey := unhex(t, sv.Key)
			sk, err := crypto.ParseSymKey(unhex(t, sv.StateKey))
			if err != nil {
				t.Fatal(err)
			}
			var rec any
			switch {
			case isSealedKey(bkey) && bkey[0] == pfxContact:
				rec = &Contact{}
			case isSealedKey(bkey) && bkey[0] == pfxProfile:
				rec = &Profile{}
			default:
				t.Fatalf("vector key %q is not a sealed record", bkey)
			}
			if err := json.Unmarshal([]byte(sv.Record), rec); err != nil {
				t.Fatal(err)
			}
			if js, _ := json.Marshal(rec); string(js) != sv.Record {
				t.Fatalf("the vector's JSON is not what the vault writes:\n got %s\nwant %s", js, sv.Record)
			}
			h := sealedHeader{epoch: sv.Epoch, writes: sv.Writes}
			got, err := encodeSealed(bkey, h, &sk, rec, seeded(sv.Seed))
			if err != nil {
				t.Fatal(err)
			}
			want := unhex(t, sv.Value)
			if !bytes.Equal(got, want) {
				t.Fatalf("sealed value differs from the vector:\n got %x\nwant %x", got, want)
			}
			keys := &chatKeys{keys: map[string]crypto.SymKey{stateKeyID(bkey, sv.Epoch): sk}}
			out := reflect.New(reflect.TypeOf(rec).Elem()).Interface()
			if err := decodeSealed(bkey, want, keys, out); err != nil || !reflect.DeepEqual(out, rec) {
				t.Fatalf("decode: %v", err)
			}
			// Bound to its Badger key: the same value under another key fails.
			other := append(bytes.Clone(bkey), 'x')
			keys.keys[stateKeyID(other, sv.Epoch)] = sk
			if err := decodeSealed(other, want, keys, out); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("moved to another key: %v, want ErrCorrupt", err)
			}
		})
	}
}
