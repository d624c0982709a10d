package vault

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"reflect"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4/y"

	"veil/crypto"
)

func seedKeyFile(tb testing.TB) []byte {
	kf, err := newKeyFile(testKDF, nil)
	if err != nil {
		tb.Fatal(err)
	}
	k := kf.pinKey(pin)
	if err := kf.sealSlot(2, &k, &slotContent{kind: slotPrimary}, nil); err != nil {
		tb.Fatal(err)
	}
	return kf.marshal()
}

// FuzzParseKeyFile: the key-file decoder never panics, and whatever it
// accepts marshals back to exactly the input.
func FuzzParseKeyFile(f *testing.F) {
	good := seedKeyFile(f)
	f.Add(good)
	f.Add(good[:headerSize])
	f.Add([]byte(keyFileMagic))
	f.Add([]byte{})
	bad := bytes.Clone(good)
	bad[8] = 9
	f.Add(bad)
	f.Fuzz(func(t *testing.T, b []byte) {
		kf, err := parseKeyFile(b)
		if err != nil {
			if kf != nil {
				t.Fatal("non-nil key file with an error")
			}
			return
		}
		if !bytes.Equal(kf.marshal(), b) {
			t.Fatal("parse→marshal changed the key file")
		}
		if kf.params.MemKiB <= 1024 && kf.params.Time <= 2 { // keep fuzzing fast
			k := kf.pinKey([]byte("x"))
			kf.openSlots(&k)
		}
	})
}

// FuzzParseState: never panics; accepted input round-trips exactly.
func FuzzParseState(f *testing.F) {
	f.Add((&state{}).marshal())
	f.Add((&state{failures: 3, lastFailure: 1e9, lastUnlock: 2e9, policy: Policy{WipeAfter: 10, DeadMan: 72 * time.Hour}}).marshal())
	f.Add([]byte(stateMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseState(b)
		if err != nil {
			if st != nil {
				t.Fatal("non-nil state with an error")
			}
			return
		}
		if !bytes.Equal(st.marshal(), b) {
			t.Fatal("parse→marshal changed the state file")
		}
	})
}

