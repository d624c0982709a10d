// Package envvectors builds the envelope test vectors of spec/client.md
// §5.11: one plaintext of every 1:1 envelope type (§5.1) and of every
// group application type (spec/groups.md §6.3), written from the spec's
// byte layouts on their own, without the client's encoder, so the client's
// tests check one implementation against another.
//
// The committed file is spec/vectors/client/envelopes.json. Rebuild it with
//
//	go test ./internal/gen/envvectors -update
//
// and check it, byte for byte, with the same test without -update.
// client/internal/format's TestEnvelopeVectors encodes and decodes every
// entry with the client's code.
package envvectors

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
)

// File is the committed vector file, relative to the repository root.
const File = "spec/vectors/client/envelopes.json"

// Layout values, spec/client.md §5.1 and spec/groups.md §6.3.
const (
	envVersion      = 1
	groupEnvVersion = 2
)

// Vec is one envelope: its fields (hex for bytes, as they are for text)
// and the whole plaintext.
type Vec struct {
	Name     string    `json:"name"`
	Group    bool      `json:"group,omitempty"`
	Type     byte      `json:"type"`
	Conf     string    `json:"conf,omitempty"`
	ID       string    `json:"id,omitempty"`
	TTL      uint32    `json:"ttl,omitempty"`
	Target   string    `json:"target,omitempty"`
	Text     string    `json:"text,omitempty"`
	Reaction string    `json:"reaction,omitempty"`
	Kind     byte      `json:"kind,omitempty"`
	IDs      []string  `json:"ids,omitempty"`
	SID      string    `json:"sid,omitempty"`
	Cap      string    `json:"cap,omitempty"`
	Relay    string    `json:"relay,omitempty"`
	Nick     string    `json:"nick,omitempty"`
	Features uint16    `json:"features,omitempty"`
	Move     string    `json:"move,omitempty"`
	Slot     byte      `json:"slot,omitempty"`
	Slots    []Slot    `json:"slots,omitempty"`
	File     *FileDesc `json:"file,omitempty"`
	// Refused names the kind of error a FILE's descriptor must be refused
	// with (name, type, size, version); the envelope itself still parses.
	Refused   string `json:"refused,omitempty"`
	Plaintext string `json:"plaintext"`
}

// FileDesc is a FILE's descriptor (spec/files.md §4.1).
type FileDesc struct {
	Slot    byte   `json:"slot"`
	Secret  string `json:"secret"`
	Size    int64  `json:"size"`
	Chunks  uint32 `json:"chunks"`
	SHA256  string `json:"sha256"`
	Expires int64  `json:"expires"`
	Type    string `json:"type"`
	Name    string `json:"name"`
}

// descriptor lays out f as spec/files.md §4.1 does.
func descriptor(f *FileDesc, secret, sum []byte) []byte {
	return cat([]byte{1, f.Slot}, secret, binary.BigEndian.AppendUint64(nil, uint64(f.Size)), u32(f.Chunks), sum,
		binary.BigEndian.AppendUint64(nil, uint64(f.Expires)),
		[]byte{byte(len(f.Type))}, []byte(f.Type), []byte{byte(len(f.Name))}, []byte(f.Name))
}

// Slot is one mailbox of a HELLO2 or MOVE (spec/client.md §5.12).
type Slot struct {
	Slot  byte   `json:"slot"`
	SID   string `json:"sid,omitempty"`
	Cap   string `json:"cap,omitempty"`
	Relay string `json:"relay,omitempty"`
}

// Doc is the JSON document of File.
type Doc struct {
	Comment   string `json:"comment"`
	Envelopes []Vec  `json:"envelopes"`
}

