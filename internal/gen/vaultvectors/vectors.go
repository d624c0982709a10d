// Package vaultvectors builds the vault test vectors of spec/vault.md from
// fixed seeds: key files (§2–§3), state files (§5) and chat-key table
// copies (§6.2) and sealed records (§6.6). It implements those sections from the spec alone, with
// veil/crypto and no code of package vault, so the vault's tests that
// replay the vectors check the implementation against the document.
//
// The committed file is spec/vectors/vault/vectors.json. Rebuild it with
//
//	go test ./internal/gen/vaultvectors -run TestVectors -update
//
// and check it, byte for byte, with the same test without -update.
package vaultvectors

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"

	"veil/crypto"
)

// File is the committed vector file, relative to the repository root.
const File = "spec/vectors/vault/vectors.json"

// Vectors is the JSON document.
type Vectors struct {
	Comment  string     `json:"comment"`
	KeyFiles []KeyFile  `json:"key_files"`
	States   []State    `json:"state_files"`
	ChatKeys []ChatKeys `json:"chat_key_tables"`
	Sealed   []Sealed   `json:"sealed_records"`
}

// Sealed is one sealed record value (spec/vault.md §6.6). Randomness is
// the 24-byte nonce, from ChaCha8(Seed). Record is the JSON as sealed.
type Sealed struct {
	Name     string `json:"name"`
	Seed     string `json:"seed"`
	Key      string `json:"badger_key"`   // hex
	StateKey string `json:"state_key"`    // hex
	Epoch    uint64 `json:"epoch,string"` // a string: it can exceed 2^53
	Writes   uint32 `json:"writes"`
	Record   string `json:"record_json"`
	Value    string `json:"value"`
}

// KeyFile is one key file. Randomness is drawn from ChaCha8(Seed) in the
// order of spec/vault.md §3.8: data key (32); salt (32); the four slots as filler (4 × 104);
// the primary slot's index (1 byte, mod 4); the primary slot's nonce (24);
// and with a duress PIN: every non-primary slot refilled in index order
// (3 × 104), one byte b choosing slot (primary + 1 + b mod 3) mod 4, the
// duress slot's decoy seed (16), and its nonce (24). The duress slot holds
// the decoy's PIN key, Argon2id(duress PIN, DecoySalt) with DecoySalt =
// HKDF-SHA256(seed, no salt, "veil/vault/decoy-salt/v1") (§3.9).
type KeyFile struct {
	Name        string `json:"name"`
	Seed        string `json:"seed"`
	PIN         string `json:"pin"`
	DuressPIN   string `json:"duress_pin,omitempty"`
	DuressMode  int    `json:"duress_mode,omitempty"`
	Time        uint32 `json:"argon2_time"`
	MemKiB      uint32 `json:"argon2_memory_kib"`
	Threads     uint8  `json:"argon2_lanes"`
	DataKey     string `json:"data_key"`
	PrimarySlot int    `json:"primary_slot"`
	DuressSlot  int    `json:"duress_slot"` // -1 when there is none
	DecoySalt   string `json:"decoy_salt,omitempty"`
	DecoyKey    string `json:"decoy_key,omitempty"`
	File        string `json:"file"`
}

// State is one state file (no randomness).
type State struct {
	Name        string `json:"name"`
	Failures    uint32 `json:"failures"`
	LastFailure int64  `json:"last_failure_unix"`
	LastUnlock  int64  `json:"last_unlock_unix"`
	WipeAfter   uint32 `json:"wipe_after"`
	DeadMan     uint64 `json:"dead_man_seconds"`
	File        string `json:"file"`
}

// ChatKeys is one copy of a chat-key table, written over a file of
// PrevSize bytes. Its nonce (24) is drawn from ChaCha8(Seed). Keys maps
// hex(entry ID) to hex(key): a bucket entry's ID is not UTF-8 (§6.5).
type ChatKeys struct {
	Name       string            `json:"name"`
	Seed       string            `json:"seed"`
	DataKey    string            `json:"data_key"`
	Generation uint64            `json:"generation,string"` // a string: it can exceed 2^53
	PrevSize   int               `json:"prev_size"`
	Keys       map[string]string `json:"keys"`
	File       string            `json:"file"`
}

func stream(seed string) io.Reader {
	var b [32]byte
	if len(seed) != 32 {
		panic("vaultvectors: seed must be 32 bytes")
	}
	copy(b[:], seed)
	return rand.NewChaCha8(b)
}

func read(r io.Reader, n int) []byte {
	b := make([]byte, n)
	if err := crypto.RandomBytes(r, b); err != nil {
		panic(err)
	}
	return b
}