// FuzzDecodeChatKeys: never panics; decode→encode→decode is stable (the
// padding length is not canonical, so the bytes may differ).
func FuzzDecodeChatKeys(f *testing.F) {
	f.Add(encodeChatKeys(map[string]crypto.SymKey{}))
	f.Add(encodeChatKeys(map[string]crypto.SymKey{"a": {1}, "chat-2": {2}}))
	f.Add([]byte{0, 0, 0, 1, 1, 'x'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := decodeChatKeys(b)
		if err != nil {
			if keys != nil {
				t.Fatal("non-nil keys with an error")
			}
			return
		}
		again, err := decodeChatKeys(encodeChatKeys(keys))
		if err != nil || !reflect.DeepEqual(again, keys) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzChatKeyCopy: the on-disk copy parser (header, length, AEAD) never
// panics on anything read from the data directory.
func FuzzChatKeyCopy(f *testing.F) {
	var dk crypto.SymKey
	t0 := &chatKeys{key: tableKey(&dk), keys: map[string]crypto.SymKey{"c": {7}}}
	hdr := t0.header(5)
	sealed, _ := crypto.SealX(nil, &t0.key, encodeChatKeys(t0.keys), hdr, nil)
	good := append(append(hdr, 0, 0, byte(len(sealed)>>8), byte(len(sealed))), sealed...)
	f.Add(good)
	f.Add(good[:30])
	f.Fuzz(func(t *testing.T, b []byte) {
		gen, keys, err := t0.parseCopy(b)
		if err != nil && (gen != 0 || keys != nil) {
			t.Fatal("values with an error")
		}
	})
}

// FuzzDecodeRecord: the record decoder never panics; a decoded message
// re-encodes and decodes to the same value.
func FuzzDecodeRecord(f *testing.F) {
	m := Message{ID: "m", ChatID: "c", Direction: Incoming, Sent: time.Unix(1e9, 0).UTC(), Status: StatusRead}
	s := toStored(&m, 7, []byte{1, 2, 3}, []byte{4, 5})
	b, _ := encodeRecord(&s)
	f.Add(b)
	f.Add([]byte{recordVersion, '{', '}'})
	f.Add([]byte{recordVersion, 'n', 'u', 'l', 'l'})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s storedMessage
		if err := decodeRecord(b, &s); err != nil {
			return
		}
		e, err := encodeRecord(&s)
		if err != nil {
			t.Fatal(err)
		}
		var again storedMessage
		if err := decodeRecord(e, &again); err != nil || !reflect.DeepEqual(normalize(again), normalize(s)) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// normalize maps equal instants to one representation for DeepEqual.
func normalize(s storedMessage) storedMessage {
	for _, p := range []*time.Time{&s.Sent, &s.Received, &s.Read, &s.Expires, &s.Edited} {
		*p = p.UTC()
	}
	if len(s.Sealed) == 0 {
		s.Sealed = nil
	}
	if len(s.SealedMeta) == 0 {
		s.SealedMeta = nil
	}
	return s
}

// FuzzFileRecord: the file record decoder never panics; a record it
// accepts re-encodes to one that decodes the same.
func FuzzFileRecord(f *testing.F) {
	b, _ := encodeRecord(&FileRecord{Blob: "00112233445566778899aabbccddeeff0011223344556677", Chunks: 3, Complete: true})
	f.Add(b)
	f.Add([]byte{recordVersion, '{', '}'})
	f.Add([]byte{recordVersion, '[', ']'})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r FileRecord
		if err := decodeRecord(b, &r); err != nil {
			return
		}
		_ = r.check()
		e, err := encodeRecord(&r)
		if err != nil {
			t.Fatal(err)
		}
		var again FileRecord
		if err := decodeRecord(e, &again); err != nil || again != r {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzTransfer: the transfer record decoder never panics; a record it
// accepts re-encodes to one that decodes the same.
func FuzzTransfer(f *testing.F) {
	b, _ := encodeRecord(&Transfer{ID: "t", Chat: "c", Message: "m", Up: true, Done: 9, Tries: 1, NextTry: time.Unix(1e9, 0).UTC(), Err: "x"})
	f.Add(b)
	f.Add([]byte{recordVersion, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		var tr Transfer
		if err := decodeRecord(b, &tr); err != nil {
			return
		}
		_ = tr.check()
		e, err := encodeRecord(&tr)
		if err != nil {
			t.Fatal(err)
		}
		var again Transfer
		if err := decodeRecord(e, &again); err != nil || !again.NextTry.Equal(tr.NextTry) {
			t.Fatalf("round trip: %v", err)
		}
		again.NextTry, tr.NextTry = time.Time{}, time.Time{}
		if again != tr {
			t.Fatal("round trip differs")
		}
	})
}

// FuzzParseExpiryKey: never panics; an accepted key re-encodes exactly.
func FuzzParseExpiryKey(f *testing.F) {
	f.Add(expiryKey(time.Unix(5, 6), "chat", "msg"))
	f.Add([]byte{pfxExpiry})
	f.Fuzz(func(t *testing.T, k []byte) {
		chat, id, ok := parseExpiryKey(k)
		if !ok {
			return
		}
		re := append(append(append([]byte{}, k[:9]...), byte(len(chat))), chat...)
		if !bytes.Equal(append(re, id...), k) {
			t.Fatal("parse→encode changed the key")
		}
	})
}

// FuzzParseMessageKey: never panics; an accepted key re-encodes exactly.
func FuzzParseMessageKey(f *testing.F) {
	f.Add(messageKey("chat", "msg"))
	f.Add([]byte{pfxMessage, 5, 'a'})
	f.Fuzz(func(t *testing.T, k []byte) {
		chat, id, ok := parseMessageKey(k)
		if ok && !bytes.Equal(messageKey(chat, id), k) {
			t.Fatal("parse→encode changed the key")
		}
	})
}

// FuzzDecodeSealed: the sealed-record decoder (spec/vault.md §6.6) never
// panics and never fills a record from a value that does not
// authenticate; an accepted record re-seals and opens to the same value.
func FuzzDecodeSealed(f *testing.F) {
	bkey := simpleKey(pfxContact, "peer")
	var k crypto.SymKey
	k[0] = 7
	keys := &chatKeys{keys: map[string]crypto.SymKey{stateKeyID(bkey, 3): k}}
	c := Contact{ID: "peer", Ratchet: []byte{1, 2, 3}, Relays: []RelayCap{{Address: "a"}}}
	good, err := encodeSealed(bkey, sealedHeader{epoch: 3, writes: 1}, &k, &c, nil)
	if err != nil {
		f.Fatal(err)
	}
	legacy, _ := encodeRecord(&c)
	f.Add(good)
	f.Add(good[:sealedHdrSize])
	f.Add(legacy)
	f.Add([]byte{sealedVersion})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var got Contact
		if err := decodeSealed(bkey, b, keys, &got); err != nil {
			return
		}
		h, ok := parseSealedHeader(b)
		if !ok {
			h = sealedHeader{epoch: 3, writes: 1} // a legacy record
		}
		key, ok := keys.get(stateKeyID(bkey, h.epoch))
		if !ok {
			t.Fatal("decoded a record whose key is not in the table")
		}
		e, err := encodeSealed(bkey, h, &key, &got, nil)
		if err != nil {
			t.Fatal(err)
		}
		var again Contact
		if err := decodeSealed(bkey, e, keys, &again); err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzParseStateKeyID: never panics; an accepted ID re-encodes exactly.
func FuzzParseStateKeyID(f *testing.F) {
	f.Add(stateKeyID(simpleKey(pfxContact, "peer"), 9))
	f.Add(stateKeyID([]byte{pfxProfile}, 1))
	f.Add(bucketID("chat", 5))
	f.Add("chat")
	f.Fuzz(func(t *testing.T, id string) {
		base, epoch, ok := parseStateKeyID(id)
		if !ok {
			return
		}
		if base[0] != stateKeyMark || stateKeyID([]byte(base[1:]), epoch) != id {
			t.Fatal("parse→encode changed the ID")
		}
	})
}

// FuzzCheckEntries: the walk of a value log or memtable WAL never panics,
// and a log of whole entries passes whatever its size.
func FuzzCheckEntries(f *testing.F) {
	entry := func(key, val string) []byte {
		b := []byte{0, 0}
		b = binary.AppendUvarint(b, uint64(len(key)))
		b = binary.AppendUvarint(b, uint64(len(val)))
		b = binary.AppendUvarint(b, 0)
		b = append(append(b, key...), val...)
		return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, y.CastagnoliCrcTable))
	}
	hdr := make([]byte, logHeaderLen)
	f.Add(append(append(bytes.Clone(hdr), entry("k", "v")...), entry("key2", "value")...), int64(0))
	f.Add(append(append(bytes.Clone(hdr), entry("k", "v")...), make([]byte, 64)...), int64(1<<20))
	f.Fuzz(func(t *testing.T, b []byte, prealloc int64) {
		if len(b) < logHeaderLen {
			return
		}
		_ = checkEntries(b, prealloc)
		whole := append(bytes.Clone(b[:logHeaderLen]), entry(string(b[logHeaderLen:min(len(b), logHeaderLen+8)]), string(b))...)
		if err := checkEntries(whole, prealloc); err != nil {
			t.Fatalf("a whole entry refused: %v", err)
		}
	})
}
