package jetstream

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"veil/relay/store"
)

// The decoders read what the cluster hands back, which an operator with
// NATS credentials (or a bug) may have written: they must refuse anything
// they did not write, without panicking, and what they accept must encode
// back to the same bytes.

func FuzzDecodeBlob(f *testing.F) {
	f.Add(encodeBlob([]byte("bundle"), time.UnixMilli(1_800_000_000_000)))
	f.Add(encodeBlob(nil, time.UnixMilli(0)))
	f.Add([]byte{recordV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add(encodeTaken(time.UnixMilli(1_800_000_000_000)))
	f.Add(append(encodeTaken(time.UnixMilli(0)), 'x'))
	f.Fuzz(func(t *testing.T, b []byte) {
		body, deadline, taken, err := decodeBlob(b)
		if err != nil {
			return
		}
		got := encodeBlob(body, deadline)
		if taken {
			got = encodeTaken(deadline)
		}
		if !bytes.Equal(got, b) {
			t.Fatalf("round trip changed the blob:\n in  %x\n out %x", b, got)
		}
	})
}

func FuzzDecodeChunk(f *testing.F) {
	f.Add(encodeChunk(&store.Chunk{ReadCap: [32]byte{1}, DelCap: [32]byte{2}, Body: []byte("chunk"), Expires: time.UnixMilli(1_800_000_000_000)}))
	f.Add(encodeChunk(&store.Chunk{}))
	f.Add([]byte{recordV1, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeChunk(b)
		if err != nil {
			return
		}
		if got := encodeChunk(&c); !bytes.Equal(got, b) {
			t.Fatalf("round trip changed the chunk:\n in  %x\n out %x", b, got)
		}
	})
}

func FuzzDecodeSender(f *testing.F) {
	var rid store.ID
	rid[3] = 9
	f.Add(encodeSender(rid))
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, b []byte) {
		rid, err := decodeSender(b)
		if err != nil {
			return
		}
		if got := encodeSender(rid); !bytes.Equal(got, b) {
			t.Fatalf("round trip changed the index entry: %x → %x", b, got)
		}
	})
}

// FuzzHeaders covers the subject-token and header parsers.
func FuzzHeaders(f *testing.F) {
	var id store.ID
	id[0] = 0xab
	f.Add(key(id))
	f.Add("18446744073709551615")
	f.Add("007")
	f.Add("-1")
	f.Add("ABAB")
	f.Fuzz(func(t *testing.T, s string) {
		if id, ok := parseKey(s); ok && key(id) != s {
			t.Fatalf("parseKey(%q) accepted a non-canonical key", s)
		}
		if v, err := parseUint(s); err == nil && formatUint(v) != s {
			t.Fatalf("parseUint(%q) accepted a non-canonical number", s)
		}
		if tm, err := parseMillis(s); err == nil && formatMillis(tm) != s {
			t.Fatalf("parseMillis(%q) = %v does not round-trip", s, tm)
		}
		tok := s[strings.LastIndexByte(s, '.')+1:]
		if id, ok := lastToken("veil.m." + s); ok && key(id) != tok {
			t.Fatalf("lastToken(%q) accepted a non-canonical token", s)
		}
	})
}

// FuzzDeleteAnswer covers the reading of a delete's answer: whatever the
// server sends, deleteAnswer says deleted only for an answer that
// decodes with "success": true, and never panics.
func FuzzDeleteAnswer(f *testing.F) {
	f.Add(deleteOK)
	f.Add([]byte(`{"type":"io.nats.jetstream.api.v1.stream_msg_delete_response","error":{"code":400,"err_code":10057,"description":"no message found"}}`))
	f.Add([]byte(`{"success":false}`))
	f.Add([]byte(`{"error":{"code":1,"success":true}`))
	f.Add([]byte(`"success":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if deleteAnswer(data) != nil {
			return
		}
		var r struct {
			Success bool `json:"success"`
		}
		if err := json.Unmarshal(data, &r); err != nil || !r.Success {
			t.Fatalf("deleteAnswer(%q) said deleted", data)
		}
	})
}