// keyFile implements spec/vault.md §2–§3.
func keyFile(kv *KeyFile) error {
	r := stream(kv.Seed)
	dataKey := read(r, 32)
	hdr := make([]byte, 64)
	copy(hdr, "VEILVKEY")
	hdr[8], hdr[9], hdr[10], hdr[11] = 1, 1, kv.Threads, 4
	binary.BigEndian.PutUint32(hdr[12:], kv.Time)
	binary.BigEndian.PutUint32(hdr[16:], kv.MemKiB)
	copy(hdr[20:52], read(r, 32))
	slots := make([][]byte, 4)
	for i := range slots {
		slots[i] = read(r, 104)
	}
	params := crypto.Argon2Params{Time: kv.Time, MemKiB: kv.MemKiB, Threads: kv.Threads}
	seal := func(i int, pin string, kind, mode byte, seed, key []byte) error {
		k := crypto.PINKey([]byte(pin), hdr[20:52], params)
		pt := make([]byte, 64)
		pt[0], pt[1] = kind, mode
		if seed != nil {
			pt[2] = 1
			copy(pt[16:32], seed)
		}
		copy(pt[32:], key)
		ad := append(append([]byte("veil/vault/slot/v1"), hdr...), byte(i))
		out, err := crypto.SealX(nil, &k, pt, ad, r)
		if err != nil {
			return err
		}
		if len(out) != 104 {
			return fmt.Errorf("slot is %d bytes", len(out))
		}
		slots[i] = out
		return nil
	}
	kv.PrimarySlot = int(read(r, 1)[0]) % 4
	if err := seal(kv.PrimarySlot, kv.PIN, 1, 0, nil, dataKey); err != nil {
		return err
	}
	kv.DuressSlot = -1
	if kv.DuressPIN != "" {
		for i := range slots {
			if i != kv.PrimarySlot {
				slots[i] = read(r, 104)
			}
		}
		kv.DuressSlot = (kv.PrimarySlot + 1 + int(read(r, 1)[0])%3) % 4
		seed := read(r, 16)
		salt := make([]byte, 32)
		crypto.HKDF(salt, seed, nil, "veil/vault/decoy-salt/v1")
		decoy := crypto.PINKey([]byte(kv.DuressPIN), salt, params)
		if err := seal(kv.DuressSlot, kv.DuressPIN, 2, byte(kv.DuressMode), seed, decoy[:]); err != nil {
			return err
		}
		kv.DecoySalt = hex.EncodeToString(salt)
		kv.DecoyKey = hex.EncodeToString(decoy[:])
	}
	file := hdr
	for _, s := range slots {
		file = append(file, s...)
	}
	kv.DataKey = hex.EncodeToString(dataKey)
	kv.File = hex.EncodeToString(file)
	return nil
}

// stateFile implements spec/vault.md §5.0.
func stateFile(s *State) {
	b := make([]byte, 64)
	copy(b, "VEILVSTA")
	b[8] = 1
	binary.BigEndian.PutUint32(b[12:], s.Failures)
	binary.BigEndian.PutUint64(b[16:], uint64(s.LastFailure))
	binary.BigEndian.PutUint64(b[24:], uint64(s.LastUnlock))
	binary.BigEndian.PutUint32(b[32:], s.WipeAfter)
	binary.BigEndian.PutUint64(b[36:], s.DeadMan)
	sum := crypto.Hash(b[:56])
	copy(b[56:], sum[:8])
	s.File = hex.EncodeToString(b)
}

// chatKeys implements spec/vault.md §6.2.
func chatKeys(c *ChatKeys) error {
	r := stream(c.Seed)
	dk, err := hex.DecodeString(c.DataKey)
	if err != nil {
		return err
	}
	tk := crypto.HKDFKey(dk, nil, "veil/vault/chatkeys/v1")
	keys := map[string][]byte{}
	ids := make([]string, 0, len(c.Keys))
	for hid, hk := range c.Keys {
		id, err1 := hex.DecodeString(hid)
		k, err2 := hex.DecodeString(hk)
		if err1 != nil || err2 != nil || len(k) != 32 {
			return fmt.Errorf("bad entry %q", hid)
		}
		keys[string(id)] = k
		ids = append(ids, string(id))
	}
	sort.Strings(ids)
	pt := binary.BigEndian.AppendUint32(nil, uint32(len(ids)))
	for _, id := range ids {
		pt = binary.BigEndian.AppendUint16(pt, uint16(len(id)))
		pt = append(append(pt, id...), keys[id]...)
	}
	pt = append(pt, make([]byte, (len(pt)/4096+1)*4096-len(pt))...)
	hdr := make([]byte, 20)
	copy(hdr, "VEILVCKT")
	hdr[8] = 1
	binary.BigEndian.PutUint64(hdr[12:], c.Generation)
	sealed, err := crypto.SealX(nil, &tk, pt, hdr, r)
	if err != nil {
		return err
	}
	file := binary.BigEndian.AppendUint32(hdr, uint32(len(sealed)))
	file = append(file, sealed...)
	if len(file) < c.PrevSize {
		file = append(file, make([]byte, c.PrevSize-len(file))...)
	}
	c.File = hex.EncodeToString(file)
	return nil
}

