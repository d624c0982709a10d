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

// FuzzJournalRecords feeds arbitrary bytes to the journal's record reader
// (replay reads whatever a crash or a disk left): it must never panic, and
// every record it accepts must encode back to the bytes it came from.
func FuzzJournalRecords(f *testing.F) {
	var seg []byte
	seg = appendRecord(seg, 3, recSend, store.ID{1}, 7, 1e9, []byte("body"))
	seg = appendRecord(seg, 3, recAck, store.ID{1}, 7, 0, nil)
	seg = appendRecord(seg, 3, recDrop, store.ID{2}, 0, 0, nil)
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add(append(seg[:len(seg):len(seg)], make([]byte, 20)...))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 9})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		const start = 16
		var again []byte
		end, _, err := readRecords(bytes.NewReader(b), 3, start, func(r record) {
			if r.typ == recSend && r.bodyOff != start+int64(len(again))+recHeader+sendFixed {
				t.Fatalf("body offset %d", r.bodyOff)
			}
			again = appendRecord(again, 3, r.typ, r.rid, r.seq, r.exp, r.body)
		})
		if err != nil {
			t.Fatalf("read error from memory: %v", err)
		}
		if end != start+int64(len(again)) || !bytes.Equal(again, b[:len(again)]) {
			t.Fatalf("accepted records do not encode back to the input (end %d, %d bytes)", end, len(again))
		}
	})
}
