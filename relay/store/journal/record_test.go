package journal

import (
	"bytes"
	"testing"

	"veil/relay/store"
)

// TestRecordSalt checks that a record read as part of another segment
// (a recycled segment's former life) is torn, not replayed.
func TestRecordSalt(t *testing.T) {
	rec := appendRecord(nil, 5, recAck, store.ID{1}, 9, 0, nil)
	for _, seg := range []uint32{5, 6} {
		n := 0
		end, torn, err := readRecords(bytes.NewReader(rec), seg, 0, func(record) { n++ })
		if err != nil {
			t.Fatal(err)
		}
		if want := seg == 5; (n == 1) != want || torn == want || (end == int64(len(rec))) != want {
			t.Errorf("segment %d: %d records, end %d, torn %v", seg, n, end, torn)
		}
	}
}

// FuzzJournalRecords feeds arbitrary bytes to the journal's record reader
// (replay reads whatever a crash or a disk left): it must never panic, and
// every record it accepts must encode back to the bytes it came from.
func FuzzJournalRecords(f *testing.F) {
	var seg []byte
	seg = appendRecord(seg, 3, recSend, store.ID{1}, 7, 1e9, []byte("body"))
	seg = appendRecord(seg, 3, recAck, store.ID{1}, 7, 0, nil)
	seg = appendRecord(seg, 3, recDrop, store.ID{2}, 0, 0, nil)
	seg = appendChunkRecord(seg, 3, store.ID{3}, &store.Chunk{ReadCap: [32]byte{4}, DelCap: [32]byte{5}, Body: []byte("chunk")}, 1e9)
	seg = appendRecord(seg, 3, recChunkDrop, store.ID{3}, 0, 0, nil)
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
			if r.typ == recChunk {
				if r.bodyOff != start+int64(len(again))+recHeader+chunkFixed {
					t.Fatalf("chunk body offset %d", r.bodyOff)
				}
				again = appendChunkRecord(again, 3, r.rid, &store.Chunk{ReadCap: r.readHash, DelCap: r.delHash, Body: r.body}, r.exp)
				return
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
