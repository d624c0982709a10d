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
		{Type: EnvHello, ID: id, SID: [24]byte{9}, Cap: [32]byte{7}, Relay: "veil+ws://127.0.0.1:4000#" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Nick: "ana"},
	}
}

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
			if _, err := ParseEnvelope(b[:n]); err == nil && e.Type != EnvText && e.Type != EnvEdit {
				t.Fatalf("type %d: truncation to %d accepted", e.Type, n)
			}
		}
		if e.Type != EnvText && e.Type != EnvEdit {
			if _, err := ParseEnvelope(append(b, 0)); !errors.Is(err, errEnvelope) {
				t.Fatalf("type %d: extension accepted", e.Type)
			}
		}
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