// sealed implements spec/vault.md §6.6.
func sealed(s *Sealed) error {
	bkey, err1 := hex.DecodeString(s.Key)
	sk, err2 := hex.DecodeString(s.StateKey)
	if err1 != nil || err2 != nil || len(sk) != 32 {
		return fmt.Errorf("bad sealed vector %q", s.Name)
	}
	var key crypto.SymKey
	copy(key[:], sk)
	hdr := []byte{2}
	hdr = binary.BigEndian.AppendUint64(hdr, s.Epoch)
	hdr = binary.BigEndian.AppendUint32(hdr, s.Writes)
	ad := append(append([]byte("veil/vault/record/v2"), hdr...), bkey...)
	v, err := crypto.SealX(hdr, &key, []byte(s.Record), ad, stream(s.Seed))
	if err != nil {
		return err
	}
	s.Value = hex.EncodeToString(v)
	return nil
}

// Generate returns the vector document, deterministically.
func Generate() ([]byte, error) {
	v := Vectors{
		Comment: "spec/vault.md vectors; every random byte comes from ChaCha8(seed) in the order of spec/vault.md §3.8 and §12; 64-bit counters are decimal strings",
		KeyFiles: []KeyFile{
			{Name: "primary only", Seed: "veil vault vectors: key file 1..", PIN: "1234", Time: 1, MemKiB: 64, Threads: 1},
			{Name: "primary and duress (decoy)", Seed: "veil vault vectors: key file 2..", PIN: "correct horse battery staple", DuressPIN: "9999", DuressMode: 1, Time: 2, MemKiB: 256, Threads: 2},
			{Name: "primary and duress (reset)", Seed: "veil vault vectors: key file 3..", PIN: "ñandú 2026", DuressPIN: "0000", DuressMode: 2, Time: 1, MemKiB: 128, Threads: 4},
		},
		States: []State{
			{Name: "fresh"},
			{Name: "failures and policy", Failures: 5, LastFailure: 1767225600, LastUnlock: 1767139200, WipeAfter: 10, DeadMan: 7 * 24 * 3600},
		},
		ChatKeys: []ChatKeys{
			{Name: "empty", Seed: "veil vault vectors: chat keys 1.", DataKey: hex.EncodeToString(make([]byte, 32)), Generation: 1, Keys: map[string]string{}},
			{Name: "two chats over a larger old copy", Seed: "veil vault vectors: chat keys 2.", DataKey: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", Generation: 7, PrevSize: 8192,
				Keys: map[string]string{
					hex.EncodeToString([]byte("chat-a")): "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf",
					hex.EncodeToString([]byte("b")):      "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf",
					// chat-a's key for expiry bucket 491,000 (§6.5): "chat-a" || 0xff || bucket (8)
					hex.EncodeToString(append([]byte("chat-a\xff"), 0, 0, 0, 0, 0, 0x07, 0x7d, 0xf8)): "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
				}},
		},
	}
	v.Sealed = []Sealed{
		{Name: "contact, first write", Seed: "veil vault vectors: sealed 1....", Key: hex.EncodeToString([]byte("Cpeer")),
			StateKey: "0101010101010101010101010101010101010101010101010101010101010101", Epoch: 1, Writes: 1,
			Record: `{"ID":"peer","Nickname":"Zoe","OurIdentity":"AQID","TheirIdentity":"BAU=","Ratchet":"c3RhdGU=","Relays":[{"Address":"veil://relay.example:443/#fp","RecvID":"AQ==","RecvKey":"Ag==","SendID":null,"SendCred":null}],"SafetyChecked":true,"Created":"2026-01-02T03:04:05Z"}`},
		{Name: "profile, late epoch", Seed: "veil vault vectors: sealed 2....", Key: hex.EncodeToString([]byte("P")),
			StateKey: "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff", Epoch: 0x0102030405060708, Writes: 3,
			Record: `{"Name":"me","Created":"0001-01-01T00:00:00Z","Settings":{"relay/default":"veil://relay.example:443/#fp"}}`},
	}
	for i := range v.Sealed {
		if err := sealed(&v.Sealed[i]); err != nil {
			return nil, err
		}
	}
	for i := range v.KeyFiles {
		if err := keyFile(&v.KeyFiles[i]); err != nil {
			return nil, err
		}
	}
	for i := range v.States {
		stateFile(&v.States[i])
	}
	for i := range v.ChatKeys {
		if err := chatKeys(&v.ChatKeys[i]); err != nil {
			return nil, err
		}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
