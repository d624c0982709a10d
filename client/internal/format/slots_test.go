package format

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"veil/crypto"
	"veil/ratchet"
)

// TestSlotsStrict: the decoder rules of spec/client.md §5.12–§5.15.
func TestSlotsStrict(t *testing.T) {
	capOf := func(slot byte, relay string) []byte {
		b := append([]byte{slot}, make([]byte, 24+32)...)
		b[1] = 1
		b = binary.BigEndian.AppendUint16(b, uint16(len(relay)))
		return append(b, relay...)
	}
	hello2 := func(n byte, caps ...[]byte) []byte {
		b := append([]byte{1, EnvHello2}, make([]byte, WireIDSize)...)
		b = append(b, 0, 0, 3, n)
		for _, c := range caps {
			b = append(b, c...)
		}
		return b
	}
	move := func(c []byte) []byte { return append(append([]byte{1, EnvMove}, make([]byte, MoveIDSize)...), c...) }
	drop := append([]byte{0}, make([]byte, 24+32+2)...)
	for name, b := range map[string][]byte{
		"hello2 no mailbox":     hello2(0),
		"hello2 three":          hello2(3, capOf(0, testRelay), capOf(1, testRelay), capOf(1, testRelay)),
		"hello2 same slot":      hello2(2, capOf(0, testRelay), capOf(0, testRelay2)),
		"hello2 slot 7":         hello2(1, capOf(7, testRelay)),
		"hello2 empty relay":    hello2(1, capOf(0, "")),
		"hello2 bad relay":      hello2(1, capOf(0, "veil+ws://x")),
		"hello2 trailing":       append(hello2(1, capOf(0, testRelay)), 0),
		"move slot 7":           move(capOf(7, testRelay)),
		"move bad relay":        move(capOf(0, "nope")),
		"move non-canonical":    move(capOf(0, testRelay+"/")),
		"move drop with sid":    move(capOf(0, "")),
		"move trailing":         append(move(drop), 1),
		"moved slot 2":          append(append([]byte{1, EnvMoved}, make([]byte, MoveIDSize)...), 2),
		"moved trailing":        append(append([]byte{1, EnvMoved}, make([]byte, MoveIDSize)...), 0, 0),
		"features short":        {1, EnvFeatures, 0},
		"features trailing":     {1, EnvFeatures, 0, 1, 0},
		"hello2 relay too long": hello2(1, capOf(0, string(make([]byte, 256)))),
	} {
		if _, err := ParseEnvelope(b); !errors.Is(err, errEnvelope) {
			t.Errorf("%s: parsed (%v)", name, err)
		}
	}
	e, err := ParseEnvelope(move(drop))
	if err != nil || !e.Slots[0].Drop() {
		t.Fatalf("drop = %+v, %v", e, err)
	}
	for _, bad := range []*Envelope{
		{Type: EnvHello2},
		{Type: EnvHello2, Slots: []SlotCap{{Slot: 0}}},
		{Type: EnvMove, Slots: []SlotCap{{Slot: 2, Relay: testRelay}}},
		{Type: EnvMove},
		{Type: EnvMoved, Slot: 2},
	} {
		if _, err := bad.Marshal(); err == nil {
			t.Errorf("type %d marshalled out of range", bad.Type)
		}
	}
}

// TestDeliveryID: SHA-256 of the label and the body, first 16 bytes.
func TestDeliveryID(t *testing.T) {
	a, b := DeliveryID([]byte("one")), DeliveryID([]byte("two"))
	if a == b || a != DeliveryID([]byte("one")) {
		t.Fatal("delivery IDs do not tell bodies apart")
	}
}

// TestInviteBlobV2: a blob with a second mailbox is version 2 with the
// feature bits; one without stays version 1 (spec/client.md §3.1).
func TestInviteBlobV2(t *testing.T) {
	b := &InviteBlob{Bundle: make([]byte, ratchet.BundleSize), Nick: "ana", Features: Features}
	v1, err := b.Marshal()
	if err != nil || v1[0] != 1 {
		t.Fatalf("one relay: version %d, %v", v1[0], err)
	}
	b.Extra = []BlobMailbox{{Relay: testRelay2, SID: crypto.ID{5}}}
	v2, err := b.Marshal()
	if err != nil || v2[0] != 2 {
		t.Fatalf("two relays: %v", err)
	}
	got, err := ParseInviteBlob(v2)
	if err != nil || got.Features != Features || len(got.Extra) != 1 || got.Extra[0] != b.Extra[0] || got.Nick != "ana" {
		t.Fatalf("parse = %+v, %v", got, err)
	}
	for n := range len(v2) {
		if _, err := ParseInviteBlob(v2[:n]); err == nil {
			t.Fatalf("truncation to %d accepted", n)
		}
	}
	if _, err := ParseInviteBlob(append(v2, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	v3 := append([]byte{3}, v2[1:]...)
	if _, err := ParseInviteBlob(v3); !errors.Is(err, ErrBlobVersion) {
		t.Fatalf("version 3: %v", err)
	}
	bad := append([]byte(nil), v2...)
	bad[1+ratchet.BundleSize+24] = 2 // two extra mailboxes
	if _, err := ParseInviteBlob(bad); err == nil {
		t.Fatal("two extra mailboxes accepted")
	}
}

// TestSlotCapRedacted: no verb prints a SlotCap's capability or sender ID.
func TestSlotCapRedacted(t *testing.T) {
	s := SlotCap{Slot: 1, SID: crypto.ID{0xab, 0xcd}, Relay: "veil+ws://r.example:1#x"}
	for i := range s.Cap {
		s.Cap[i] = 0xee
	}
	for _, v := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "%d"} {
		for _, x := range []any{s, &s, []SlotCap{s}} {
			out := fmt.Sprintf(v, x)
			if strings.Contains(strings.ToLower(out), "eeee") || strings.Contains(out, "238") || strings.Contains(strings.ToLower(out), "abcd") || strings.Contains(out, "171") {
				t.Errorf("%s printed %s", v, out)
			}
		}
	}
}