func fill(n int, b byte) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b + byte(i)
	}
	return out
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Generate returns the vector file's bytes.
func Generate() ([]byte, error) {
	id := fill(16, 0x10)     // a message's own wire ID: 8 clock bytes, 8 random
	target := fill(16, 0x40) // the message a REPLY, EDIT, DELETE or REACT names
	conf := fill(16, 0xc0)
	h := hex.EncodeToString
	one := func(typ byte, rest ...[]byte) string { return h(cat([]byte{envVersion, typ}, cat(rest...))) }
	grp := func(typ byte, rest ...[]byte) string {
		return h(cat([]byte{groupEnvVersion}, conf, []byte{typ}, cat(rest...)))
	}
	relay := "veil+ws://127.0.0.1:4000#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	sid, cp := fill(24, 0x80), fill(32, 0xa0)
	react := "👍🏽"
	text := "see you at 8 \u202e"
	relay2 := "veil://relay.example:443#AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"
	sid2, cp2 := fill(24, 0x30), fill(32, 0x60)
	move := fill(8, 0xe0)
	mailbox := func(slot byte, sid, cp []byte, relay string) []byte {
		return cat([]byte{slot}, sid, cp, u16(uint16(len(relay))), []byte(relay))
	}
	secret, sum := fill(32, 0x50), fill(32, 0x90)
	// 1,000,000 bytes are ⌈1e6/15,984⌉ = 63 chunks, Padmé-rounded to 64.
	report := &FileDesc{Slot: 1, Secret: h(secret), Size: 1000000, Chunks: 64, SHA256: h(sum), Expires: 1767225600,
		Type: "application/pdf", Name: "report 2026 é.pdf"}
	photo := &FileDesc{Slot: 0, Secret: h(secret), Size: 0, Chunks: 1, SHA256: h(sum), Expires: 1767225600,
		Type: "image/png", Name: "photo.png"}
	escape := &FileDesc{Slot: 0, Secret: h(secret), Size: 5, Chunks: 1, SHA256: h(sum), Expires: 1767225600,
		Type: "text/plain", Name: "../../.ssh/authorized_keys"}
	vs := []Vec{
		{Name: "text", Type: 0x01, ID: h(id), TTL: 86400, Text: text, Plaintext: one(0x01, id, u32(86400), []byte(text))},
		{Name: "edit", Type: 0x02, ID: h(target), Text: "fixed", Plaintext: one(0x02, target, []byte("fixed"))},
		{Name: "delete", Type: 0x03, ID: h(target), Plaintext: one(0x03, target)},
		{Name: "receipt", Type: 0x04, Kind: 2, IDs: []string{h(target), h(id)}, Plaintext: one(0x04, []byte{2, 2}, target, id)},
		{Name: "burn", Type: 0x05, Plaintext: one(0x05)},
		{Name: "hello", Type: 0x06, ID: h(id), SID: h(sid), Cap: h(cp), Relay: relay, Nick: "ana",
			Plaintext: one(0x06, id, sid, cp, []byte{byte(len(relay))}, []byte(relay), []byte{3}, []byte("ana"))},
		{Name: "reply", Type: 0x07, ID: h(id), TTL: 3600, Target: h(target), Text: "yes",
			Plaintext: one(0x07, id, u32(3600), target, []byte("yes"))},
		{Name: "reply, empty text", Type: 0x07, ID: h(id), Target: h(target), Plaintext: one(0x07, id, u32(0), target)},
		{Name: "react", Type: 0x08, ID: h(target), Reaction: react, Plaintext: one(0x08, target, []byte(react))},
		{Name: "react, taken back", Type: 0x08, ID: h(target), Plaintext: one(0x08, target)},
		{Name: "timer", Type: 0x09, ID: h(id), TTL: 86400, Plaintext: one(0x09, id, u32(86400))},
		{Name: "timer off", Type: 0x09, ID: h(id), Plaintext: one(0x09, id, u32(0))},
		{Name: "timer, 365 days", Type: 0x09, ID: h(id), TTL: 31536000, Plaintext: one(0x09, id, u32(31536000))},
		{Name: "session restarted", Type: 0x10, Kind: 1, Plaintext: one(0x10, []byte{1})},
		{Name: "session outdated", Type: 0x10, Kind: 2, Plaintext: one(0x10, []byte{2})},
		{Name: "hello2, two relays", Type: 0x11, ID: h(id), Nick: "ana", Features: 3,
			Slots:     []Slot{{0, h(sid), h(cp), relay}, {1, h(sid2), h(cp2), relay2}},
			Plaintext: one(0x11, id, []byte{3}, []byte("ana"), u16(3), []byte{2}, mailbox(0, sid, cp, relay), mailbox(1, sid2, cp2, relay2))},
		{Name: "hello2, one relay", Type: 0x11, ID: h(id), Features: 1, Slots: []Slot{{0, h(sid), h(cp), relay}},
			Plaintext: one(0x11, id, []byte{0}, u16(1), []byte{1}, mailbox(0, sid, cp, relay))},
		{Name: "features", Type: 0x12, Features: 3, Plaintext: one(0x12, u16(3))},
		{Name: "move", Type: 0x13, Move: h(move), Slots: []Slot{{1, h(sid2), h(cp2), relay2}},
			Plaintext: one(0x13, move, mailbox(1, sid2, cp2, relay2))},
		{Name: "move, drop the slot", Type: 0x13, Move: h(move), Slots: []Slot{{Slot: 1}},
			Plaintext: one(0x13, move, []byte{1}, make([]byte, 24+32), u16(0))},
		{Name: "moved", Type: 0x14, Move: h(move), Slot: 1, Plaintext: one(0x14, move, []byte{1})},
		{Name: "file", Type: 0x0a, ID: h(id), TTL: 3600, File: report,
			Plaintext: one(0x0a, id, u32(3600), descriptor(report, secret, sum))},
		{Name: "file, empty", Type: 0x0a, ID: h(id), File: photo,
			Plaintext: one(0x0a, id, u32(0), descriptor(photo, secret, sum))},
		{Name: "file, refused: a path in its name", Type: 0x0a, ID: h(id), File: escape, Refused: "name",
			Plaintext: one(0x0a, id, u32(0), descriptor(escape, secret, sum))},
		{Name: "group text", Group: true, Type: 0x01, Conf: h(conf), ID: h(id), TTL: 60, Text: "hi all",
			Plaintext: grp(0x01, id, u32(60), []byte("hi all"))},
		{Name: "group leave", Group: true, Type: 0x02, Conf: h(conf), Plaintext: grp(0x02)},
		{Name: "group burn", Group: true, Type: 0x03, Conf: h(conf), Plaintext: grp(0x03)},
		{Name: "group reply", Group: true, Type: 0x05, Conf: h(conf), ID: h(id), TTL: 60, Target: h(target), Text: "agreed",
			Plaintext: grp(0x05, id, u32(60), target, []byte("agreed"))},
		{Name: "group react", Group: true, Type: 0x06, Conf: h(conf), ID: h(target), Reaction: react,
			Plaintext: grp(0x06, target, []byte(react))},
		{Name: "group file", Group: true, Type: 0x07, Conf: h(conf), ID: h(id), TTL: 60, File: report,
			Plaintext: grp(0x07, id, u32(60), descriptor(report, secret, sum))},
		{Name: "group react, taken back", Group: true, Type: 0x06, Conf: h(conf), ID: h(target), Plaintext: grp(0x06, target)},
	}
	doc := Doc{
		Comment:   "veil envelope plaintexts, spec/client.md §5 and spec/groups.md §6.3; built by internal/gen/envvectors from the byte layouts; fields in hex except text, reaction, relay and nick",
		Envelopes: vs,
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
