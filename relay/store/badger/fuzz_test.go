package badger

import (
	"bytes"
	"testing"
	"time"

	"veil/relay/store"
)

func FuzzDecodeMailbox(f *testing.F) {
	m := store.Mailbox{RecipientID: store.ID{1}, SenderID: store.ID{2}, RecipientKey: [32]byte{3},
		Created: time.Unix(86400*20000, 0), LastActive: time.Unix(86400*20001, 0)}
	v, _ := encodeMailbox(m)
	f.Add(v)
	m.SenderKey = []byte("sender credential")
	v, _ = encodeMailbox(m)
	f.Add(v)
	f.Add([]byte{})
	f.Add([]byte{mailboxV1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMailbox(b)
		if err != nil {
			return
		}
		again, err := encodeMailbox(m)
		if err != nil {
			t.Fatalf("decoded mailbox does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("round trip changed the record:\n%x\n%x", b, again)
		}
	})
}

func FuzzDecodeLog(f *testing.F) {
	f.Add(encodeLog(store.Log{ID: store.ID{1}, WriteCap: [32]byte{2}, ReadCap: [32]byte{3}, TTL: time.Hour, Created: time.Unix(86400*20000, 0)}))
	f.Add([]byte{})
	f.Add(make([]byte, logLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeLog(b)
		if err != nil {
			return
		}
		if again := encodeLog(l); !bytes.Equal(again, b) {
			t.Fatalf("round trip changed the record:\n%x\n%x", b, again)
		}
	})
}

func FuzzParseSeqKey(f *testing.F) {
	f.Add(seqKey(prefixMessage, store.ID{1}, 7))
	f.Add([]byte{prefixMessage})
	f.Fuzz(func(t *testing.T, k []byte) {
		id, seq, ok := parseSeqKey(k)
		if !ok {
			return
		}
		if again := seqKey(k[0], id, seq); !bytes.Equal(again, k) {
			t.Fatalf("round trip changed the key: %x → %x", k, again)
		}
	})
}

func FuzzParseActiveKey(f *testing.F) {
	f.Add(activeKey(20000, store.ID{1}))
	f.Add([]byte{prefixActive})
	f.Fuzz(func(t *testing.T, k []byte) {
		d, rid, ok := parseActiveKey(k)
		if !ok {
			return
		}
		if again := activeKey(d, rid); !bytes.Equal(again, k) {
			t.Fatalf("round trip changed the key: %x → %x", k, again)
		}
	})
}
