package format

import (
	"bytes"
	"errors"
	"testing"
)

func testEnvelopes() []*Envelope {
	id := WireID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	return []*Envelope{
		{Type: EnvText, ID: id, TTL: 30, Text: "hello \x1b[31m"},
		{Type: EnvText, ID: id},
		{Type: EnvEdit, ID: id, Text: "fixed"},
		{Type: EnvDelete, ID: id},
		{Type: EnvReceipt, Kind: ReceiptDelivered, IDs: []WireID{id, {}}},
		{Type: EnvBurn},
		{Type: EnvSession, Kind: SessionRestarted},
		{Type: EnvSession, Kind: SessionOutdated},
		{Type: EnvReply, ID: id, TTL: 60, Target: WireID{9}, Text: "yes \u202e"},
		{Type: EnvReply, ID: id, Target: WireID{9}},
		{Type: EnvReact, ID: id, Reaction: "👍"},
		{Type: EnvReact, ID: id},
		{Type: EnvTimer, ID: id, TTL: 86400},
		{Type: EnvTimer, ID: id, TTL: MaxTimer},
		{Type: EnvHello, ID: id, SID: [24]byte{9}, Cap: [32]byte{7}, Relay: "veil+ws://127.0.0.1:4000#" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Nick: "ana"},
		{Type: EnvHello2, ID: id, Nick: "ana", Features: Features, Slots: []SlotCap{
			{Slot: 0, SID: [24]byte{9}, Cap: [32]byte{7}, Relay: testRelay},
			{Slot: 1, SID: [24]byte{8}, Cap: [32]byte{6}, Relay: testRelay2}}},
		{Type: EnvHello2, ID: id, Slots: []SlotCap{{Slot: 1, SID: [24]byte{9}, Cap: [32]byte{7}, Relay: testRelay}}},
		{Type: EnvFeatures, Features: FeatureMove},
		{Type: EnvMove, Move: MoveID{1, 2}, Slots: []SlotCap{{Slot: 1, SID: [24]byte{9}, Cap: [32]byte{7}, Relay: testRelay2}}},
		{Type: EnvMove, Move: MoveID{3}, Slots: []SlotCap{{Slot: 0}}},
		{Type: EnvMoved, Move: MoveID{1, 2}, Slot: 1},
		{Type: EnvFile, ID: id, TTL: 3600, File: testFileDescriptor()},
		{Type: EnvFile, ID: id, FileRaw: []byte{1, 0, 9}},
	}
}

const (
	testRelay  = "veil+ws://127.0.0.1:4000#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	testRelay2 = "veil+ws://127.0.0.1:4001#BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, e := range testEnvelopes() {
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseEnvelope(b)
		if err != nil {
			t.Fatalf("type %d: %v", e.Type, err)
		}
		b2, _ := got.Marshal()
		if !bytes.Equal(b, b2) {
			t.Fatalf("type %d: round trip differs", e.Type)
		}
		// Every truncation of a fixed-layout envelope fails cleanly.
		for n := range len(b) {
			if _, err := ParseEnvelope(b[:n]); err == nil && !openTail(e.Type) {
				t.Fatalf("type %d: truncation to %d accepted", e.Type, n)
			}
		}
		if !openTail(e.Type) {
			if _, err := ParseEnvelope(append(b, 0)); !errors.Is(err, errEnvelope) {
				t.Fatalf("type %d: extension accepted", e.Type)
			}
		}
	}
}

// openTail reports whether a type ends in a variable-length field, so a
// shorter or longer envelope of it can still parse. A FILE with a cut
// descriptor parses too, with the refusal in FileErr.
func openTail(typ byte) bool {
	return typ == EnvText || typ == EnvEdit || typ == EnvReply || typ == EnvReact || typ == EnvFile
}

// TestEnvelopeConversationRejects: the decoder rules of spec/client.md
// §5.8–§5.10.
func TestEnvelopeConversationRejects(t *testing.T) {
	id := make([]byte, WireIDSize)
	for name, b := range map[string][]byte{
		"reply without target":  append(append([]byte{1, EnvReply}, id...), 0, 0, 0, 0, 1, 2),
		"reply text not UTF-8":  append(append(append([]byte{1, EnvReply}, id...), 0, 0, 0, 0), append(id, 0xff)...),
		"reaction of 33 bytes":  append(append([]byte{1, EnvReact}, id...), bytes.Repeat([]byte{'a'}, MaxReaction+1)...),
		"reaction not UTF-8":    append(append([]byte{1, EnvReact}, id...), 0xf0, 0x9f),
		"react without target":  {1, EnvReact, 1, 2, 3},
		"timer over 365 days":   append(append([]byte{1, EnvTimer}, id...), 0x01, 0xe1, 0x33, 0x81),
		"timer of 0xffffffff":   append(append([]byte{1, EnvTimer}, id...), 0xff, 0xff, 0xff, 0xff),
		"timer with a tail":     append(append([]byte{1, EnvTimer}, id...), 0, 0, 0, 1, 0),
		"timer without its TTL": append([]byte{1, EnvTimer}, id...),
		"reaction of 32 + ctrl": append(append([]byte{1, EnvReact}, id...), append(bytes.Repeat([]byte{'a'}, MaxReaction), 0x1b)...),
	} {
		if _, err := ParseEnvelope(b); !errors.Is(err, errEnvelope) {
			t.Errorf("%s: parsed (%v)", name, err)
		}
	}
	if _, err := (&Envelope{Type: EnvReact, Reaction: string(bytes.Repeat([]byte{'a'}, MaxReaction+1))}).Marshal(); err == nil {
		t.Error("oversize reaction marshalled")
	}
	if _, err := (&Envelope{Type: EnvTimer, TTL: MaxTimer + 1}).Marshal(); err == nil {
		t.Error("timer over 365 days marshalled")
	}
}

func TestEnvelopeRejects(t *testing.T) {
	for _, b := range [][]byte{nil, {1}, {2, EnvBurn}, {1, 0x7f}, {1, EnvText, 1}, {1, EnvSession, 0}, {1, EnvSession, 3}, append(append([]byte{1, EnvText}, make([]byte, 20)...), 0xff)} {
		if _, err := ParseEnvelope(b); !errors.Is(err, errEnvelope) {
			t.Errorf("parseEnvelope(%x) = %v, want errEnvelope", b, err)
		}
	}
	if _, err := (&Envelope{Type: EnvReceipt}).Marshal(); err == nil {
		t.Error("empty receipt marshalled")
	}
}

func FuzzParseEnvelope(f *testing.F) {
	for _, e := range testEnvelopes() {
		b, _ := e.Marshal()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEnvelope(b)
		if err != nil {
			if e != nil {
				t.Fatal("non-nil envelope with error")
			}
			return
		}
		out, err := e.Marshal()
		if err != nil {
			t.Fatalf("parsed envelope does not marshal: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip: %x != %x", out, b)
		}
	})
}
