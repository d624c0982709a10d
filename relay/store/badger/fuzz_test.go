package badger

import (
	"bytes"
	"testing"

	"veil/relay/store"
)

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
