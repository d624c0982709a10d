package format

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"veil/crypto"
)

// TestEnvelopeVectors encodes every envelope of
// spec/vectors/client/envelopes.json (spec/client.md §5.11) with this
// package's encoder and compares it byte for byte, then decodes it back.
func TestEnvelopeVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "spec", "vectors", "client", "envelopes.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Envelopes []struct {
			Name     string   `json:"name"`
			Group    bool     `json:"group"`
			Type     byte     `json:"type"`
			Conf     string   `json:"conf"`
			ID       string   `json:"id"`
			TTL      uint32   `json:"ttl"`
			Target   string   `json:"target"`
			Text     string   `json:"text"`
			Reaction string   `json:"reaction"`
			Kind     byte     `json:"kind"`
			IDs      []string `json:"ids"`
			SID      string   `json:"sid"`
			Cap      string   `json:"cap"`
			Relay    string   `json:"relay"`
			Nick     string   `json:"nick"`
			Features uint16   `json:"features"`
			Move     string   `json:"move"`
			Slot     byte     `json:"slot"`
			Slots    []struct {
				Slot  byte   `json:"slot"`
				SID   string `json:"sid"`
				Cap   string `json:"cap"`
				Relay string `json:"relay"`
			} `json:"slots"`
			File *struct {
				Slot    byte   `json:"slot"`
				Secret  string `json:"secret"`
				Size    int64  `json:"size"`
				Chunks  uint32 `json:"chunks"`
				SHA256  string `json:"sha256"`
				Expires int64  `json:"expires"`
				Type    string `json:"type"`
				Name    string `json:"name"`
			} `json:"file"`
			Refused   string `json:"refused"`
			Plaintext string `json:"plaintext"`
		} `json:"envelopes"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Envelopes) == 0 {
		t.Fatal("no vectors")
	}
	unhex := func(t *testing.T, s string, n int) []byte {
		t.Helper()
		b, err := hex.DecodeString(s)
		if err != nil || (s != "" && len(b) != n) {
			t.Fatalf("bad hex %q", s)
		}
		if s == "" {
			return make([]byte, n)
		}
		return b
	}
	refusals := map[string]error{"name": ErrFileName, "type": ErrFileType, "size": ErrFileSize, "version": ErrFileVersion}
	for _, v := range doc.Envelopes {
		t.Run(v.Name, func(t *testing.T) {
			want := unhex(t, v.Plaintext, len(v.Plaintext)/2)
			var file *FileDescriptor
			if v.File != nil {
				file = &FileDescriptor{Slot: v.File.Slot, Size: v.File.Size, Chunks: v.File.Chunks, Expires: v.File.Expires, Type: v.File.Type, Name: v.File.Name}
				copy(file.Secret[:], unhex(t, v.File.Secret, crypto.KeySize))
				copy(file.SHA256[:], unhex(t, v.File.SHA256, crypto.HashSize))
			}
			if v.Refused != "" {
				checkRefusedFile(t, want, v.Group, refusals[v.Refused])
				return
			}
			if v.Group {
				g := &GroupEnvelope{Type: v.Type, TTL: v.TTL, Text: v.Text, Reaction: v.Reaction, File: file}
				copy(g.Conf[:], unhex(t, v.Conf, ConfTagSize))
				copy(g.ID[:], unhex(t, v.ID, WireIDSize))
				copy(g.Target[:], unhex(t, v.Target, WireIDSize))
				got, err := g.Marshal()
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("marshal = %x, %v; want %x", got, err, want)
				}
				back, err := ParseGroupEnvelope(want)
				if err != nil || back.Type != g.Type || back.ID != g.ID || back.Target != g.Target || back.Text != g.Text || back.Reaction != g.Reaction || back.TTL != g.TTL {
					t.Fatalf("parse = %+v, %v", back, err)
				}
				if (file != nil) != (back.File != nil) || file != nil && *back.File != *file {
					t.Fatalf("parsed descriptor %+v", back.File)
				}
				return
			}
			e := &Envelope{Type: v.Type, TTL: v.TTL, Text: v.Text, Reaction: v.Reaction, Kind: v.Kind, Relay: v.Relay, Nick: v.Nick, File: file}
			copy(e.ID[:], unhex(t, v.ID, WireIDSize))
			copy(e.Target[:], unhex(t, v.Target, WireIDSize))
			copy(e.SID[:], unhex(t, v.SID, crypto.IDSize))
			copy(e.Cap[:], unhex(t, v.Cap, len(e.Cap)))
			e.Features, e.Slot = v.Features, v.Slot
			copy(e.Move[:], unhex(t, v.Move, MoveIDSize))
			for _, s := range v.Slots {
				sc := SlotCap{Slot: s.Slot, Relay: s.Relay}
				copy(sc.SID[:], unhex(t, s.SID, len(sc.SID)))
				copy(sc.Cap[:], unhex(t, s.Cap, len(sc.Cap)))
				e.Slots = append(e.Slots, sc)
			}
			for _, id := range v.IDs {
				e.IDs = append(e.IDs, WireID(unhex(t, id, WireIDSize)))
			}
			got, err := e.Marshal()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("marshal = %x, %v; want %x", got, err, want)
			}
			back, err := ParseEnvelope(want)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := back.Marshal()
			if !bytes.Equal(again, want) || back.Target != e.Target || back.Reaction != e.Reaction || back.TTL != e.TTL {
				t.Fatalf("parse = %+v", back)
			}
			if (file != nil) != (back.File != nil) || file != nil && *back.File != *file {
				t.Fatalf("parsed descriptor %+v", back.File)
			}
		})
	}
}

// checkRefusedFile: a FILE whose descriptor is refused still parses, with
// no descriptor, the refusal's kind, and its bytes for a round trip.
func checkRefusedFile(t *testing.T, b []byte, group bool, kind error) {
	t.Helper()
	var (
		file *FileDescriptor
		err  error
		out  []byte
	)
	if group {
		g, perr := ParseGroupEnvelope(b)
		if perr != nil {
			t.Fatal(perr)
		}
		file, err = g.File, g.FileErr
		out, _ = g.Marshal()
	} else {
		e, perr := ParseEnvelope(b)
		if perr != nil {
			t.Fatal(perr)
		}
		file, err = e.File, e.FileErr
		out, _ = e.Marshal()
	}
	if file != nil || kind == nil || !errors.Is(err, kind) {
		t.Fatalf("descriptor %+v, error %v; want refused with %v", file, err, kind)
	}
	if !bytes.Equal(out, b) {
		t.Fatal("refused file does not marshal back")
	}
}

// TestGroupEnvelopeConversation: the group REPLY and REACT decoder rules
// of spec/groups.md §6.3.
func TestGroupEnvelopeConversation(t *testing.T) {
	for _, g := range []*GroupEnvelope{
		{Type: GenvReply, ID: WireID{1}, Target: WireID{2}, Text: string(bytes.Repeat([]byte{'a'}, MaxGroupReplyText))},
		{Type: GenvReact, ID: WireID{2}, Reaction: "🇫🇷"},
	} {
		b, err := g.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseGroupEnvelope(b); err != nil {
			t.Fatal(err)
		}
		for n := range groupEnvHdr + WireIDSize {
			if _, err := ParseGroupEnvelope(b[:n]); err == nil {
				t.Fatalf("type %d: truncation to %d accepted", g.Type, n)
			}
		}
	}
	long := &GroupEnvelope{Type: GenvReply, Text: string(bytes.Repeat([]byte{'a'}, MaxGroupReplyText+1))}
	if _, err := long.Marshal(); err == nil {
		t.Error("group reply over MaxGroupReplyText marshalled")
	}
	hdr := func(typ byte, n int) []byte {
		return append(append(append([]byte{groupEnvVersion}, make([]byte, ConfTagSize)...), typ), make([]byte, n)...)
	}
	for name, b := range map[string][]byte{
		"reply over the limit": append(hdr(GenvReply, WireIDSize+4+WireIDSize), bytes.Repeat([]byte{'a'}, MaxGroupReplyText+1)...),
		"reaction of 33":       append(hdr(GenvReact, WireIDSize), bytes.Repeat([]byte{'a'}, MaxReaction+1)...),
		"reaction not UTF-8":   append(hdr(GenvReact, WireIDSize), 0xc3),
		"reply without target": hdr(GenvReply, WireIDSize+4+3),
	} {
		if _, err := ParseGroupEnvelope(b); !errors.Is(err, errEnvelope) {
			t.Errorf("%s: parsed (%v)", name, err)
		}
	}
}
